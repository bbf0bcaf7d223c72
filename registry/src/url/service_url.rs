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

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};

use crate::{Error, Result};

/// The weight of a URL without a `weight` parameter.
pub const DEFAULT_WEIGHT: u32 = 100;
/// The largest accepted `weight` parameter.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// The largest accepted `warmup` parameter, in seconds (seven days).
pub const MAX_WARMUP_SECS: u64 = 86_400 * 7;
/// The longest accepted URL, in bytes, both as given and in canonical form.
pub const MAX_URL_LEN: usize = 4096;
/// The longest accepted service name, in characters (all of which are ASCII).
pub const MAX_SERVICE_NAME_LEN: usize = 255;

const MAX_HOSTNAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;
const MAX_NODE_NAME_LEN: usize = MAX_URL_LEN * 3;

/// Bytes percent-encoded in query keys and values (plus all non-ASCII bytes).
const QUERY_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Bytes percent-encoded in node names: everything but `A-Z a-z 0-9 . - * _` (Java's `URLEncoder`).
const NODE_NAME_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'*').remove(b'_');

const WEIGHT: &str = "weight";
const WARMUP: &str = "warmup";
const TIMESTAMP: &str = "timestamp";

/// Checks that `name` is a valid service name: 1 to 255 characters from `[A-Za-z0-9._-]`, and
/// not `.` or `..` (which ZooKeeper refuses as path segments).
///
/// # Errors
///
/// [`Error::InvalidServiceName`] with a reason naming the offending character or the length.
pub fn validate_service_name(name: &str) -> Result<()> {
    check_service_name(name).map_err(|reason| Error::InvalidServiceName { name: name.to_string(), reason })
}

fn check_service_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("service name is empty".to_string());
    }
    if let Some((at, c)) =
        name.char_indices().find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("character {c:?} at byte {at} is not allowed (only A-Z a-z 0-9 . _ -)"));
    }
    // All characters are ASCII from here on, so bytes == characters.
    if name.len() > MAX_SERVICE_NAME_LEN {
        return Err(format!("{} characters long; at most {MAX_SERVICE_NAME_LEN} allowed", name.len()));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not allowed as a ZooKeeper node name"));
    }
    Ok(())
}

/// The scheme of consumer URLs, the only one whose port may be left out.
pub const CONSUMER_SCHEME: &str = "consumer";

/// One endpoint of one service: `scheme://host:port/service?params`.
///
/// Every value of this type satisfies the contract in the module docs of `url.rs` (the wire contract, also in the README); it is built with
/// [`ServiceUrl::new`], [`ServiceUrl::with_param`], [`ServiceUrl::parse`] or
/// [`ServiceUrl::from_node_name`], all of which validate. Equality, hashing and ordering are
/// those of the canonical parts (lowercase scheme and hostname, IPv6 address as written,
/// decoded parameters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceUrl {
    scheme: String,
    host: String,
    port: u16,
    service: String,
    params: BTreeMap<String, String>,
}

impl ServiceUrl {
    /// Builds a URL without parameters.
    ///
    /// `scheme` is lowercased; `host` is an IPv4 address, a hostname (lowercased) or an IPv6
    /// address with or without brackets (stored without them, as written).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidServiceName`] for a bad `service`; [`Error::InvalidUrl`] for a bad
    /// scheme, host or port (0), or a URL longer than [`MAX_URL_LEN`].
    pub fn new(scheme: &str, host: &str, port: u16, service: &str) -> Result<Self> {
        let given = || {
            if host.contains(':') && !host.starts_with('[') {
                format!("{scheme}://[{host}]:{port}/{service}")
            } else {
                format!("{scheme}://{host}:{port}/{service}")
            }
        };
        let invalid = |reason: String| Error::InvalidUrl { url: given(), reason };
        let scheme = check_scheme(scheme).map_err(invalid)?;
        let host = check_host(host).map_err(invalid)?;
        if port == 0 && scheme != CONSUMER_SCHEME {
            return Err(invalid("port 0 is not allowed".to_string()));
        }
        validate_service_name(service)?;
        let url = ServiceUrl { scheme, host, port, service: service.to_string(), params: BTreeMap::new() };
        url.check_len().map_err(invalid)?;
        Ok(url)
    }

    /// Returns this URL with parameter `key` set to `value`, replacing any previous value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] (carrying this URL) if `key` is empty, if a well-known key
    /// (`weight`, `warmup`, `timestamp`) gets a value out of its range, or if the URL would
    /// grow past [`MAX_URL_LEN`].
    pub fn with_param(mut self, key: &str, value: impl ToString) -> Result<Self> {
        let value = value.to_string();
        let invalid = |url: &ServiceUrl, reason: String| Error::InvalidUrl { url: url.to_string(), reason };
        if key.is_empty() {
            return Err(invalid(&self, "parameter key is empty".to_string()));
        }
        if let Err(reason) = check_well_known(key, &value) {
            return Err(invalid(&self, reason));
        }
        let previous = self.params.insert(key.to_string(), value);
        if let Err(reason) = self.check_len() {
            match previous {
                Some(old) => self.params.insert(key.to_string(), old),
                None => self.params.remove(key),
            };
            return Err(invalid(&self, reason));
        }
        Ok(self)
    }

    /// Parses a URL in the textual form described in the module docs of `url.rs` (the wire contract, also in the README).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] carrying `s` and the reason it was refused.
    pub fn parse(s: &str) -> Result<Self> {
        parse_url(s).map_err(|reason| Error::InvalidUrl { url: s.to_string(), reason })
    }

    /// The scheme, in lowercase (`http`, `dubbo`, ...).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host: an IPv4 address, an IPv6 address without brackets, or a lowercase hostname.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port; never 0, except for a `consumer://` URL written without one.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The service name (the path).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `host:port`, with the host in brackets when it is an IPv6 address (`[::1]:8080`); ready
    /// for [`std::net::ToSocketAddrs`].
    pub fn address(&self) -> String {
        format!("{}:{}", BracketedHost(&self.host), self.port)
    }

    /// The (decoded) value of parameter `key`, if present.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// All parameters (decoded), sorted by key.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// The `version` parameter, unless absent or empty.
    pub fn version(&self) -> Option<&str> {
        self.non_empty_param("version")
    }

    /// The `group` parameter, unless absent or empty.
    pub fn group(&self) -> Option<&str> {
        self.non_empty_param("group")
    }

    /// The `zone` parameter, unless absent or empty.
    pub fn zone(&self) -> Option<&str> {
        self.non_empty_param("zone")
    }

    /// The `weight` parameter, or [`DEFAULT_WEIGHT`] (100) when absent. At most [`MAX_WEIGHT`].
    pub fn weight(&self) -> u32 {
        self.param(WEIGHT).and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_WEIGHT)
    }

    /// The `warmup` parameter (whole seconds), if present. At most [`MAX_WARMUP_SECS`].
    pub fn warmup(&self) -> Option<Duration> {
        self.param(WARMUP).and_then(|v| v.parse().ok()).map(Duration::from_secs)
    }

    /// The `timestamp` parameter (milliseconds since the Unix epoch), if present.
    pub fn timestamp(&self) -> Option<u64> {
        self.param(TIMESTAMP).and_then(|v| v.parse().ok())
    }

    /// The znode name for this URL: the canonical form with every byte except
    /// `A-Z a-z 0-9 . - * _` written as `%XX` (uppercase hex), like Java's `URLEncoder`.
    /// It never contains `/`.
    pub fn to_node_name(&self) -> String {
        utf8_percent_encode(&self.to_string(), NODE_NAME_ENCODE).to_string()
    }

    /// Decodes a znode name written by [`ServiceUrl::to_node_name`] (or by Dubbo): `%XX` in
    /// either case and `+` as a space, then [`ServiceUrl::parse`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] carrying `name` if it is too long, has a malformed escape, does not
    /// decode to UTF-8, or does not decode to a valid URL.
    pub fn from_node_name(name: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidUrl { url: name.to_string(), reason };
        if name.len() > MAX_NODE_NAME_LEN {
            return Err(invalid(format!(
                "node name is {} bytes long; at most {MAX_NODE_NAME_LEN} allowed",
                name.len()
            )));
        }
        let decoded = percent_decode(name, true).map_err(invalid)?;
        parse_url(&decoded).map_err(invalid)
    }

    fn non_empty_param(&self, key: &str) -> Option<&str> {
        self.param(key).filter(|v| !v.is_empty())
    }

    fn check_len(&self) -> std::result::Result<(), String> {
        let len = self.to_string().len();
        if len > MAX_URL_LEN {
            return Err(format!("URL is {len} bytes long in canonical form; at most {MAX_URL_LEN} allowed"));
        }
        Ok(())
    }
}

impl FromStr for ServiceUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ServiceUrl::parse(s)
    }
}

impl fmt::Display for ServiceUrl {
    /// Prints the canonical form (see the module docs of `url.rs` (the wire contract, also in the README)).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 0 {
            write!(f, "{}://{}/{}", self.scheme, BracketedHost(&self.host), self.service)?;
        } else {
            write!(f, "{}://{}:{}/{}", self.scheme, BracketedHost(&self.host), self.port, self.service)?;
        }
        for (i, (key, value)) in self.params.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(
                f,
                "{sep}{}={}",
                utf8_percent_encode(key, QUERY_ENCODE),
                utf8_percent_encode(value, QUERY_ENCODE)
            )?;
        }
        Ok(())
    }
}

/// Displays a stored host, putting an IPv6 address (the only kind with `:`) in brackets.
struct BracketedHost<'a>(&'a str);

impl fmt::Display for BracketedHost<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.contains(':') {
            write!(f, "[{}]", self.0)
        } else {
            f.write_str(self.0)
        }
    }
}

/// Parses `s`, returning the reason on failure (the caller attaches the input).
fn parse_url(s: &str) -> std::result::Result<ServiceUrl, String> {
    if s.len() > MAX_URL_LEN {
        return Err(format!("URL is {} bytes long; at most {MAX_URL_LEN} allowed", s.len()));
    }
    if let Some((at, c)) = s.char_indices().find(|(_, c)| c.is_ascii_control()) {
        return Err(format!("raw control character {c:?} at byte {at}"));
    }
    if s.contains('#') {
        return Err("fragments ('#') are not allowed".to_string());
    }
    let (scheme, rest) = s.split_once("://").ok_or("missing \"://\" after the scheme")?;
    let scheme = check_scheme(scheme)?;
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) =
        before_query.split_once('/').ok_or("missing the service name path (\"/service\")")?;
    if authority.contains('@') {
        return Err("userinfo ('user@') is not allowed".to_string());
    }
    let (host, port) = split_authority(authority)?;
    let host = check_host(host)?;
    let port = if port.is_empty() && scheme == CONSUMER_SCHEME && !authority.ends_with(':') {
        0
    } else {
        check_port(port)?
    };
    if path.contains('/') {
        return Err(format!("path {path:?} must be exactly one segment, the service name"));
    }
    check_service_name(path).map_err(|reason| format!("invalid service name {path:?}: {reason}"))?;
    let params = match query {
        Some(query) => parse_query(query)?,
        None => BTreeMap::new(),
    };
    let url = ServiceUrl { scheme, host, port, service: path.to_string(), params };
    url.check_len()?;
    Ok(url)
}

/// Splits `host:port` or `[v6]:port`; the host keeps its brackets.
fn split_authority(authority: &str) -> std::result::Result<(&str, &str), String> {
    if authority.is_empty() {
        return Err("missing host".to_string());
    }
    if authority.starts_with('[') {
        let close = authority.find(']').ok_or("unterminated '[' in host")?;
        let (host, rest) = authority.split_at(close + 1);
        if rest.is_empty() {
            return Ok((host, ""));
        }
        let port = rest.strip_prefix(':').ok_or_else(|| format!("unexpected {rest:?} after ']'"))?;
        return Ok((host, port));
    }
    let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
    if port.contains(':') {
        return Err("an IPv6 address must be enclosed in brackets".to_string());
    }
    Ok((host, port))
}

fn check_scheme(scheme: &str) -> std::result::Result<String, String> {
    let mut chars = scheme.char_indices();
    match chars.next() {
        None => return Err("missing scheme".to_string()),
        Some((_, c)) if !c.is_ascii_alphabetic() => {
            return Err(format!("scheme {scheme:?} must start with a letter, not {c:?}"));
        }
        Some(_) => {}
    }
    if let Some((at, c)) = chars.find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
    {
        return Err(format!("scheme {scheme:?} has character {c:?} at byte {at} (only A-Z a-z 0-9 + . -)"));
    }
    Ok(scheme.to_ascii_lowercase())
}

/// Validates a host (IPv6 with or without brackets) and returns its stored form.
fn check_host(host: &str) -> std::result::Result<String, String> {
    if host.is_empty() {
        return Err("missing host".to_string());
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("unterminated '[' in host")?;
        return check_ipv6(inner);
    }
    if host.contains(':') {
        return check_ipv6(host);
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return match host.parse::<Ipv4Addr>() {
            Ok(_) => Ok(host.to_string()),
            Err(_) => Err(format!("host {host:?} is not a valid IPv4 address")),
        };
    }
    check_hostname(host)?;
    Ok(host.to_ascii_lowercase())
}

fn check_ipv6(addr: &str) -> std::result::Result<String, String> {
    match addr.parse::<Ipv6Addr>() {
        Ok(_) => Ok(addr.to_string()),
        Err(_) => Err(format!("host [{addr}] is not a valid IPv6 address")),
    }
}

fn check_hostname(host: &str) -> std::result::Result<(), String> {
    if host.len() > MAX_HOSTNAME_LEN {
        return Err(format!(
            "hostname is {} characters long; at most {MAX_HOSTNAME_LEN} allowed",
            host.len()
        ));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(format!("hostname {host:?} has an empty label"));
        }
        if let Some(c) = label.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '-')) {
            return Err(format!("hostname {host:?} has character {c:?} (only A-Z a-z 0-9 - and dots)"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!("hostname label {label:?} is longer than {MAX_LABEL_LEN} characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("hostname label {label:?} starts or ends with '-'"));
        }
    }
    Ok(())
}

fn check_port(port: &str) -> std::result::Result<u16, String> {
    if port.is_empty() {
        return Err("missing port".to_string());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {port:?} is not a decimal number"));
    }
    match port.parse::<u32>().ok().map(u16::try_from) {
        Some(Ok(0)) => Err("port 0 is not allowed".to_string()),
        Some(Ok(p)) => Ok(p),
        _ => Err(format!("port {port} is out of range 1..=65535")),
    }
}

fn parse_query(query: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key, false)?;
        if key.is_empty() {
            return Err(format!("parameter {pair:?} has an empty key"));
        }
        let value = percent_decode(value, false)?;
        check_well_known(&key, &value)?;
        if params.contains_key(&key) {
            return Err(format!("parameter {key:?} is repeated"));
        }
        params.insert(key, value);
    }
    Ok(params)
}

/// Checks the value of the well-known keys; other keys accept anything.
fn check_well_known(key: &str, value: &str) -> std::result::Result<(), String> {
    let max = match key {
        WEIGHT => u64::from(MAX_WEIGHT),
        WARMUP => MAX_WARMUP_SECS,
        TIMESTAMP => u64::MAX,
        _ => return Ok(()),
    };
    match parse_decimal(value) {
        Some(n) if n <= max => Ok(()),
        _ => Err(format!("parameter `{key}` must be an integer in 0..={max}, got {:?}", Short(value))),
    }
}

/// Plain decimal digits (no sign, no spaces) that fit a `u64`.
fn parse_decimal(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Debug-formats a string, cut to a few dozen characters to keep error reasons short.
struct Short<'a>(&'a str);

impl fmt::Debug for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KEEP: usize = 40;
        match self.0.char_indices().nth(KEEP) {
            Some((cut, _)) => write!(f, "{:?}...", &self.0[..cut]),
            None => write!(f, "{:?}", self.0),
        }
    }
}

/// Strict percent-decoding: `%XX` (either case) must be well formed and the result UTF-8.
/// With `plus_as_space`, `+` decodes to a space (Java's `URLDecoder`).
fn percent_decode(s: &str, plus_as_space: bool) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(format!("malformed percent-escape at byte {i}")),
                }
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "percent-escapes do not decode to UTF-8".to_string())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The reason of a parse error, asserting it is `InvalidUrl` carrying the input.
    fn parse_err(s: &str) -> String {
        match ServiceUrl::parse(s) {
            Err(Error::InvalidUrl { url, reason }) => {
                assert_eq!(url, s);
                reason
            }
            other => panic!("{s:?} should not parse, got {other:?}"),
        }
    }

    fn name_err(name: &str) -> String {
        match validate_service_name(name) {
            Err(Error::InvalidServiceName { name: n, reason }) => {
                assert_eq!(n, name);
                reason
            }
            other => panic!("{name:?} should be refused, got {other:?}"),
        }
    }

    fn assert_round_trips(u: &ServiceUrl) {
        assert_eq!(&ServiceUrl::parse(&u.to_string()).unwrap(), u);
        let node = u.to_node_name();
        assert!(!node.contains('/'), "{node}");
        assert_eq!(&ServiceUrl::from_node_name(&node).unwrap(), u);
    }

    #[test]
    fn ipv4() {
        let u = ServiceUrl::parse("http://10.0.0.5:8080/greeter").unwrap();
        assert_eq!(u.scheme(), "http");
        assert_eq!(u.host(), "10.0.0.5");
        assert_eq!(u.port(), 8080);
        assert_eq!(u.service(), "greeter");
        assert_eq!(u.address(), "10.0.0.5:8080");
        assert!(u.params().is_empty());
        assert_eq!(u.to_string(), "http://10.0.0.5:8080/greeter");
        assert_eq!(u, ServiceUrl::new("http", "10.0.0.5", 8080, "greeter").unwrap());
        assert_round_trips(&u);
    }

    #[test]
    fn bad_ipv4() {
        for s in
            ["http://999.1.1.1:80/s", "http://1.2.3:80/s", "http://01.2.3.4:80/s", "http://1.2.3.4.:80/s"]
        {
            assert!(parse_err(s).contains("IPv4"), "{s}");
        }
    }

    #[test]
    fn ipv6() {
        let u = ServiceUrl::parse("http://[::1]:8080/greeter?version=1.2").unwrap();
        assert_eq!(u.host(), "::1");
        assert_eq!(u.port(), 8080);
        assert_eq!(u.address(), "[::1]:8080");
        assert_eq!(u.version(), Some("1.2"));
        assert_eq!(u.to_string(), "http://[::1]:8080/greeter?version=1.2");
        assert_round_trips(&u);
        let built =
            ServiceUrl::new("http", "::1", 8080, "greeter").unwrap().with_param("version", "1.2").unwrap();
        assert_eq!(built, u);
        assert_eq!(ServiceUrl::new("http", "[::1]", 8080, "greeter").unwrap().host(), "::1");
    }

    #[test]
    fn ipv6_is_kept_as_written() {
        let u = ServiceUrl::parse("http://[2001:DB8:0::1]:80/s").unwrap();
        assert_eq!(u.host(), "2001:DB8:0::1");
        assert_eq!(u.to_string(), "http://[2001:DB8:0::1]:80/s");
        assert_ne!(u, ServiceUrl::parse("http://[2001:db8::1]:80/s").unwrap());
        assert_round_trips(&u);
    }

    #[test]
    fn bad_ipv6() {
        assert!(parse_err("http://[::g]:80/s").contains("IPv6"));
        assert!(parse_err("http://[::1:80/s").contains("unterminated"));
        assert!(parse_err("http://[::1]/s").contains("missing port"));
        assert!(parse_err("http://[::1]x:80/s").contains("after ']'"));
        assert!(parse_err("http://::1:80/s").contains("brackets"));
        assert!(parse_err("http://[fe80::1%25eth0]:80/s").contains("IPv6"));
    }

    #[test]
    fn hostnames() {
        let u = ServiceUrl::parse("GRPC://Api.Example-1.COM:443/greeter").unwrap();
        assert_eq!(u.scheme(), "grpc");
        assert_eq!(u.host(), "api.example-1.com");
        assert_eq!(u.to_string(), "grpc://api.example-1.com:443/greeter");
        assert_eq!(u, ServiceUrl::new("gRPC", "API.example-1.com", 443, "greeter").unwrap());
        assert_round_trips(&u);
        assert_eq!(ServiceUrl::parse("x://localhost:1/s").unwrap().host(), "localhost");
        assert_eq!(ServiceUrl::parse("x://1a.2b:1/s").unwrap().host(), "1a.2b");
        let label = "a".repeat(63);
        let long = [label.as_str(), &label, &label, &"b".repeat(61)].join(".");
        assert_eq!(long.len(), 253);
        assert!(ServiceUrl::new("x", &long, 1, "s").is_ok());
    }

    #[test]
    fn bad_hostnames() {
        assert!(parse_err("x://-a.com:1/s").contains("'-'"));
        assert!(parse_err("x://a-.com:1/s").contains("'-'"));
        assert!(parse_err("x://a..com:1/s").contains("empty label"));
        assert!(parse_err("x://a.com.:1/s").contains("empty label"));
        assert!(parse_err("x://a_b.com:1/s").contains("'_'"));
        assert!(parse_err(&format!("x://{}.com:1/s", "a".repeat(64))).contains("longer than 63"));
        let label = "a".repeat(63);
        let long = [label.as_str(), &label, &label, &"b".repeat(62)].join(".");
        assert!(parse_err(&format!("x://{long}:1/s")).contains("254"));
        assert!(parse_err("x://:1/s").contains("missing host"));
        assert!(parse_err("x:///s").contains("missing host"));
        assert!(matches!(ServiceUrl::new("x", "a b", 1, "s"), Err(Error::InvalidUrl { .. })));
    }

    #[test]
    fn default_weight_and_accessors_without_params() {
        let u = ServiceUrl::new("http", "h", 1, "s").unwrap();
        assert_eq!(u.weight(), DEFAULT_WEIGHT);
        assert_eq!(u.weight(), 100);
        assert_eq!(u.version(), None);
        assert_eq!(u.group(), None);
        assert_eq!(u.zone(), None);
        assert_eq!(u.warmup(), None);
        assert_eq!(u.timestamp(), None);
        assert_eq!(u.param("weight"), None);
    }

    #[test]
    fn well_known_accessors() {
        let u = ServiceUrl::parse(
            "http://h:1/s?version=2.0&group=blue&zone=eu-1&weight=7&warmup=600&timestamp=1700000000123&x=y",
        )
        .unwrap();
        assert_eq!(u.version(), Some("2.0"));
        assert_eq!(u.group(), Some("blue"));
        assert_eq!(u.zone(), Some("eu-1"));
        assert_eq!(u.weight(), 7);
        assert_eq!(u.warmup(), Some(Duration::from_secs(600)));
        assert_eq!(u.timestamp(), Some(1_700_000_000_123));
        assert_eq!(u.param("x"), Some("y"));
        assert_eq!(u.params().len(), 7);
        assert_round_trips(&u);

        let built = ServiceUrl::new("http", "h", 1, "s")
            .unwrap()
            .with_param("weight", 0)
            .unwrap()
            .with_param("warmup", MAX_WARMUP_SECS)
            .unwrap()
            .with_param("timestamp", u64::MAX)
            .unwrap();
        assert_eq!(built.weight(), 0);
        assert_eq!(built.warmup(), Some(Duration::from_secs(604_800)));
        assert_eq!(built.timestamp(), Some(u64::MAX));
        assert_eq!(built.with_param("weight", MAX_WEIGHT).unwrap().weight(), 1_000_000);
    }

    #[test]
    fn empty_version_group_zone_are_unset() {
        let u = ServiceUrl::parse("http://h:1/s?version=&group&zone=").unwrap();
        assert_eq!(u.param("version"), Some(""));
        assert_eq!(u.param("group"), Some(""));
        assert_eq!((u.version(), u.group(), u.zone()), (None, None, None));
        assert_eq!(u.to_string(), "http://h:1/s?group=&version=&zone=");
    }

    #[test]
    fn bad_well_known_values() {
        for (q, key) in [
            ("weight=abc", "weight"),
            ("weight=1000001", "weight"),
            ("weight=-1", "weight"),
            ("weight=+1", "weight"),
            ("weight=", "weight"),
            ("weight=%201", "weight"),
            ("warmup=604801", "warmup"),
            ("warmup=1.5", "warmup"),
            ("timestamp=18446744073709551616", "timestamp"),
            ("timestamp=now", "timestamp"),
        ] {
            let reason = parse_err(&format!("http://h:1/s?{q}"));
            assert!(reason.contains(&format!("`{key}`")), "{q}: {reason}");
        }
        let u = ServiceUrl::new("http", "h", 1, "s").unwrap();
        match u.clone().with_param("weight", "heavy") {
            Err(Error::InvalidUrl { url, reason }) => {
                assert_eq!(url, "http://h:1/s");
                assert!(reason.contains("weight"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(u.clone().with_param("warmup", 604_801).is_err());
        assert!(u.clone().with_param("timestamp", -1).is_err());
        assert!(u.with_param("", "v").is_err());
    }

    #[test]
    fn bad_scheme() {
        assert!(parse_err("1http://h:1/s").contains("start with a letter"));
        assert!(parse_err("ht_tp://h:1/s").contains("'_'"));
        assert!(parse_err("://h:1/s").contains("missing scheme"));
        assert!(parse_err("h:1/s").contains("://"));
        assert!(parse_err("http:/h:1/s").contains("://"));
        assert!(matches!(ServiceUrl::new("", "h", 1, "s"), Err(Error::InvalidUrl { .. })));
        let u = ServiceUrl::parse("svc+tls.v-2://h:1/s").unwrap();
        assert_eq!(u.scheme(), "svc+tls.v-2");
        assert_round_trips(&u);
    }

    #[test]
    fn consumer_urls_may_leave_the_port_out() {
        let u = ServiceUrl::parse("consumer://10.0.0.7/greeter?pid=12").unwrap();
        assert_eq!((u.port(), u.to_string().as_str()), (0, "consumer://10.0.0.7/greeter?pid=12"));
        assert_eq!(ServiceUrl::from_node_name(&u.to_node_name()).unwrap(), u);
        assert_eq!(ServiceUrl::new("consumer", "::1", 0, "s").unwrap().to_string(), "consumer://[::1]/s");
        assert!(parse_err("consumer://h:/s").contains("missing port"));
        assert!(parse_err("consumer://h:0/s").contains("port 0"));
        assert!(parse_err("http://h/s").contains("missing port"));
        assert!(ServiceUrl::new("http", "h", 0, "s").is_err());
    }

    #[test]
    fn bad_ports() {
        assert!(parse_err("http://h/s").contains("missing port"));
        assert!(parse_err("http://h:/s").contains("missing port"));
        assert!(parse_err("http://h:0/s").contains("port 0"));
        assert!(parse_err("http://h:00/s").contains("port 0"));
        assert!(parse_err("http://h:70000/s").contains("out of range"));
        assert!(parse_err("http://h:99999999999999999999999/s").contains("out of range"));
        assert!(parse_err("http://h:+80/s").contains("not a decimal"));
        assert!(parse_err("http://h:8a/s").contains("not a decimal"));
        assert_eq!(ServiceUrl::parse("http://h:65535/s").unwrap().port(), 65535);
        match ServiceUrl::new("http", "h", 0, "s") {
            Err(Error::InvalidUrl { url, reason }) => {
                assert_eq!(url, "http://h:0/s");
                assert!(reason.contains("port 0"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn service_names() {
        validate_service_name("com.example.Greeter_v2-beta").unwrap();
        validate_service_name("a").unwrap();
        validate_service_name("...").unwrap();
        validate_service_name(&"x".repeat(255)).unwrap();
        assert!(name_err("").contains("empty"));
        assert!(name_err(&"x".repeat(256)).contains("256"));
        assert!(name_err("greet/er").contains("'/'"));
        assert!(name_err("greet er").contains("' '"));
        assert!(name_err("grüße").contains("'ü'"));
        assert!(name_err(".").contains("ZooKeeper"));
        assert!(name_err("..").contains("ZooKeeper"));
    }

    #[test]
    fn bad_service_in_url() {
        assert!(parse_err("http://h:1/greet$er").contains("'$'"));
        assert!(parse_err("http://h:1/greet%20er").contains("'%'"));
        assert!(parse_err("http://h:1/").contains("empty"));
        assert!(parse_err("http://h:1/?a=b").contains("empty"));
        assert!(parse_err(&format!("http://h:1/{}", "x".repeat(256))).contains("256"));
        assert!(parse_err("http://h:1/a/b").contains("one segment"));
        assert!(parse_err("http://h:1").contains("missing the service name"));
        assert!(parse_err("http://h:1?a=b").contains("missing the service name"));
        assert!(matches!(ServiceUrl::new("http", "h", 1, "a/b"), Err(Error::InvalidServiceName { .. })));
        assert!(matches!(ServiceUrl::new("http", "h", 1, ""), Err(Error::InvalidServiceName { .. })));
    }

    #[test]
    fn duplicate_key() {
        assert!(parse_err("http://h:1/s?a=1&b=2&a=3").contains("repeated"));
        assert!(parse_err("http://h:1/s?a=1&%61=1").contains("repeated"));
        // The builder replaces instead.
        let u = ServiceUrl::new("http", "h", 1, "s").unwrap().with_param("a", 1).unwrap();
        assert_eq!(u.with_param("a", 2).unwrap().param("a"), Some("2"));
    }

    #[test]
    fn fragment_userinfo_controls() {
        assert!(parse_err("http://h:1/s#frag").contains("fragment"));
        assert!(parse_err("http://h:1/s?a=b#frag").contains("fragment"));
        assert!(parse_err("http://user@h:1/s").contains("userinfo"));
        assert!(parse_err("http://user:pw@h:1/s").contains("userinfo"));
        assert!(parse_err("http://h:1/s?a=b\n").contains("control"));
        assert!(parse_err("http://h:1/s\0").contains("control"));
    }

    #[test]
    fn query_forms() {
        let u = ServiceUrl::parse("http://h:1/s?b=2&a&&c=&d=x=y&").unwrap();
        assert_eq!(u.param("a"), Some(""));
        assert_eq!(u.param("c"), Some(""));
        assert_eq!(u.param("d"), Some("x=y"));
        assert_eq!(u.to_string(), "http://h:1/s?a=&b=2&c=&d=x%3Dy");
        assert_eq!(ServiceUrl::parse("http://h:1/s?").unwrap().to_string(), "http://h:1/s");
        assert!(parse_err("http://h:1/s?=v").contains("empty key"));
        assert!(parse_err("http://h:1/s?a=%zz").contains("percent-escape"));
        assert!(parse_err("http://h:1/s?a=%4").contains("percent-escape"));
        assert!(parse_err("http://h:1/s?a=%FF").contains("UTF-8"));
        // '+' is literal in a URL; lowercase escapes decode; raw spaces and UTF-8 are accepted.
        let u = ServiceUrl::parse("http://h:1/s?p=a+b&q=%c3%a9&r=x y&s=ü/?:@").unwrap();
        assert_eq!(u.param("p"), Some("a+b"));
        assert_eq!(u.param("q"), Some("é"));
        assert_eq!(u.param("r"), Some("x y"));
        assert_eq!(u.param("s"), Some("ü/?:@"));
        assert_eq!(u.to_string(), "http://h:1/s?p=a%2Bb&q=%C3%A9&r=x%20y&s=%C3%BC/?:@");
        assert_round_trips(&u);
    }

    #[test]
    fn length_limit() {
        let base = "http://h:1/s?k=";
        let ok = format!("{base}{}", "v".repeat(MAX_URL_LEN - base.len()));
        assert_eq!(ServiceUrl::parse(&ok).unwrap().to_string().len(), MAX_URL_LEN);
        assert!(parse_err(&format!("{ok}v")).contains("4096"));
        // Fits as given but not once encoded.
        let spaces = format!("{base}{}", " ".repeat(2000));
        assert!(parse_err(&spaces).contains("canonical"));
        let u = ServiceUrl::new("http", "h", 1, "s").unwrap().with_param("k", "v".repeat(4000)).unwrap();
        assert!(u.clone().with_param("k2", "v".repeat(100)).is_err());
        // A failed replacement leaves the old value in the error and nothing half-applied.
        assert!(u.clone().with_param("k", "v".repeat(5000)).is_err());
        assert!(ServiceUrl::new(&"x".repeat(5000), "h", 1, "s").is_err());
        assert!(ServiceUrl::from_node_name(&"a".repeat(MAX_URL_LEN * 3 + 1)).is_err());
    }

    #[test]
    fn node_name_example() {
        let s = "http://10.0.0.5:8080/greeter?version=1.2&weight=100";
        let node = "http%3A%2F%2F10.0.0.5%3A8080%2Fgreeter%3Fversion%3D1.2%26weight%3D100";
        let u = ServiceUrl::parse(s).unwrap();
        assert_eq!(u.to_string(), s);
        assert_eq!(u.to_node_name(), node);
        assert_eq!(ServiceUrl::from_node_name(node).unwrap(), u);
        // Lowercase hex is accepted too.
        assert_eq!(ServiceUrl::from_node_name(&node.to_lowercase()).unwrap(), u);
    }

    #[test]
    fn special_values_round_trip() {
        let value = "a&b=c d+e%f#g?h/i é 日本 🦀 \"<>\\^`{|}[]";
        let u = ServiceUrl::new("http", "10.0.0.5", 8080, "greeter")
            .unwrap()
            .with_param("tag", value)
            .unwrap()
            .with_param("k&=y z", "1")
            .unwrap();
        assert_eq!(u.param("tag"), Some(value));
        let text = u.to_string();
        assert!(!text.contains(' ') && !text.contains('#') && text.is_ascii(), "{text}");
        assert_round_trips(&u);
        let node = u.to_node_name();
        assert!(node.bytes().all(|b| b.is_ascii_alphanumeric() || b"%.-*_".contains(&b)), "{node}");
    }

    #[test]
    fn from_node_name_decoding() {
        // Java's URLDecoder: '+' is a space; the space is then a raw space in the query.
        let u = ServiceUrl::from_node_name("dubbo%3a%2f%2fh%3a1%2fs%3fname%3dmy+app").unwrap();
        assert_eq!(u.param("name"), Some("my app"));
        for bad in ["%", "%2", "%G1", "http%3A%2F%2Fh%3A1%2Fs%zz", "%FF%FE"] {
            match ServiceUrl::from_node_name(bad) {
                Err(Error::InvalidUrl { url, .. }) => assert_eq!(url, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        match ServiceUrl::from_node_name("http%3A%2F%2Fh%3A0%2Fs") {
            Err(Error::InvalidUrl { url, reason }) => {
                assert_eq!(url, "http%3A%2F%2Fh%3A0%2Fs");
                assert!(reason.contains("port 0"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn from_str_and_ordering() {
        let a: ServiceUrl = "http://a:1/s".parse().unwrap();
        let b: ServiceUrl = "http://b:1/s".parse().unwrap();
        assert!(a < b);
        let set: BTreeSet<_> = [b.clone(), a.clone(), a.clone()].into_iter().collect();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![a, b]);
        assert!("nope".parse::<ServiceUrl>().is_err());
    }

    #[test]
    fn error_messages_are_readable() {
        let err = ServiceUrl::parse("http://h:70000/s").unwrap_err();
        assert_eq!(err.to_string(), "invalid URL \"http://h:70000/s\": port 70000 is out of range 1..=65535");
        let err = validate_service_name("a b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid service name \"a b\": character ' ' at byte 1 is not allowed (only A-Z a-z 0-9 . _ -)"
        );
        let long = "9".repeat(100);
        let reason = parse_err(&format!("http://h:1/s?weight={long}"));
        assert!(reason.len() < 120, "{reason}");
    }

    fn host_strategy() -> impl Strategy<Value = String> {
        let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?";
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
            (any::<[u16; 8]>(), any::<bool>(), any::<bool>()).prop_map(|(segs, upper, brackets)| {
                let addr = Ipv6Addr::from(segs).to_string();
                let addr = if upper { addr.to_uppercase() } else { addr };
                if brackets {
                    format!("[{addr}]")
                } else {
                    addr
                }
            }),
            prop::collection::vec(label, 1..4)
                .prop_map(|labels| labels.join("."))
                .prop_filter("all-numeric hosts must be IPv4", |h| !h
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.')),
        ]
    }

    fn url_strategy() -> impl Strategy<Value = ServiceUrl> {
        let key = prop_oneof![
            "[a-z][a-z0-9._-]{0,8}",
            "\\PC{1,8}",
            Just("version".to_string()),
            Just("group".to_string()),
        ]
        .prop_filter("well-known keys get valid values separately", |k| {
            !matches!(k.as_str(), WEIGHT | WARMUP | TIMESTAMP)
        });
        let value = prop_oneof!["\\PC{0,16}", "[ -~]{0,16}", "[&=%+# ]{0,4}"];
        (
            "[a-zA-Z][a-zA-Z0-9+.-]{0,8}",
            host_strategy(),
            1..=u16::MAX,
            "[A-Za-z0-9._-]{1,40}".prop_filter("not . or ..", |s| s != "." && s != ".."),
            prop::collection::vec((key, value), 0..6),
            prop::option::of(0..=MAX_WEIGHT),
            prop::option::of(0..=MAX_WARMUP_SECS),
            prop::option::of(any::<u64>()),
        )
            .prop_map(|(scheme, host, port, service, params, weight, warmup, timestamp)| {
                let mut u = ServiceUrl::new(&scheme, &host, port, &service).unwrap();
                for (k, v) in params {
                    u = u.with_param(&k, v).unwrap();
                }
                if let Some(w) = weight {
                    u = u.with_param(WEIGHT, w).unwrap();
                }
                if let Some(w) = warmup {
                    u = u.with_param(WARMUP, w).unwrap();
                }
                if let Some(t) = timestamp {
                    u = u.with_param(TIMESTAMP, t).unwrap();
                }
                u
            })
    }

    /// Strings that look roughly like URLs (each part mostly valid, sometimes junk), to reach
    /// deeper into the parser than random text does.
    fn url_like() -> impl Strategy<Value = String> {
        (
            prop_oneof![3 => "[a-zA-Z][a-z+.-]{0,4}", 1 => "[a-zA-Z0-9+.:/_-]{0,6}"],
            prop_oneof![
                3 => "[a-zA-Z0-9-]{1,6}(\\.[a-zA-Z0-9-]{1,6}){0,2}",
                1 => "[0-9]{1,3}(\\.[0-9]{1,3}){0,4}",
                1 => "\\[[0-9a-fA-F:.]{0,12}\\]",
                1 => "[a-zA-Z0-9.:\\[\\]@%-]{0,12}",
            ],
            prop_oneof![3 => "[0-9]{1,6}", 1 => "[0-9a-z:+]{0,6}"],
            prop_oneof![3 => "[a-zA-Z0-9._-]{1,8}", 1 => "[a-zA-Z0-9./%$-]{0,10}"],
            prop::option::of("[a-z%0-9A-F=&+ #?/é]{0,20}"),
        )
            .prop_map(|(scheme, host, port, path, query)| match query {
                Some(q) => format!("{scheme}://{host}:{port}/{path}?{q}"),
                None => format!("{scheme}://{host}:{port}/{path}"),
            })
    }

    proptest! {
        #[test]
        fn generated_urls_round_trip(u in url_strategy()) {
            let text = u.to_string();
            prop_assert!(text.len() <= MAX_URL_LEN);
            prop_assert_eq!(&ServiceUrl::parse(&text).unwrap(), &u);
            let node = u.to_node_name();
            prop_assert!(!node.contains('/'));
            prop_assert!(node.bytes().all(|b| b.is_ascii_alphanumeric() || b"%.-*_".contains(&b)));
            prop_assert_eq!(&ServiceUrl::from_node_name(&node).unwrap(), &u);
            prop_assert_eq!(u.weight() == DEFAULT_WEIGHT, u.param(WEIGHT).is_none_or(|w| w == "100"));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = ServiceUrl::parse(&s);
            let _ = ServiceUrl::from_node_name(&s);
            let _ = validate_service_name(&s);
        }

        #[test]
        fn url_like_strings_never_panic_and_canonicalize(s in url_like()) {
            let _ = ServiceUrl::from_node_name(&s);
            match ServiceUrl::parse(&s) {
                Ok(u) => {
                    let canonical = u.to_string();
                    prop_assert_eq!(&ServiceUrl::parse(&canonical).unwrap(), &u);
                    prop_assert_eq!(ServiceUrl::parse(&canonical).unwrap().to_string(), canonical);
                    prop_assert_eq!(&ServiceUrl::from_node_name(&u.to_node_name()).unwrap(), &u);
                }
                Err(Error::InvalidUrl { url, .. }) => prop_assert_eq!(url, s),
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }

        #[test]
        fn node_name_like_strings_never_panic(s in "[%0-9a-fA-F+./:?=&a-z]{0,40}") {
            let _ = ServiceUrl::from_node_name(&s);
        }
    }
}
