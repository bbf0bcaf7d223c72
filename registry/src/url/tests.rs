//! The URL codec's tests: the contract, examples and properties.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use proptest::prelude::*;

use super::service_url::{TIMESTAMP, WARMUP, WEIGHT};
use super::*;
use crate::Error;

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
    for s in ["http://999.1.1.1:80/s", "http://1.2.3:80/s", "http://01.2.3.4:80/s", "http://1.2.3.4.:80/s"] {
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
