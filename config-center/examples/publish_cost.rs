//! What a publish with history costs against the raw requests, on one idle local ZooKeeper:
//! `ConfigSpec::publish` (history limit 10: one `multi`), a raw `set_data` and a raw `multi` of
//! the same shape (`set_data`, a history child created, the oldest deleted), 599 of each,
//! interleaved with 2 ms pauses; p50 of each. With `w`, one `Config` watcher of the document and
//! one raw watcher of the raw node run in the same process.
//!
//! ```sh
//! cargo run --release -p zkmesh-config --example publish_cost -- x   # no watcher
//! cargo run --release -p zkmesh-config --example publish_cost -- w   # one watcher each
//! ```
//!
//! For the publish's client-side instructions:
//! `valgrind --tool=callgrind --toggle-collect='zkmesh_config::spec::ConfigSpec<T>::publish::{{closure}}'
//! target/release/examples/publish_cost x` (the total / 599).
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use zkmesh_config::{ConfigCenter, Expect};
use zookeeper_client::{Acls, Client, CreateMode};

type Doc = BTreeMap<String, String>;

/// The document of trial `seq`.
fn doc(seq: u64) -> Doc {
    let mut d = Doc::new();
    d.insert("seq".into(), seq.to_string());
    for i in 0..9 {
        d.insert(format!("key{i}"), format!("value {i}"));
    }
    d
}

/// The median.
fn p50(mut v: Vec<Duration>) -> u128 {
    v.sort();
    v[v.len() / 2].as_micros()
}

/// A raw watcher of `path`: read and re-arm until the session ends.
async fn raw_watch_loop(c: Client, path: &'static str) {
    loop {
        let Ok((_, _, w)) = c.get_and_watch_data(path).await else { return };
        w.changed().await;
    }
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let zk = local_zk::LocalZooKeeper::start().await.expect("ok");
    let cs = zk.connect_string();
    let session = registry::Session::connect(&cs).await.expect("ok");
    let center = ConfigCenter::builder().history_limit(10).build(session.clone()).expect("ok");
    let spec = center.config::<Doc>("ns", "doc").expect("ok");
    spec.publish(&doc(0), Expect::Any).await.expect("ok");
    let raw = Client::connect(&cs).await.expect("ok");
    let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
    raw.create("/raw", b"", &opts).await.expect("ok");
    raw.create("/raw/h", b"", &opts).await.expect("ok");
    let mut keep = Vec::new();
    if mode.contains('w') {
        let wsession = registry::Session::connect(&cs).await.expect("ok");
        let wcenter = ConfigCenter::builder().build(wsession).expect("ok");
        let cfg = wcenter.config::<Doc>("ns", "doc").expect("ok").watch().await.expect("ok");
        keep.push(Box::new((wcenter, cfg)) as Box<dyn std::any::Any>);
        let rc = Client::connect(&cs).await.expect("ok");
        tokio::spawn(raw_watch_loop(rc, "/raw"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = toml::to_string(&doc(1)).expect("ok");
    let (mut a, mut b, mut c) = (vec![], vec![], vec![]);
    for i in 1..600u64 {
        let t = Instant::now();
        spec.publish(&doc(i), Expect::Any).await.expect("ok");
        a.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
        let t = Instant::now();
        raw.set_data("/raw", text.as_bytes(), None).await.expect("ok");
        b.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
        let t = Instant::now();
        let mut w = raw.new_multi_writer();
        w.add_set_data("/raw", text.as_bytes(), None).expect("ok");
        w.add_create(&format!("/raw/h/v-{i}"), text.as_bytes(), &opts).expect("ok");
        if i > 10 {
            w.add_delete(&format!("/raw/h/v-{}", i - 10), None).expect("ok");
        }
        w.commit().await.expect("ok");
        c.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!("mode={mode:?} publish_p50_us={} set_data_p50_us={} multi_p50_us={}", p50(a), p50(b), p50(c));
    drop(keep);
}
