//! `zkbench scale`: one consumer subscribing to many services: initial sync time, memory, and
//! how fast an update reaches it afterwards.

use std::time::{Duration, Instant};

use registry::{Registry, ServiceUrl, SubscribeOptions};

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
    let sessions = 10;
    let mut registries = Vec::new();
    for _ in 0..sessions {
        registries.push(Registry::builder().register_consumers(false).connect(root).await?);
    }
    let name = |s: usize| format!("svc{s:05}");
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

    let mut updates = Samples::default();
    let provider = &registries[0];
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
    Ok(format!(
        "scale services={services} providers={} initial_sync_ms={initial_sync_ms:.0} rss_mb={rss:.0} consumer_rss_mb={:.0} update_p50_us={:.0} update_p99_us={:.0}",
        services * per_service,
        rss - rss_before,
        updates.p50(),
        updates.p99(),
    ))
}
