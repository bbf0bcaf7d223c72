//! The callgrind harness for what a watcher spends on one document (`ConfigSpec::check`: the
//! layers' parse, the typed deserialization with unknown-key tracking, the validator), the CPU
//! `zkbench config` pays once per watcher per publish. The document is plain (`plain/`), so
//! since session 11 this measures the plain path (13,142 instructions; toml's path took 40,814):
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p zkmesh-config --example check_cost
//! valgrind --tool=callgrind --toggle-collect='*Schema*convert*' target/release/examples/check_cost 1000
//! ```
//!
//! Instructions per check = the total / 1000. The document is `zkbench config`'s shape: ten
//! string keys, about 200 bytes of TOML. Starts a local ZooKeeper (the spec needs a session).

use std::collections::BTreeMap;

use zkmesh_config::ConfigCenter;

type Doc = BTreeMap<String, String>;

/// `n` checks of `text`.
#[inline(never)]
async fn checks(spec: &zkmesh_config::ConfigSpec<Doc>, text: &str, n: usize) -> usize {
    let mut total = 0;
    for _ in 0..n {
        total += spec.check(text).await.expect("the document passes").len();
    }
    total
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let zk = local_zk::LocalZooKeeper::start().await.expect("a local ZooKeeper");
    let session = registry::Session::connect(&zk.connect_string()).await.expect("a session");
    let center = ConfigCenter::builder().build(session).expect("a config center");
    let spec = center.config::<Doc>("ns", "doc").expect("a valid name");
    let mut d = Doc::new();
    d.insert("seq".into(), "17".into());
    d.insert("service".into(), "greeter".into());
    d.insert("url".into(), "postgres://db.internal:5432/greeter?sslmode=require".into());
    for i in 0..7 {
        d.insert(format!("key{i}"), format!("value number {i}"));
    }
    let text = toml::to_string(&d).expect("TOML");
    eprintln!("{} bytes", text.len());
    let n: usize = std::env::args().nth(1).map_or(1000, |a| a.parse().expect("a count"));
    println!("{}", checks(&spec, &text, n).await);
}
