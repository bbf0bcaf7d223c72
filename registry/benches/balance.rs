//! `cargo bench -p zkmesh-registry --bench balance`: one pick of each balancer of `zkmesh_registry::balance`
//! over 10, 100, 1,000 and 10,000 providers, against a `RwLock<Vec<_>>` weighted pick (prefix
//! sums and a binary search under a read lock, the textbook shared-cache baseline) measured in
//! the same run. Single-threaded: `zkbench select` covers picking from several threads at once.
//!
//! `arcswap_weighted_random` is the read path of `Subscription::select()` without ZooKeeper: an
//! `arc-swap` load of the current snapshot (here just its `WeightedRandom`) and a pick, the guard
//! dropped after; the ratio to `rwlock_vec_baseline` is the one `zkbench select` measures.
//!
//! Weights are `50 + i % 100`, so every balancer takes its weighted path. The ring is built with
//! `DEFAULT_REPLICAS` virtual nodes per weight-100 provider and picks for keys cycling through
//! 1,024 request ids; least-requests reads one counter per provider.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::hint::black_box;
use std::sync::RwLock;
use std::time::Duration;

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion};
use zkmesh_registry::balance::{
    AliasTable, HashRing, InFlight, LeastRequests, SmoothRoundRobin, WeightedRandom, DEFAULT_REPLICAS,
};

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

fn weights(n: usize) -> Vec<u32> {
    (0..n).map(|i| 50 + (i % 100) as u32).collect()
}

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0x853c_49e6_748f_ea9b) };
}

/// The baseline's random numbers: a thread-local wyrand, as `zkmesh_registry::balance` draws its own
/// (which it does not export), so both sides pay the same for randomness.
fn next_u64() -> u64 {
    STATE.with(|s| {
        let state = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(state);
        let t = u128::from(state) * u128::from(state ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// The baseline: addresses and cumulative weights behind a read-write lock.
struct Locked {
    inner: RwLock<(Vec<String>, Vec<u64>)>,
}

impl Locked {
    fn new(weights: &[u32]) -> Locked {
        let addresses = (0..weights.len()).map(|i| format!("10.0.{}.{}:8080", i / 250, i % 250)).collect();
        let mut total = 0u64;
        let cumulative = weights
            .iter()
            .map(|&w| {
                total += u64::from(w);
                total
            })
            .collect();
        Locked { inner: RwLock::new((addresses, cumulative)) }
    }

    fn pick(&self) -> Option<usize> {
        let guard = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (addresses, cumulative) = &*guard;
        let total = *cumulative.last()?;
        let x = ((u128::from(next_u64()) * u128::from(total)) >> 64) as u64;
        let i = cumulative.partition_point(|&c| c <= x);
        // What a caller does with the pick while it still holds the lock.
        black_box(addresses[i].len());
        Some(i)
    }
}

fn balance(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(40);
    for n in SIZES {
        let w = weights(n);
        let locked = Locked::new(&w);
        group.bench_with_input(BenchmarkId::new("rwlock_vec_baseline", n), &n, |b, _| {
            b.iter(|| black_box(locked.pick()))
        });

        let random = WeightedRandom::new(&w);
        group.bench_with_input(BenchmarkId::new("weighted_random", n), &n, |b, _| {
            b.iter(|| black_box(random.pick()))
        });

        let swapped = ArcSwap::from_pointee(WeightedRandom::new(&w));
        group.bench_with_input(BenchmarkId::new("arcswap_weighted_random", n), &n, |b, _| {
            b.iter(|| black_box(swapped.load().pick()))
        });

        let alias = AliasTable::new(&w);
        group.bench_with_input(BenchmarkId::new("alias_table", n), &n, |b, _| {
            b.iter(|| black_box(alias.pick()))
        });

        let swapped_alias = ArcSwap::from_pointee(AliasTable::new(&w));
        group.bench_with_input(BenchmarkId::new("arcswap_alias_table", n), &n, |b, _| {
            b.iter(|| black_box(swapped_alias.load().pick()))
        });

        let round_robin = SmoothRoundRobin::new(&w);
        group.bench_with_input(BenchmarkId::new("smooth_round_robin", n), &n, |b, _| {
            b.iter(|| black_box(round_robin.pick()))
        });

        let least = LeastRequests::new(&w);
        let in_flight: Vec<InFlight> = (0..n).map(|_| InFlight::default()).collect();
        group.bench_with_input(BenchmarkId::new("least_requests", n), &n, |b, _| {
            b.iter(|| black_box(least.pick(|i| in_flight[i].get())))
        });

        let ids: Vec<String> =
            (0..n).map(|i| format!("http://10.0.{}.{}:8080/bench", i / 250, i % 250)).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let ring = HashRing::new(&id_refs, &w, DEFAULT_REPLICAS);
        let keys: Vec<String> = (0..1024).map(|k| format!("request-{k}")).collect();
        let mut k = 0usize;
        group.bench_with_input(BenchmarkId::new("hash_ring", n), &n, |b, _| {
            b.iter(|| {
                k = (k + 1) & 1023;
                black_box(ring.pick(keys[k].as_bytes()))
            })
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    balance(&mut criterion);
    criterion.final_summary();
}
