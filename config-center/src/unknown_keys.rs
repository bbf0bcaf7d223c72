//! Unknown keys: the keys of a document that the type does not read (`mesage = "typo"` next to
//! `message`), found without `#[serde(deny_unknown_fields)]` on the type.
//!
//! [`deserialize`] wraps the deserializer (the way the `serde_ignored` crate does) and notes a
//! key when the type's visitor skips its value (serde's derive reads the value of a key it does
//! not know as `IgnoredAny`) and the key is not one of the struct's fields. With it comes the
//! list of fields the struct expects, so that the message is the one `deny_unknown_fields` gives
//! ("unknown field `mesage`, expected `message` or `level`"). Nested tables, arrays of tables,
//! options, newtypes and enum variants are looked into; maps (`HashMap<String, _>`) read every
//! key. What a type reads through serde's buffering (`#[serde(flatten)]`, untagged and
//! internally tagged enums) is not looked into: keys there are never reported.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

/// One step from the top of the document to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A table's key (or an enum's variant).
    Key(String),
    /// An array's element.
    Index(usize),
}

/// A key the type did not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownKey {
    /// From the top of the document to the key; the last step is the key.
    pub(crate) path: Vec<Step>,
    /// The fields of the struct that holds it (`None`: not a struct).
    pub(crate) expected: Option<&'static [&'static str]>,
}

impl UnknownKey {
    /// The key's dotted path (`pool.mesage`, `servers[1].hots`).
    pub(crate) fn dotted(&self) -> String {
        dotted(&self.path)
    }

    /// serde's words for it, and the table it is in when that is not the top:
    /// "unknown field `mesage`, expected `min` or `max` (in `pool`)".
    pub(crate) fn message(&self) -> String {
        let key = match self.path.last() {
            Some(Step::Key(key)) => key.clone(),
            Some(Step::Index(i)) => i.to_string(),
            None => String::new(),
        };
        let words = match self.expected {
            Some(fields) => <Words as de::Error>::unknown_field(&key, fields).0,
            None => format!("unknown field `{key}`"),
        };
        match self.path.split_last() {
            Some((_, table)) if !table.is_empty() => format!("{words} (in `{}`)", dotted(table)),
            _ => words,
        }
    }
}

fn dotted(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(key) if out.is_empty() => out.push_str(key),
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// serde's own wording of an error, to borrow `unknown_field`'s.
#[derive(Debug)]
struct Words(String);

impl fmt::Display for Words {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Words {}

impl de::Error for Words {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Words(message.to_string())
    }
}

/// A `T` from `de`, and the keys it did not read, in the order it met them.
pub(crate) fn deserialize<'de, T, D>(de: D) -> Result<(T, Vec<UnknownKey>), D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let found = RefCell::new(Vec::new());
    let value = T::deserialize(Tracked { de, path: &Path::Root, found: &found, unknown: None })?;
    Ok((value, found.into_inner()))
}

type Found = RefCell<Vec<UnknownKey>>;

/// Where a value is, as a chain of borrowed steps (nothing allocated unless a key is reported).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut at = self;
        loop {
            match at {
                Path::Root => break,
                Path::Key(parent, key) => {
                    steps.push(Step::Key((*key).to_owned()));
                    at = parent;
                }
                Path::Index(parent, i) => {
                    steps.push(Step::Index(*i));
                    at = parent;
                }
            }
        }
        steps.reverse();
        steps
    }
}

/// The value of a key that is not one of the struct's fields (`fields`: `None` outside a
/// struct): skipping it makes the key unknown.
#[derive(Clone, Copy)]
struct NotAField {
    fields: Option<&'static [&'static str]>,
}

/// Deserializer methods that hand the inner deserializer the visitor wrapped by `self.wrap`.
macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            let (de, visitor) = self.wrap(visitor);
            de.$method($($arg,)* visitor)
        }
    )*};
}

/// Visitor methods for values that print: `self.on(&v)` sees the value and gives the visitor.
macro_rules! forward_visit {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.on(&v).$method(v)
        }
    )*};
}

macro_rules! forward_visit_all {
    () => {
        forward_visit!(
            visit_bool: bool, visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64,
            visit_i128: i128, visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64,
            visit_u128: u128, visit_f32: f32, visit_f64: f64, visit_char: char, visit_str: &str,
            visit_borrowed_str: &'de str, visit_string: String
        );

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            self.on(&"").visit_bytes(v)
        }

        fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
            self.on(&"").visit_borrowed_bytes(v)
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
            self.on(&"").visit_byte_buf(v)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.on(&"").visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.on(&"").visit_unit()
        }
    };
}

// === Values ===

/// A deserializer that notes the keys its type skips.
struct Tracked<'a, D> {
    de: D,
    path: &'a Path<'a>,
    found: &'a Found,
    unknown: Option<NotAField>,
}

impl<'a, D> Tracked<'a, D> {
    fn wrap<V>(self, visitor: V) -> (D, Wrap<'a, V>) {
        (self.de, Wrap { visitor, path: self.path, found: self.found, fields: None })
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Tracked<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any() deserialize_bool() deserialize_i8() deserialize_i16() deserialize_i32()
        deserialize_i64() deserialize_i128() deserialize_u8() deserialize_u16() deserialize_u32()
        deserialize_u64() deserialize_u128() deserialize_f32() deserialize_f64() deserialize_char()
        deserialize_str() deserialize_string() deserialize_bytes() deserialize_byte_buf()
        deserialize_option() deserialize_unit() deserialize_seq() deserialize_map()
        deserialize_identifier()
        deserialize_unit_struct(name: &'static str)
        deserialize_newtype_struct(name: &'static str)
        deserialize_tuple(len: usize)
        deserialize_tuple_struct(name: &'static str, len: usize)
        deserialize_enum(name: &'static str, variants: &'static [&'static str])
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = Wrap { visitor, path: self.path, found: self.found, fields: Some(fields) };
        self.de.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if let Some(NotAField { fields }) = self.unknown {
            self.found.borrow_mut().push(UnknownKey { path: self.path.steps(), expected: fields });
        }
        self.de.deserialize_ignored_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// A seed whose deserializer is tracked.
struct TrackedSeed<'a, S> {
    seed: S,
    path: &'a Path<'a>,
    found: &'a Found,
    unknown: Option<NotAField>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for TrackedSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Tracked { de, path: self.path, found: self.found, unknown: self.unknown })
    }
}

/// A visitor whose tables, arrays, options and enums are tracked; `fields` when it visits a
/// struct.
struct Wrap<'a, V> {
    visitor: V,
    path: &'a Path<'a>,
    found: &'a Found,
    fields: Option<&'static [&'static str]>,
}

impl<V> Wrap<'_, V> {
    fn on(self, _: &dyn fmt::Display) -> V {
        self.visitor
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visit_all!();

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_some(Tracked { de, path: self.path, found: self.found, unknown: None })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_newtype_struct(Tracked { de, path: self.path, found: self.found, unknown: None })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_seq(Seq { seq, path: self.path, found: self.found, index: 0 })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let map = Map { map, path: self.path, found: self.found, fields: self.fields, key: None };
        self.visitor.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_enum(Enum { data, path: self.path, found: self.found })
    }
}

// === Arrays, tables, enums ===

struct Seq<'a, A> {
    seq: A,
    path: &'a Path<'a>,
    found: &'a Found,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        let path = Path::Index(self.path, self.index);
        self.index += 1;
        self.seq.next_element_seed(TrackedSeed { seed, path: &path, found: self.found, unknown: None })
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct Map<'a, A> {
    map: A,
    path: &'a Path<'a>,
    found: &'a Found,
    fields: Option<&'static [&'static str]>,
    /// The key whose value comes next.
    key: Option<String>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.key = None;
        self.map.next_key_seed(CaptureKey { seed, key: &mut self.key })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let key = self.key.take().unwrap_or_default();
        let unknown = match self.fields {
            Some(fields) if fields.contains(&key.as_str()) => None,
            fields => Some(NotAField { fields }),
        };
        let path = Path::Key(self.path, &key);
        self.map.next_value_seed(TrackedSeed { seed, path: &path, found: self.found, unknown })
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

struct Enum<'a, A> {
    data: A,
    path: &'a Path<'a>,
    found: &'a Found,
}

impl<'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Enum<'a, A> {
    type Error = A::Error;
    type Variant = Variant<'a, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let mut name = None;
        let (value, variant) = self.data.variant_seed(CaptureKey { seed, key: &mut name })?;
        let name = name.unwrap_or_default();
        Ok((value, Variant { variant, path: self.path, found: self.found, name }))
    }
}

struct Variant<'a, A> {
    variant: A,
    path: &'a Path<'a>,
    found: &'a Found,
    name: String,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.variant.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        let Variant { variant, path, found, name } = self;
        let path = Path::Key(path, &name);
        variant.newtype_variant_seed(TrackedSeed { seed, path: &path, found, unknown: None })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let Variant { variant, path, found, name } = self;
        let path = Path::Key(path, &name);
        variant.tuple_variant(len, Wrap { visitor, path: &path, found, fields: None })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let Variant { variant, path, found, name } = self;
        let path = Path::Key(path, &name);
        variant.struct_variant(fields, Wrap { visitor, path: &path, found, fields: Some(fields) })
    }
}

// === Keys ===

/// A seed that also keeps the key (or variant name) it reads, as text.
struct CaptureKey<'k, S> {
    seed: S,
    key: &'k mut Option<String>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for CaptureKey<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(KeyDeserializer { de, key: self.key })
    }
}

struct KeyDeserializer<'k, D> {
    de: D,
    key: &'k mut Option<String>,
}

impl<'k, D> KeyDeserializer<'k, D> {
    fn wrap<V>(self, visitor: V) -> (D, KeyVisitor<'k, V>) {
        (self.de, KeyVisitor { visitor, key: self.key })
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDeserializer<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any() deserialize_bool() deserialize_i8() deserialize_i16() deserialize_i32()
        deserialize_i64() deserialize_i128() deserialize_u8() deserialize_u16() deserialize_u32()
        deserialize_u64() deserialize_u128() deserialize_f32() deserialize_f64() deserialize_char()
        deserialize_str() deserialize_string() deserialize_bytes() deserialize_byte_buf()
        deserialize_option() deserialize_unit() deserialize_seq() deserialize_map()
        deserialize_identifier() deserialize_ignored_any()
        deserialize_unit_struct(name: &'static str)
        deserialize_newtype_struct(name: &'static str)
        deserialize_tuple(len: usize)
        deserialize_tuple_struct(name: &'static str, len: usize)
        deserialize_struct(name: &'static str, fields: &'static [&'static str])
        deserialize_enum(name: &'static str, variants: &'static [&'static str])
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

struct KeyVisitor<'k, V> {
    visitor: V,
    key: &'k mut Option<String>,
}

impl<V> KeyVisitor<'_, V> {
    fn on(self, key: &dyn fmt::Display) -> V {
        *self.key = Some(key.to_string());
        self.visitor
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visit_all!();

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_some(de)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_newtype_struct(de)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_enum(data)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct App {
        message: String,
        #[serde(default)]
        level: u32,
        #[serde(default)]
        pool: Option<Pool>,
        #[serde(default)]
        servers: Vec<Server>,
        #[serde(default)]
        labels: HashMap<String, String>,
        #[serde(default, alias = "colour")]
        color: Option<String>,
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        ignored: Option<serde::de::IgnoredAny>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Pool {
        min: u32,
        max: u32,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Server {
        host: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Mode {
        Fast,
        Careful { retries: u32 },
    }

    fn unknown<T: for<'de> Deserialize<'de>>(text: &str) -> Vec<String> {
        let (_, found): (T, _) =
            deserialize(toml::de::Deserializer::parse(text).expect("TOML")).expect("deserializes");
        found.iter().map(|k| format!("{} | {}", k.dotted(), k.message())).collect::<Vec<_>>()
    }

    #[test]
    fn a_typo_at_the_top_is_reported_with_the_expected_names() {
        assert_eq!(
            unknown::<App>("message = \"hi\"\nmesage = \"typo\"\n"),
            ["mesage | unknown field `mesage`, expected one of `message`, `level`, `pool`, `servers`, `labels`, `color`, `colour`, `mode`, `ignored`"]
        );
        assert!(unknown::<App>("message = \"hi\"\nlevel = 2\n").is_empty());
    }

    #[test]
    fn keys_in_nested_tables_and_arrays_are_reported_with_their_table() {
        // (toml refuses unknown keys inside enum variants by itself.)
        let text = "message = \"m\"\n\
                    [pool]\nmin = 1\nmax = 2\nmxa = 3\n\
                    [[servers]]\nhost = \"a\"\n\
                    [[servers]]\nhots = \"b\"\nhost = \"b\"\n\
                    [mode.Careful]\nretries = 1\n";
        assert_eq!(
            unknown::<App>(text),
            [
                "pool.mxa | unknown field `mxa`, expected `min` or `max` (in `pool`)",
                "servers[1].hots | unknown field `hots`, expected `host` (in `servers[1]`)",
            ]
        );
    }

    #[test]
    fn maps_aliases_and_ignored_any_fields_take_their_keys() {
        let text = "message = \"m\"\ncolour = \"red\"\nignored = { any = 1 }\nmode = \"Fast\"\n\
                    [labels]\nanything = \"goes\"\n";
        assert!(unknown::<App>(text).is_empty());
    }

    #[test]
    fn flattened_parts_are_not_looked_into() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            name: String,
            #[serde(flatten)]
            inner: Pool,
        }
        assert!(unknown::<Outer>("name = \"n\"\nmin = 1\nmax = 2\nother = 3\n").is_empty());
    }
}
