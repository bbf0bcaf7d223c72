//! `zkbench storm`: P registrations from S sessions at once; how long after the last create
//! the consumer's cache holds all P, and how many reads it issued.

use std::time::{Duration, Instant};

use registry::{Registry, ServiceUrl, SubscribeOptions};

use crate::BoxError;

pub async fn run(root: &str, providers: usize, sessions: usize) -> Result<String, BoxError> {
    let sessions = sessions.max(1);
    let consumer = Registry::builder().register_consumers(false).connect(root).await?;
    let sub = consumer.subscribe_with("storm", SubscribeOptions::default().register_consumer(false)).await?;
    let mut registries = Vec::new();
    for _ in 0..sessions {
        registries.push(Registry::builder().register_consumers(false).connect(root).await?);
    }
    let reads_before = consumer.session().reads_issued();

    let mut updates = sub.updates();
    let converged = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(60), updates.wait_for(|s| s.len() >= providers)).await;
        Instant::now()
    });
    let started = Instant::now();
    let per_session = providers.div_ceil(sessions);
    let tasks: Vec<_> = registries
        .iter()
        .enumerate()
        .map(|(s, registry)| {
            let registry = registry.clone();
            tokio::spawn(async move {
                let urls = (s * per_session..((s + 1) * per_session).min(providers))
                    .map(|n| ServiceUrl::new("http", "10.8.0.1", 1 + n as u16, "storm"))
                    .collect::<Result<Vec<_>, _>>()?;
                // All of a session's creates in flight at once.
                let results = futures::future::join_all(urls.iter().map(|u| registry.register(u))).await;
                let last = Instant::now();
                let held = results.into_iter().collect::<Result<Vec<_>, _>>()?;
                Ok::<_, registry::Error>((held, last))
            })
        })
        .collect();
    let mut last_create = started;
    let mut held = Vec::new();
    for task in tasks {
        let (registrations, last) = task.await??;
        last_create = last_create.max(last);
        held.push(registrations);
    }
    let converged = converged.await?;
    let total = sub.snapshot().len();
    if total < providers {
        return Err(format!("the consumer saw {total} of {providers} providers within 60 s").into());
    }
    let after_last_ms = converged.saturating_duration_since(last_create).as_secs_f64() * 1e3;
    let reads = consumer.session().reads_issued() - reads_before;
    Ok(format!(
        "storm providers={providers} sessions={sessions} create_all_ms={:.1} converged_after_last_create_ms={after_last_ms:.2} consumer_reads={reads}",
        (last_create - started).as_secs_f64() * 1e3
    ))
}
