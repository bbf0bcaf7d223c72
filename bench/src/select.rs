//! `zkbench select`: picks through `Subscription::select()` (the calling thread's copy of the
//! current set, weighted random) and through a `Selector` (one per thread:
//! `Subscription::selector()`, a picker the thread owns)
//! against a `RwLock<Vec<_>>` doing the same weighted pick over copies of the same providers,
//! all from T threads at once, each reading the provider it picked.
//!
//! The picks are split into rounds that alternate between the two, and each side's time per pick
//! is the median over its rounds, so that a burst of load from elsewhere on the machine (a
//! preempted thread) moves one round, not the result. A round's time runs from the moment all
//! its threads are released to the moment the last one is done.
//!
//! Several provider counts run one after the other, each on a service of its own, and print
//! one summary line each; `--plot` draws the cost per pick against the count.

use std::hint::black_box;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use registry::{Provider, ProviderSet, Registration, Registry, ServiceUrl, SubscribeOptions, Subscription};

use crate::plot::{Figure, PickCost};
use crate::BoxError;

pub async fn run(
    root: &str,
    counts: &[usize],
    threads: usize,
    picks: usize,
    figure: &mut Option<Figure>,
) -> Result<String, BoxError> {
    let threads = threads.max(1);
    let mut lines = Vec::new();
    let mut cost = PickCost::new(threads);
    for &providers in counts {
        let (line, per_pick_ns) = one_count(root, providers, threads, picks).await?;
        lines.push(line);
        let [ours, selector, base] = per_pick_ns;
        cost.push(providers, ours, selector, base);
    }
    *figure = Some(Figure::PickCost(cost));
    Ok(lines.join("\n"))
}

/// The picks on `providers` providers: the summary line and each side's ns per pick
/// (`select()`, `Selector`, baseline).
async fn one_count(
    root: &str,
    providers: usize,
    threads: usize,
    picks: usize,
) -> Result<(String, [f64; 3]), BoxError> {
    let fixture = Fixture::set_up(root, providers).await?;
    let sub = &fixture.sub;

    // The baseline: the same weighted pick (prefix sums, multiply-shift, binary search) over a
    // copy of the same providers, under a read lock; both sides read the picked provider.
    let set = sub.current();
    let baseline = RwLock::new(baseline(&set, providers));

    let ours = || {
        |_: u64| {
            let picked = sub.select().map(|p| p.weight());
            black_box(picked);
        }
    };
    let selector = || {
        let mut selector = sub.selector();
        move |_: u64| {
            let picked = selector.select().map(|p| p.weight());
            black_box(picked);
        }
    };
    let base = || {
        |r: u64| {
            let guard = baseline.read().unwrap_or_else(|e| e.into_inner());
            let (copies, cumulative) = &*guard;
            let total = cumulative.last().copied().unwrap_or(0);
            if total > 0 {
                let x = ((u128::from(r) * u128::from(total)) >> 64) as u64;
                let i = cumulative.partition_point(|&c| c <= x);
                black_box(copies[i].weight());
            }
        }
    };
    let per_round = (picks / ROUNDS).max(1);
    let medians = median_rounds(threads, per_round, ours, selector, base);
    let per_pick_ns = medians.map(|d| d.as_secs_f64() * 1e9 / per_round as f64);
    Ok((summary(providers, threads, per_round, medians), per_pick_ns))
}

/// What the picks run against, alive until the end of the run: `providers` providers
/// registered, and a consumer's subscription that holds them all. Dropped in field order.
struct Fixture {
    sub: Subscription,
    _consumer: Registry,
    _held: Vec<Registration>,
    _provider: Registry,
}

impl Fixture {
    async fn set_up(root: &str, providers: usize) -> Result<Fixture, BoxError> {
        // A service per count, so that a sweep's counts do not share providers.
        let service = format!("select-{providers}");
        let provider = Registry::builder().register_consumers(false).connect(root).await?;
        let urls = (0..providers)
            .map(|i| {
                ServiceUrl::new("http", "10.7.0.1", 1 + i as u16, &service)
                    .and_then(|u| u.with_param("weight", 50 + (i % 100) as u32))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let held = futures::future::join_all(urls.iter().map(|u| provider.register(u))).await;
        let _held = held.into_iter().collect::<Result<Vec<_>, _>>()?;
        let consumer = Registry::builder().register_consumers(false).connect(root).await?;
        let sub =
            consumer.subscribe_with(&service, SubscribeOptions::default().register_consumer(false)).await?;
        sub.wait_for(Duration::from_secs(30), |s| s.len() == providers).await?;
        Ok(Fixture { sub, _consumer: consumer, _held, _provider: provider })
    }
}

/// The baseline's copies of `set`'s providers and the prefix sums of their weights.
fn baseline(set: &ProviderSet, providers: usize) -> (Vec<Provider>, Vec<u64>) {
    let copies: Vec<Provider> = set.providers().to_vec();
    let mut cumulative = Vec::with_capacity(providers);
    let mut total = 0u64;
    for p in &copies {
        total += u64::from(p.weight());
        cumulative.push(total);
    }
    (copies, cumulative)
}

/// `ROUNDS` rounds, each timing the three sides in turn (ours, selector, baseline) with
/// `per_round` picks per thread; each side's median round, in that order.
fn median_rounds<A: FnMut(u64), B: FnMut(u64), C: FnMut(u64)>(
    threads: usize,
    per_round: usize,
    ours: impl Fn() -> A + Sync + Copy,
    selector: impl Fn() -> B + Sync + Copy,
    base: impl Fn() -> C + Sync + Copy,
) -> [Duration; 3] {
    let mut rounds: [Vec<Duration>; 3] = Default::default();
    for _ in 0..ROUNDS {
        rounds[0].push(timed(threads, per_round, ours));
        rounds[1].push(timed(threads, per_round, selector));
        rounds[2].push(timed(threads, per_round, base));
    }
    rounds.map(median)
}

/// The summary line from each side's median round.
fn summary(providers: usize, threads: usize, per_round: usize, medians: [Duration; 3]) -> String {
    let [ours, selector, base] = medians;
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / per_round as f64;
    let (ours_ns, selector_ns, base_ns) = (ns(ours), ns(selector), ns(base));
    let per_sec = |d: Duration| (threads * per_round) as f64 / d.as_secs_f64();
    format!(
        "select providers={providers} threads={threads} ns_per_pick={ours_ns:.1} baseline_ns_per_pick={base_ns:.1} ratio={:.3} \
         selector_ns_per_pick={selector_ns:.1} selector_ratio={:.3} picks_per_sec={:.0} selector_picks_per_sec={:.0} \
         baseline_picks_per_sec={:.0} rounds={ROUNDS}",
        ours_ns / base_ns,
        selector_ns / base_ns,
        per_sec(ours),
        per_sec(selector),
        per_sec(base),
    )
}

/// Rounds each side's picks are split into.
const ROUNDS: usize = 20;

fn median(mut rounds: Vec<Duration>) -> Duration {
    rounds.sort_unstable();
    rounds[rounds.len() / 2]
}

/// Runs a picker made by `make` (one per thread, made before the start) `picks` times on each
/// of `threads` threads at once; returns the time from their common start to the last one's end.
fn timed<F: FnMut(u64)>(threads: usize, picks: usize, make: impl Fn() -> F + Sync) -> Duration {
    let start = std::sync::Barrier::new(threads);
    let begun = std::sync::OnceLock::new();
    let ends: Vec<Instant> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (make, start, begun) = (&make, &start, &begun);
                scope.spawn(move || {
                    let mut pick = make();
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                    if start.wait().is_leader() {
                        begun.get_or_init(Instant::now);
                    }
                    for _ in 0..picks {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        pick(x);
                    }
                    Instant::now()
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    let begun = begun.get().copied().unwrap_or_else(Instant::now);
    ends.into_iter().max().map_or(Duration::ZERO, |end| end.saturating_duration_since(begun))
}
