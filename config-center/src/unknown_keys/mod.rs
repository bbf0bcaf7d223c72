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
//!
//! `report.rs` holds what is reported, `tracked.rs` the wrapping deserializer, `key.rs` how a
//! key is read as text on its way to the type.

/// Deserializer methods that hand the inner deserializer the visitor wrapped by `self.wrap`.
macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            let (de, visitor) = self.wrap(visitor);
            de.$method($($arg,)* visitor)
        }
    )*};
}

/// Visitor methods for values that print: `self.on(&v)` sees the value and gives the visitor
/// (text goes to `self.on_str(v)`, which copies it as it is: keys are text, and no key needs to
/// go through `Display`'s formatting machinery).
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
            visit_u128: u128, visit_f32: f32, visit_f64: f64, visit_char: char
        );

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            self.on_str(v).visit_str(v)
        }

        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            self.on_str(v).visit_borrowed_str(v)
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            self.on_str(&v).visit_string(v)
        }

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

mod key;
mod report;
mod tracked;

pub(crate) use self::report::{Step, UnknownKey};
pub(crate) use self::tracked::deserialize;

#[cfg(test)]
mod tests;
