//! tower's power-of-two-choices balancer over live ZooKeeper membership: the subscription is a
//! tower `Discover`, each provider becomes a service (in-process `service_fn`s here, no network),
//! and when a provider deregisters the balancer stops sending it calls.
//!
//! ```text
//! cargo run -p examples --bin tower_balance -- --zk 127.0.0.1:2181
//! ```
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examples::BoxError;
use futures::StreamExt;
use registry::{Registry, ServiceUrl};
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{Service, ServiceExt};

const WAIT: Duration = Duration::from_secs(5);
const CALLS: usize = 300;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("tower_balance", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    let registry = Registry::builder().connect(&zk).await?;
    let mut registrations = Vec::new();
    for i in 1..=3 {
        let url = ServiceUrl::parse(&format!("http://10.0.0.{i}:8080/echo"))?;
        registrations.push(registry.register(&url).await?);
    }
    let echo = registry.subscribe("echo").await?;
    echo.wait_for(WAIT, |set| set.len() == 3).await?;

    // `discover` makes a service for each provider that appears (keyed by its URL) and removes it
    // when it goes. A real client would connect to `p.address()`; this one answers in-process.
    let discover = echo.discover(|p| {
        let address = p.address().to_owned();
        tower::service_fn(move |_request: usize| {
            let address = address.clone();
            async move { Ok::<_, Infallible>(address) }
        })
    });
    // Counts the membership changes the balancer has read (3 insertions to start with).
    let applied = Arc::new(AtomicUsize::new(0));
    let counter = applied.clone();
    let discover = discover.inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    // p2c compares loads: count requests in flight per provider. (tower's p2c draws uniformly and
    // ignores the registry's weights; `Subscription::balancer` is the weighted tower balancer,
    // see the `weighted_balance` example.)
    let discover = PendingRequestsDiscover::new(discover, CompleteOnResponse::default());
    let mut balance = Balance::new(discover);

    println!("{CALLS} calls over 3 providers:");
    print_counts(&call(&mut balance, CALLS).await?);

    let leaving = registrations.pop().ok_or("no registration")?;
    let gone = leaving.url().address();
    leaving.deregister().await?;
    // The balancer reads membership changes when it is polled for readiness, a moment after the
    // subscription has them: calls made in between still go to the leaving provider, which is
    // why a provider deregisters before it stops serving.
    tokio::time::timeout(WAIT, async {
        while applied.load(Ordering::SeqCst) < 4 {
            balance.ready().await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok::<_, BoxError>(())
    })
    .await??;
    println!("{gone} deregistered and out of the balancer; {CALLS} more calls:");
    let counts = call(&mut balance, CALLS).await?;
    print_counts(&counts);
    match counts.get(&gone) {
        Some(n) => return Err(format!("{n} calls still went to {gone}").into()),
        None => println!("calls to {gone} after it left: 0"),
    }
    Ok(())
}

/// Makes `n` calls through the balancer, counting answers per provider address.
async fn call<S>(balance: &mut S, n: usize) -> Result<BTreeMap<String, usize>, BoxError>
where
    S: Service<usize, Response = String, Error = BoxError>,
{
    let mut counts = BTreeMap::new();
    for request in 0..n {
        // `ready()` drives p2c: it applies membership changes and picks a ready provider.
        let address = balance.ready().await?.call(request).await?;
        *counts.entry(address).or_default() += 1;
    }
    Ok(counts)
}

fn print_counts(counts: &BTreeMap<String, usize>) {
    for (address, n) in counts {
        println!("  {address}: {n} calls");
    }
}
