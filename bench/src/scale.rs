//! `zkbench scale`: one consumer subscribing to many services: initial sync time, memory, and
//! how fast an update reaches it afterwards.

use std::time::{Duration, Instant};

use registry::{Registration, Registry, ServiceUrl, SubscribeOptions, Subscription};

use crate::stats::Samples;
use crate::BoxError;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub async fn run(root: &str, services: usize, per_service: usize, trials: usize) -> Result<String, BoxError> {
    let (registries, mut held) = populate(root, services, per_service).await?;
    let sync = initial_sync(root, services, per_service).await?;
    let mut updates = update_trials(&registries[0], &sync.subs, services, trials, &mut held).await?;
    Ok(format!(
        "scale services={services} providers={} initial_sync_ms={initial_sync_ms:.0} rss_mb={rss:.0} consumer_rss_mb={:.0} update_p50_us={:.0} update_p99_us={:.0}",
        services * per_service,
        sync.rss - sync.rss_before,
        updates.p50(),
        updates.p99(),
        initial_sync_ms = sync.initial_sync_ms,
        rss = sync.rss,
    ))
}

fn name(s: usize) -> String {
    format!("svc{s:05}")
}

/// Registers `per_service` providers of each of `services` services from 10 sessions (500
/// creates in flight per session at a time); returns the sessions and the registrations.
async fn populate(
    root: &str,
    services: usize,
    per_service: usize,
) -> Result<(Vec<Registry>, Vec<Registration>), BoxError> {
    let sessions = 10;
    let mut registries = Vec::new();
    for _ in 0..sessions {
        registries.push(Registry::builder().register_consumers(false).connect(root).await?);
    }
    let started = Instant::now();
    let mut held = Vec::new();
    for (i, registry) in registries.iter().enumerate() {
        let urls = (0..services * per_service)
            .filter(|n| n % sessions == i)
            .map(|n| ServiceUrl::new("http", "10.6.0.1", 1 + (n / services) as u16, &name(n % services)))
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in urls.chunks(500) {
            let results = futures::future::join_all(chunk.iter().map(|u| registry.register(u))).await;
            held.extend(results.into_iter().collect::<Result<Vec<_>, _>>()?);
        }
    }
    eprintln!("zkbench: {} providers registered in {:.1} s", held.len(), started.elapsed().as_secs_f64());
    Ok((registries, held))
}

/// A new consumer's subscriptions to every service, once each holds all its providers, with
/// what that took: time, and the process's RSS before the consumer connected and after.
/// Dropped in field order.
struct InitialSync {
    subs: Vec<Subscription>,
    _consumer: Registry,
    initial_sync_ms: f64,
    rss_before: f64,
    rss: f64,
}

async fn initial_sync(root: &str, services: usize, per_service: usize) -> Result<InitialSync, BoxError> {
    let rss_before = rss_mb();
    let consumer = Registry::builder().register_consumers(false).connect(root).await?;
    let options = SubscribeOptions::default().register_consumer(false);
    let t0 = Instant::now();
    let names: Vec<String> = (0..services).map(name).collect();
    let subs = futures::future::join_all(names.iter().map(|n| consumer.subscribe_with(n, options.clone())))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    for sub in &subs {
        sub.wait_for(Duration::from_secs(60), |s| s.len() == per_service).await?;
    }
    let initial_sync_ms = t0.elapsed().as_secs_f64() * 1e3;
    let rss = rss_mb();
    Ok(InitialSync { subs, _consumer: consumer, initial_sync_ms, rss_before, rss })
}

/// `trials` updates: each registers a provider of one of the services through `provider`,
/// timed from the call until the consumer's cache holds it; the registrations join `held`.
async fn update_trials(
    provider: &Registry,
    subs: &[Subscription],
    services: usize,
    trials: usize,
    held: &mut Vec<Registration>,
) -> Result<Samples, BoxError> {
    let mut updates = Samples::default();
    for trial in 0..trials {
        let s = (trial * 7919) % services;
        // With its own timestamp, so that the URL registered is this one (`register` adds one
        // to a URL without) and the cache can be asked for it before `register` returns.
        let url =
            ServiceUrl::new("http", "10.6.1.1", 1 + trial as u16, &name(s))?.with_param("timestamp", 1)?;
        let sub = &subs[s];
        let mut rx = sub.updates();
        rx.borrow_and_update();
        let t = Instant::now();
        let (reg, _) = tokio::join!(provider.register(&url), async {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|set| set.get(&url).is_some()))
                .await;
        });
        updates.push(t.elapsed());
        let reg = reg.map_err(|e| format!("update {trial}: registering {url}: {e}"))?;
        if sub.current().get(&url).is_none() {
            return Err(format!(
                "update {trial} not seen within 10 s ({} providers in the cache)",
                sub.current().len()
            )
            .into());
        }
        held.push(reg);
    }
    Ok(updates)
}
