//! Instruction counts of one provider change, for callgrind: a fed subscription with
//! `SIBLINGS` providers listed (default 2,000) receives `CHANGES` deletes and creates of one
//! more provider (default 100), each through `ProviderFeed::changed` as `benches/apply.rs` does.
//!
//! ```text
//! cargo build --profile bench -p zkmesh-registry --example apply_changes
//! valgrind --tool=callgrind --toggle-collect='apply_changes::apply' \
//!     target/release/examples/apply_changes 2000 100
//! ```
//!
//! The collected total divided by `CHANGES` is the cost of one change (half creates, half
//! deletes; the setup, the ZooKeeper session and its runtime are not collected).
#![forbid(unsafe_code)]

use std::time::Duration;

#[path = "../benches/support/names.rs"]
mod names;

use names::node_name;
use zkmesh_registry::{LoadBalance, ProviderFeed, Registry, SubscribeOptions};

/// `changes` creates and deletes of `name`, one at a time: what callgrind collects.
#[inline(never)]
fn apply(feed: &ProviderFeed, name: &str, changes: usize) {
    for i in 0..changes {
        feed.changed([(name.to_owned(), i % 2 == 0)]);
    }
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let siblings = args.next().unwrap_or(2_000);
    let changes = args.next().unwrap_or(100);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let connect = local_zk::shared_local_zookeeper().expect("a local ZooKeeper");
    runtime.block_on(async {
        let registry = Registry::builder()
            .register_consumers(false)
            .connect(&format!("{connect}/apply-changes"))
            .await
            .expect("connect");
        let options = SubscribeOptions::default()
            .empty_protection(false)
            .register_consumer(false)
            .balance(LoadBalance::Random)
            .startup_timeout(Duration::from_secs(30));
        let service = "apply-changes";
        let (subscription, feed) = registry.subscribe_fed(service, options).await.expect("subscribe_fed");
        feed.listed((0..siblings).map(|i| node_name(service, i)).collect());
        apply(&feed, &node_name(service, 100_000), changes);
        assert!(subscription.current().len() >= siblings);
        println!("{changes} changes applied to {siblings} providers");
    });
}
