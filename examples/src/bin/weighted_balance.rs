//! zkmesh's weighted tower balancer over live ZooKeeper membership: three providers with
//! weights 100/100/50 get 40/40/20% of the calls; one starts refusing connections and is
//! ejected at its first failure (every picker of the subscription stops choosing it), then
//! recovers and comes back through a single probe call once its back-off is over.
//!
//! ```text
//! cargo run -p examples --bin weighted_balance -- --zk 127.0.0.1:2181
//! ```
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examples::BoxError;
use registry::{BalancerLoad, OutlierPolicy, ProviderSet, Registry, ServiceUrl, SubscribeOptions};
use tower::{Service, ServiceExt};

const WAIT: Duration = Duration::from_secs(5);
const FLAKY: &str = "10.0.0.1:8080";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("weighted_balance", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    let registry = Registry::builder().connect(&zk).await?;
    let mut registrations = Vec::new();
    for (i, weight) in [(1, 100), (2, 100), (3, 50)] {
        let url = ServiceUrl::parse(&format!("http://10.0.0.{i}:8080/echo?weight={weight}"))?;
        registrations.push(registry.register(&url).await?);
    }
    // Eject a provider at its first failure (for 1 s, doubling while its probes fail).
    let policy = OutlierPolicy::default().consecutive_failures(1);
    let echo = registry.subscribe_with("echo", SubscribeOptions::default().outlier(policy)).await?;
    echo.wait_for(WAIT, |set| set.len() == 3).await?;

    // One service per provider address; a real client would connect to `p.address()`. The
    // flaky one refuses connections while `down` is set: the balancer's default classifier
    // counts that as the provider's failure.
    let down = Arc::new(AtomicBool::new(false));
    let flag = down.clone();
    let balancer = echo.balancer(move |p| {
        let address = p.address().to_owned();
        let down = flag.clone();
        tower::service_fn(move |_request: usize| {
            let refused = address == FLAKY && down.load(Ordering::Relaxed);
            let answer: Result<String, std::io::Error> =
                if refused { Err(std::io::ErrorKind::ConnectionRefused.into()) } else { Ok(address.clone()) };
            std::future::ready(answer)
        })
    });
    // These services answer in nanoseconds: a latency average (the default load) would measure
    // only this machine's scheduling, so the example compares requests in flight instead; at
    // equal load, the draws follow the weights.
    let mut balancer = balancer.load(BalancerLoad::PendingRequests);

    println!("3000 calls over weights 100/100/50:");
    print_shares(&call(&mut balancer, 3000).await);

    down.store(true, Ordering::Relaxed);
    let during = call(&mut balancer, 300).await;
    let failed = during.get("failed").copied().unwrap_or(0);
    echo.wait_for(WAIT, |set| weight_of(set, FLAKY) == Some(0)).await?;
    println!("{FLAKY} refuses connections: ejected after {failed} failed call(s); 300 calls:");
    print_shares(&during);

    down.store(false, Ordering::Relaxed);
    tokio::time::timeout(WAIT, async {
        while weight_of(&echo.current(), FLAKY) != Some(100) {
            call(&mut balancer, 1).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await?;
    println!("{FLAKY} answers again: back after one probe call; 3000 more calls:");
    print_shares(&call(&mut balancer, 3000).await);
    for registration in registrations {
        registration.deregister().await?;
    }
    Ok(())
}

fn weight_of(set: &ProviderSet, address: &str) -> Option<u32> {
    set.providers().iter().find(|p| p.address() == address).map(|p| p.weight())
}

/// Makes `n` calls through the balancer, counting answers per provider address ("failed" for
/// errors).
async fn call<S>(balancer: &mut S, n: usize) -> BTreeMap<String, usize>
where
    S: Service<usize, Response = String, Error = BoxError>,
{
    let mut counts = BTreeMap::new();
    for request in 0..n {
        let answer = match balancer.ready().await {
            Ok(ready) => ready.call(request).await,
            Err(e) => Err(e),
        };
        *counts.entry(answer.unwrap_or_else(|_| "failed".to_owned())).or_default() += 1;
    }
    counts
}

fn print_shares(counts: &BTreeMap<String, usize>) {
    let total: usize = counts.values().sum();
    for (address, n) in counts {
        println!("  {address}: {n} calls ({:.1}%)", *n as f64 * 100.0 / total.max(1) as f64);
    }
}
