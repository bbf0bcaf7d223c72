//! Handing a plain document's tree to a type, as toml's deserializer hands the same document.
//!
//! Each method makes the visitor call toml's makes for the same value (a string as
//! `visit_str`, an integer as `visit_i64`, an array as a sequence, a table as a map in toml's
//! key order, a key as a `Cow` string, an enum from a string through a `Cow` string). Where
//! toml does something this tree cannot (an enum written as a table), where the answer would
//! need what the full path knows (a skipped value, which may be an unknown key) and on any
//! error (its message needs positions), it fails with [`NotPlain`] and the caller takes the
//! full path. A `Spanned` or `Datetime` field fails too: their visitors take only toml's
//! private maps.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::parse::{Table, Value};

/// A `T` from a plain document's tree; `None`: the full path must answer.
pub(crate) fn deserialize<'a, T: Deserialize<'a>>(root: Table<'a>) -> Option<T> {
    T::deserialize(ValueDe(Value::Table(root))).ok()
}

/// Why the plain path gave up (never shown: the full path answers instead).
#[derive(Debug)]
pub(crate) struct NotPlain;

impl fmt::Display for NotPlain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a plain document")
    }
}

impl std::error::Error for NotPlain {}

impl de::Error for NotPlain {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotPlain
    }
}

/// One value (the root is its table).
struct ValueDe<'a>(Value<'a>);

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = NotPlain;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NotPlain> {
        match self.0 {
            Value::Str(s) => visitor.visit_str(s),
            Value::Int(n) => visitor.visit_i64(n),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Array(items) => visitor.visit_seq(Items(items.into_iter())),
            Value::Table(t) => visitor.visit_map(Entries { iter: t.entries.into_iter(), value: None }),
        }
    }

    // A value that is there is `Some` (a missing key is the `None`).
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NotPlain> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, NotPlain> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NotPlain> {
        match self.0 {
            Value::Str(s) => visitor.visit_enum(Cow::Borrowed(s).into_deserializer()),
            _ => Err(NotPlain),
        }
    }

    /// A value the type does not read: the full path decides whether its key is unknown.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, NotPlain> {
        Err(NotPlain)
    }

    serde::forward_to_deserialize_any! {
        bool u8 u16 u32 u64 u128 i8 i16 i32 i64 i128 f32 f64 char str string seq
        bytes byte_buf map unit unit_struct tuple_struct tuple identifier struct
    }
}

/// An array's items.
struct Items<'a>(std::vec::IntoIter<Value<'a>>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = NotPlain;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, NotPlain> {
        self.0.next().map(|item| seed.deserialize(ValueDe(item))).transpose()
    }
}

/// A table's entries, in toml's key order.
struct Entries<'a> {
    iter: std::vec::IntoIter<(&'a str, Value<'a>)>,
    value: Option<Value<'a>>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = NotPlain;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, NotPlain> {
        let Some((key, value)) = self.iter.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(Cow::Borrowed(key).into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, NotPlain> {
        seed.deserialize(ValueDe(self.value.take().ok_or(NotPlain)?))
    }
}
