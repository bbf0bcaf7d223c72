//! [`ServiceUrl`]: parsing, validation, canonical form and node names (the contract is in
//! `url/mod.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};

use super::name::check_service_name;
use super::order::OrderKey;
use super::validate_service_name;
use crate::{Error, Result};

/// The weight of a URL without a `weight` parameter.
pub const DEFAULT_WEIGHT: u32 = 100;
/// The largest accepted `weight` parameter.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// The largest accepted `warmup` parameter, in seconds (seven days).
pub const MAX_WARMUP_SECS: u64 = 86_400 * 7;
/// The longest accepted URL, in bytes, both as given and in canonical form.
pub const MAX_URL_LEN: usize = 4096;

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

pub(super) const WEIGHT: &str = "weight";
pub(super) const WARMUP: &str = "warmup";
pub(super) const TIMESTAMP: &str = "timestamp";

/// The scheme of consumer URLs, the only one whose port may be left out.
pub const CONSUMER_SCHEME: &str = "consumer";

/// One endpoint of one service: `scheme://host:port/service?params`.
///
/// Every value of this type satisfies the contract in the wire contract (`registry/src/url/mod.rs` (the wire contract, also in the README); it is built with
/// [`ServiceUrl::new`], [`ServiceUrl::with_param`], [`ServiceUrl::parse`] or
/// [`ServiceUrl::from_node_name`], all of which validate. Equality, hashing and ordering are
/// those of the canonical parts (lowercase scheme and hostname, IPv6 address as written,
/// decoded parameters); URLs are ordered by scheme, host, port, service, then parameters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServiceUrl {
    /// Decides most comparisons without reading the strings (a function of scheme, host and
    /// port; see `order.rs`).
    order: OrderKey,
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
        let order = OrderKey::of(&scheme, &host, port);
        let url =
            ServiceUrl { order, scheme, host, port, service: service.to_string(), params: BTreeMap::new() };
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

    /// Parses a URL in the textual form described in the wire contract (`registry/src/url/mod.rs` (the wire contract, also in the README).
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

    /// A node name decoded to text as [`ServiceUrl::from_node_name`] does, without parsing it
    /// (for the URLs of other systems that need a look first: Dubbo's `override://`).
    pub(crate) fn node_name_text(name: &str) -> Result<String> {
        let invalid = |reason: String| Error::InvalidUrl { url: name.to_string(), reason };
        if name.len() > MAX_NODE_NAME_LEN {
            return Err(invalid(format!(
                "node name is {} bytes long; at most {MAX_NODE_NAME_LEN} allowed",
                name.len()
            )));
        }
        percent_decode(name, true).map_err(invalid)
    }

    fn non_empty_param(&self, key: &str) -> Option<&str> {
        self.param(key).filter(|v| !v.is_empty())
    }

    fn check_len(&self) -> std::result::Result<(), String> {
        // Counted as it is formatted, not formatted into a string: every node name decoded
        // (each provider created) is checked.
        struct Count(usize);
        impl fmt::Write for Count {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 += s.len();
                Ok(())
            }
        }
        let mut count = Count(0);
        fmt::write(&mut count, format_args!("{self}")).map_err(|e| e.to_string())?;
        let len = count.0;
        if len > MAX_URL_LEN {
            return Err(format!("URL is {len} bytes long in canonical form; at most {MAX_URL_LEN} allowed"));
        }
        Ok(())
    }
}

impl Ord for ServiceUrl {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order.cmp(&other.order).then_with(|| {
            (&self.scheme, &self.host, self.port, &self.service, &self.params).cmp(&(
                &other.scheme,
                &other.host,
                other.port,
                &other.service,
                &other.params,
            ))
        })
    }
}

impl PartialOrd for ServiceUrl {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("service", &self.service)
            .field("params", &self.params)
            .finish()
    }
}

impl FromStr for ServiceUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ServiceUrl::parse(s)
    }
}

impl fmt::Display for ServiceUrl {
    /// Prints the canonical form (see the wire contract (`registry/src/url/mod.rs` (the wire contract, also in the README)).
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
    let order = OrderKey::of(&scheme, &host, port);
    let url = ServiceUrl { order, scheme, host, port, service: path.to_string(), params };
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
