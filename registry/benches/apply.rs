//! `cargo bench -p zkmesh-registry --bench apply`: what one provider created or deleted costs a
//! subscription, from the persistent watch's event to the next provider set published (built,
//! stored in the cache, sent to `updates()`), with 0, 200 and 2,000 providers already listed.
//!
//! The subscription is a fed one (`Registry::subscribe_fed`): its `ProviderFeed` hands it the
//! created and deleted names exactly as its own watch task would (`Directory::apply_update`),
//! with no ZooKeeper round trip in the timed part (a real ZooKeeper from `local-zk` serves the
//! session the subscription needs). Names are as long as a Dubbo provider's (~250 characters),
//! as `zkbench propagation --siblings` registers them. `delete` times a delete of one provider
//! (its creation back is not timed), `create` the opposite.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
#[path = "support/names.rs"]
mod names;

use names::node_name;
use zkmesh_registry::{LoadBalance, ProviderFeed, Registry, SubscribeOptions, Subscription};

const SERVICE: &str = "bench";

/// A fed subscription with `siblings` providers listed, and the name it adds and deletes.
async fn fed(
    registry: &Registry,
    siblings: usize,
    balance: LoadBalance,
) -> (Subscription, ProviderFeed, String) {
    let service = format!("{SERVICE}-{siblings}-{balance:?}").to_lowercase();
    let options = SubscribeOptions::default()
        .empty_protection(false)
        .register_consumer(false)
        .balance(balance)
        .startup_timeout(Duration::from_secs(5));
    let (subscription, feed) = registry.subscribe_fed(&service, options).await.expect("subscribe_fed");
    let names: Vec<String> = (0..siblings).map(|i| node_name(&service, i)).collect();
    let changing = node_name(&service, 100_000);
    feed.listed(names);
    feed.changed([(changing.clone(), true)]);
    assert_eq!(subscription.current().len(), siblings + 1, "every name decodes as a provider");
    (subscription, feed, changing)
}

fn apply(c: &mut Criterion, registry: &Registry, runtime: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("apply");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(40);
    for balance in [LoadBalance::Random, LoadBalance::RoundRobin] {
        for siblings in [0, 200, 2_000] {
            let (subscription, feed, name) = runtime.block_on(fed(registry, siblings, balance));
            let id = |what: &str| BenchmarkId::new(format!("{what}/{balance:?}"), siblings);
            group.bench_function(id("delete"), |b| {
                feed.changed([(name.clone(), true)]);
                b.iter_custom(|iters| {
                    timed(
                        iters,
                        || feed.changed([(name.clone(), false)]),
                        || feed.changed([(name.clone(), true)]),
                    )
                })
            });
            group.bench_function(id("create"), |b| {
                feed.changed([(name.clone(), false)]);
                b.iter_custom(|iters| {
                    timed(
                        iters,
                        || feed.changed([(name.clone(), true)]),
                        || feed.changed([(name.clone(), false)]),
                    )
                })
            });
            assert!(subscription.current().len() >= siblings);
        }
    }
    group.finish();
}

/// `iters` runs of `step`, each followed by an untimed `undo`; the time of the steps.
fn timed(iters: u64, mut step: impl FnMut(), mut undo: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t0 = Instant::now();
        step();
        total += t0.elapsed();
        undo();
    }
    total
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let connect = local_zk::shared_local_zookeeper().expect("a local ZooKeeper");
    let registry = runtime
        .block_on(Registry::builder().register_consumers(false).connect(&format!("{connect}/bench-apply")))
        .expect("connect");
    let mut criterion = Criterion::default().configure_from_args();
    apply(&mut criterion, &registry, &runtime);
    criterion.final_summary();
}
