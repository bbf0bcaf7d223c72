//! Provider node names as long as a Dubbo provider's (~250 characters), shared by
//! `benches/apply.rs` and `examples/apply_changes.rs`.

use zkmesh_registry::ServiceUrl;

/// A Dubbo-like provider node name of `service`, the `i`-th.
pub fn node_name(service: &str, i: usize) -> String {
    let host = format!("10.20.{}.{}", i / 250 % 250, i % 250);
    let url = ServiceUrl::new("http", &host, 20880 + (i / 62_500) as u16, service)
        .and_then(|u| u.with_param("application", "bench-sibling-provider"))
        .and_then(|u| u.with_param("dubbo", "2.0.2"))
        .and_then(|u| u.with_param("interface", "org.apache.dubbo.bench.SiblingService"))
        .and_then(|u| u.with_param("methods", "get,put,list,delete,watch"))
        .and_then(|u| u.with_param("version", "1.2.3"))
        .and_then(|u| u.with_param("timestamp", 1_700_000_000_000u64 + i as u64))
        .expect("a valid URL");
    url.to_node_name()
}
