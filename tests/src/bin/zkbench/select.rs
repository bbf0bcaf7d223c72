//! `zkbench select`: picks through `Subscription::select()` (arc-swap snapshot, weighted random)
//! against a `RwLock<Vec<_>>` doing the same weighted pick, both from T threads at once.

use std::hint::black_box;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use registry::{Registry, ServiceUrl, SubscribeOptions};

use crate::BoxError;

pub async fn run(root: &str, providers: usize, threads: usize, picks: usize) -> Result<String, BoxError> {
    let threads = threads.max(1);
    let provider = Registry::builder().register_consumers(false).connect(root).await?;
    let urls = (0..providers)
        .map(|i| {
            ServiceUrl::new("http", "10.7.0.1", 1 + i as u16, "select")
                .and_then(|u| u.with_param("weight", 50 + (i % 100) as u32))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let held = futures::future::join_all(urls.iter().map(|u| provider.register(u))).await;
    let _held = held.into_iter().collect::<Result<Vec<_>, _>>()?;
    let consumer = Registry::builder().register_consumers(false).connect(root).await?;
    let sub = consumer.subscribe_with("select", SubscribeOptions::default().register_consumer(false)).await?;
    sub.wait_for(Duration::from_secs(30), |s| s.len() == providers).await?;

    // The baseline: the same weighted pick (prefix sums, binary search) under a read lock.
    let set = sub.snapshot();
    let addresses: Vec<String> = set.providers().iter().map(|p| p.address().to_owned()).collect();
    let mut cumulative = Vec::with_capacity(providers);
    let mut total = 0u64;
    for p in set.providers() {
        total += u64::from(p.weight());
        cumulative.push(total);
    }
    let baseline = RwLock::new((addresses, cumulative));

    let ours = timed(threads, picks, |_| {
        let picked = sub.select().map(|p| p.weight());
        black_box(picked);
    });
    let base = timed(threads, picks, |r| {
        let guard = baseline.read().unwrap_or_else(|e| e.into_inner());
        let (addresses, cumulative) = &*guard;
        let total = cumulative.last().copied().unwrap_or(0);
        if total > 0 {
            let x = r % total;
            let i = cumulative.partition_point(|&c| c <= x);
            black_box(addresses[i].len());
        }
    });
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / picks as f64;
    let (ours_ns, base_ns) = (ns(ours), ns(base));
    Ok(format!(
        "select providers={providers} threads={threads} ns_per_pick={ours_ns:.1} baseline_ns_per_pick={base_ns:.1} ratio={:.3} picks_per_sec={:.0} baseline_picks_per_sec={:.0}",
        ours_ns / base_ns,
        (threads * picks) as f64 / ours.as_secs_f64(),
        (threads * picks) as f64 / base.as_secs_f64(),
    ))
}

/// Runs `pick` `picks` times on each of `threads` threads at once; returns the wall time.
fn timed(threads: usize, picks: usize, pick: impl Fn(u64) + Sync) -> Duration {
    let start = std::sync::Barrier::new(threads);
    let begun = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (pick, start) = (&pick, &start);
            scope.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                start.wait();
                for _ in 0..picks {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    pick(x);
                }
            });
        }
    });
    begun.elapsed()
}
