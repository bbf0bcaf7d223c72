//! Three providers with weights 100, 200 and 300; a subscription picks among them in proportion
//! to their weights, and its change stream reports one of them leaving.
//!
//! ```text
//! cargo run -p examples --bin discover -- --zk 127.0.0.1:2181
//! ```
use std::collections::BTreeMap;
use std::time::Duration;

use examples::BoxError;
use registry::{ProviderChange, Registry, ServiceUrl};

const WAIT: Duration = Duration::from_secs(5);
const PICKS: usize = 60_000;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("discover", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    let registry = Registry::builder().connect(&zk).await?;
    let mut registrations = Vec::new();
    for (i, weight) in [100, 200, 300].into_iter().enumerate() {
        let url = ServiceUrl::parse(&format!("http://10.0.0.{}:8080/orders?weight={weight}", i + 1))?;
        registrations.push(registry.register(&url).await?);
    }

    // `subscribe` returns once ZooKeeper has answered; `wait_for` waits for a state of the set.
    let orders = registry.subscribe("orders").await?;
    let set = orders.wait_for(WAIT, |set| set.len() == 3).await?;
    println!("subscription sees {} providers:", set.len());
    for p in set.providers() {
        println!("  {} weight {}", p.address(), p.weight());
    }

    // `select()` is lock-free: one atomic load of the current set, then the balancer (weighted
    // random by default, as in Dubbo).
    println!("select() {PICKS} times:");
    let mut picks: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..PICKS {
        let provider = orders.select().ok_or("no provider to pick")?;
        *picks.entry(provider.address().to_owned()).or_default() += 1;
    }
    let total_weight: u32 = set.providers().iter().map(|p| p.weight()).sum();
    let mut worst: f64 = 0.0;
    for p in set.providers() {
        let share = 100.0 * picks.get(p.address()).copied().unwrap_or(0) as f64 / PICKS as f64;
        let expected = 100.0 * f64::from(p.weight()) / f64::from(total_weight);
        worst = worst.max((share - expected).abs());
        println!("  {} picked {share:.1}% of the time (weight share {expected:.1}%)", p.address());
    }
    if worst > 2.0 {
        return Err(format!("a share is {worst:.1} points off its weight").into());
    }
    println!("every share within 2 points of its weight share");

    // The change stream starts by adding every current provider, then follows membership.
    let mut changes = orders.changes();
    for _ in 0..3 {
        if let Some(ProviderChange::Added(p)) = tokio::time::timeout(WAIT, changes.next()).await? {
            println!("change: + {}", p.address());
        }
    }
    let leaving = registrations.pop().ok_or("no registration")?;
    println!("{} deregisters", leaving.url().address());
    leaving.deregister().await?;
    match tokio::time::timeout(WAIT, changes.next()).await? {
        Some(ProviderChange::Removed(p)) => println!("change: - {}", p.address()),
        other => return Err(format!("expected a removal, got {other:?}").into()),
    }
    println!("subscription now sees {} providers", orders.current().len());
    Ok(())
}
