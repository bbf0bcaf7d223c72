//! Invariants shared by the fuzz targets in `fuzz_targets/`.
//!
//! Everything asserted here is promised by the wire contract in `registry/src/url.rs` (its module
//! docs) or by the doc comment of the method involved; a failed assertion is a bug in the parser,
//! the printer or the node-name codec, not in the fuzzer.

use std::net::SocketAddr;

use registry::{Error, ServiceUrl, CONSUMER_SCHEME, MAX_URL_LEN, MAX_WARMUP_SECS, MAX_WEIGHT};

/// Bytes a node name may contain: Java's `URLEncoder` leaves `A-Z a-z 0-9 . - * _` as is and
/// writes everything else as `%XX`.
fn is_node_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"%.-*_".contains(&b)
}

/// Asserts that a refused input was refused with [`Error::InvalidUrl`] carrying the input as
/// given ("Parsing errors are `Error::InvalidUrl` carrying the input as given").
pub fn check_error(input: &str, err: Error) {
    match err {
        Error::InvalidUrl { url, reason } => {
            assert_eq!(url, input, "the error must carry the input as given");
            assert!(!reason.is_empty(), "empty reason for {input:?}");
        }
        other => panic!("{input:?} was refused with {other:?}, not Error::InvalidUrl"),
    }
}

/// Asserts every round trip and documented property of a URL that parsed (or decoded).
pub fn check_url(u: &ServiceUrl) {
    // Canonical form: at most MAX_URL_LEN bytes, ASCII only, no raw space or '#', and parsing it
    // gives back an equal URL (equality covers every part, so it also prints the same).
    let text = u.to_string();
    assert!(text.len() <= MAX_URL_LEN, "canonical form is {} bytes: {text:?}", text.len());
    assert!(text.is_ascii() && !text.contains([' ', '#']), "canonical form {text:?}");
    let reparsed = match ServiceUrl::parse(&text) {
        Ok(reparsed) => reparsed,
        Err(err) => panic!("canonical form {text:?} of {u:?} does not parse: {err}"),
    };
    assert_eq!(&reparsed, u, "parse(to_string()) differs; canonical form {text:?}");

    // Node name: only URLEncoder bytes (so never '/'), and decoding it gives back an equal URL.
    let node = u.to_node_name();
    assert!(!node.contains('/'), "node name {node:?} contains '/'");
    assert!(node.bytes().all(is_node_name_byte), "node name {node:?} has a byte URLEncoder would escape");
    let decoded = match ServiceUrl::from_node_name(&node) {
        Ok(decoded) => decoded,
        Err(err) => panic!("node name {node:?} of {u:?} does not decode: {err}"),
    };
    assert_eq!(&decoded, u, "from_node_name(to_node_name()) differs; node name {node:?}");

    // Stored parts, as documented on the accessors.
    assert_eq!(u.scheme(), u.scheme().to_ascii_lowercase(), "scheme is not lowercase");
    if !u.host().contains(':') {
        assert_eq!(u.host(), u.host().to_ascii_lowercase(), "hostname / IPv4 host is not lowercase");
    }
    assert!(u.port() != 0 || u.scheme() == CONSUMER_SCHEME, "port 0 on a {}:// URL", u.scheme());
    if let Err(err) = registry::validate_service_name(u.service()) {
        panic!("stored service name is invalid: {err}");
    }
    // `address()` is "ready for ToSocketAddrs": for an IP host it must parse without DNS.
    if u.host().contains(':') || u.host().bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let address = u.address();
        assert!(address.parse::<SocketAddr>().is_ok(), "address {address:?} is not a socket address");
    }

    // Well-known parameters are validated whenever set, so their accessors always see them.
    match u.param("weight") {
        Some(w) => assert_eq!(w.parse::<u32>().ok(), Some(u.weight()), "weight {w:?}"),
        None => assert_eq!(u.weight(), registry::DEFAULT_WEIGHT),
    }
    assert!(u.weight() <= MAX_WEIGHT);
    assert_eq!(u.param("warmup").is_some(), u.warmup().is_some(), "warmup {:?}", u.param("warmup"));
    assert!(u.warmup().is_none_or(|w| w.as_secs() <= MAX_WARMUP_SECS));
    assert_eq!(u.param("timestamp").is_some(), u.timestamp().is_some());
    for key in ["version", "group", "zone"] {
        let expected = u.param(key).filter(|v| !v.is_empty());
        let got = match key {
            "version" => u.version(),
            "group" => u.group(),
            _ => u.zone(),
        };
        assert_eq!(got, expected, "{key} accessor");
    }

    // The builder accepts every part of a valid URL and builds the same value.
    let mut built = match ServiceUrl::new(u.scheme(), u.host(), u.port(), u.service()) {
        Ok(built) => built,
        Err(err) => panic!("ServiceUrl::new refuses the parts of {text:?}: {err}"),
    };
    for (key, value) in u.params() {
        built = match built.with_param(key, value) {
            Ok(built) => built,
            Err(err) => panic!("with_param({key:?}, {value:?}) refused while rebuilding {text:?}: {err}"),
        };
    }
    assert_eq!(&built, u, "rebuilding {text:?} with new/with_param gives a different URL");
}
