//! Provider and consumer URLs: the wire format shared with every other zkmesh (and Dubbo) client.
//!
//! A [`ServiceUrl`] names one endpoint of one service together with its parameters. It is written
//! to ZooKeeper as the *name* of a znode (see [`ServiceUrl::to_node_name`]), so clients in other
//! languages read exactly what this module prints. The contract below is that wire format.
//!
//! # Textual form
//!
//! ```text
//! scheme://host:port/service?key=value&key2=value2
//! ```
//!
//! * **scheme**: `[A-Za-z][A-Za-z0-9+.-]*`, accepted in any case and stored (and printed) in
//!   lowercase.
//! * **host**: one of
//!   * an IPv4 dotted quad (`10.0.0.5`), exactly as [`std::net::Ipv4Addr`] accepts it (no
//!     leading zeros). A host made only of digits and dots must be a valid IPv4 address;
//!   * an IPv6 address in brackets (`[::1]`), validated with [`std::net::Ipv6Addr`]. It is stored
//!     without the brackets and *as written*: the address is not reformatted or lowercased, so
//!     `[::1]` and `[0::1]` are different URLs. It is printed back in brackets;
//!   * a hostname: dot-separated RFC 1123 labels of `[A-Za-z0-9-]`, each 1 to 63 characters, not
//!     starting or ending with `-`, at most 253 characters in all, no trailing dot. Stored and
//!     printed in lowercase.
//! * **port**: required, decimal, `1..=65535`. Port 0 is refused. The one exception is the
//!   `consumer` scheme (Dubbo's consumer URLs, `consumer://10.0.0.7/greeter?...`), where the port
//!   may be left out; [`ServiceUrl::port`] is then 0 and the URL prints without one.
//! * **path**: exactly one segment, the service name, which must pass [`validate_service_name`]
//!   (`[A-Za-z0-9._-]`, 1 to 255 characters, not `.` or `..`). It is never percent-decoded.
//! * **query** (optional): `&`-separated `key=value` pairs.
//!   * Keys and values are percent-decoded when parsing (`%XX`, either case; a malformed escape
//!     or a result that is not UTF-8 is an error). `+` is a literal plus sign in a URL, *not* a
//!     space.
//!   * A key must not be empty and must not repeat. A value may be empty (`key=`); `key` without
//!     `=` also means the empty value. Only the first `=` separates key from value. Empty pairs
//!     (`a=1&&b=2`, a trailing `&`, a bare `?`) are ignored.
//!   * Raw spaces and raw non-ASCII characters are accepted in the query (Dubbo does not encode
//!     its parameters), but the canonical form always encodes them.
//! * No userinfo (`user@host`), no fragment (`#...`), and no raw ASCII control characters
//!   anywhere.
//! * The whole URL, both as given and in canonical form, is at most [`MAX_URL_LEN`] (4096) bytes.
//!
//! # Well-known parameters
//!
//! These are validated whenever they are set (by [`ServiceUrl::parse`] or
//! [`ServiceUrl::with_param`]); all are plain decimal digits, without sign or spaces:
//!
//! | key         | meaning                                   | range                       |
//! |-------------|-------------------------------------------|-----------------------------|
//! | `weight`    | load-balancing weight, default 100        | `0..=1_000_000`             |
//! | `warmup`    | warm-up period in whole seconds           | `0..=604_800` (seven days)  |
//! | `timestamp` | registration time, ms since the Unix epoch| any `u64`                   |
//!
//! `version`, `group` and `zone` are free-form; their accessors treat an empty value as unset.
//!
//! # Canonical form
//!
//! [`Display`](std::fmt::Display) prints `scheme://host:port/service`, then, if there is at
//! least one parameter, `?` and the parameters sorted by key (byte order), each as `key=value`
//! (always with `=`), joined by `&`. Keys and values are percent-encoded with uppercase hex:
//! every byte that is an ASCII control character, non-ASCII, or one of
//! `` space " # % & + < = > [ \ ] ^ ` { | } `` becomes `%XX`; everything else is printed as is.
//! Parsing the canonical form gives back an equal [`ServiceUrl`].
//!
//! # Node names
//!
//! The znode name of a URL is its canonical form encoded like Java's
//! `URLEncoder.encode(url, "UTF-8")`, which is what Dubbo writes: every byte except
//! `A-Z a-z 0-9 . - * _` becomes `%XX` with uppercase hex. A node name therefore never contains
//! `/`. For example
//!
//! ```text
//! http://10.0.0.5:8080/greeter?version=1.2&weight=100
//! http%3A%2F%2F10.0.0.5%3A8080%2Fgreeter%3Fversion%3D1.2%26weight%3D100
//! ```
//!
//! Decoding ([`ServiceUrl::from_node_name`]) works like Java's `URLDecoder`: `%XX` in either
//! case, and `+` as a space; then the result is parsed as above. A node name is at most
//! 3 × [`MAX_URL_LEN`] bytes.
//!
//! # Errors
//!
//! Parsing errors are [`Error::InvalidUrl`] carrying the input as given (the URL, or the node
//! name for [`ServiceUrl::from_node_name`]) and a short reason. A bad service name passed to
//! [`validate_service_name`] or [`ServiceUrl::new`] is [`Error::InvalidServiceName`].

mod name;
mod order;
mod service_url;
#[cfg(test)]
mod tests;

pub use self::name::{validate_service_name, MAX_SERVICE_NAME_LEN};
pub use self::service_url::{
    ServiceUrl, CONSUMER_SCHEME, DEFAULT_WEIGHT, MAX_URL_LEN, MAX_WARMUP_SECS, MAX_WEIGHT,
};
