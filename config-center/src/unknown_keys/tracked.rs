//! The wrapping deserializer: values, arrays, tables and enums, each handing on the path and
//! noting the keys whose values the type skips.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::key::CaptureKey;
use super::report::{Step, UnknownKey};

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

pub(super) type Found = RefCell<Vec<UnknownKey>>;

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

    fn on_str(self, _: &str) -> V {
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
