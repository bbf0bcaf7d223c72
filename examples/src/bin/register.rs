//! A provider registers its URL, a consumer sees it, the provider deregisters.
//!
//! ```text
//! cargo run -p examples --bin register -- --zk 127.0.0.1:2181
//! ```
use std::time::Duration;

use examples::BoxError;
use registry::{Registry, ServiceUrl, SubscribeOptions};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("register", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    // One registry (one ZooKeeper session) serves the provider and the consumer side alike.
    let registry = Registry::builder().connect(&zk).await?;

    // The provider: its URL becomes an ephemeral node under /services/greeter/providers, kept
    // alive by the session (re-created after session expiry) until deregistered.
    let url = ServiceUrl::parse("http://10.0.0.5:8080/greeter?version=1.0&weight=100")?;
    let registration = registry.register(&url).await?;
    registration.wait_registered(WAIT).await?;
    println!("registered {}", registration.url()); // with a `timestamp` added
    println!("node path: {}", registration.path()); // the URL, percent-encoded, as the node name
    println!("status: {:?}", registration.status()); // Active { session_id }
    let services: Vec<String> = registry.services().await?.into_iter().map(|s| s.name).collect();
    println!("services: {services:?}"); // each listing also says its layouts and counts

    // The consumer. Empty protection (on by default) would keep the last provider when the list
    // turns empty, which is right in production; off here, to watch the provider go.
    let greeter =
        registry.subscribe_with("greeter", SubscribeOptions::default().empty_protection(false)).await?;
    if let Some(consumer) = greeter.consumer_node() {
        println!("consumer registered at {}", consumer.path());
    }
    let set = greeter.wait_for(WAIT, |set| set.len() == 1).await?;
    for provider in set.providers() {
        println!("subscription sees {} (weight {})", provider.address(), provider.weight());
    }

    // Deregister before draining: returns once ZooKeeper has deleted the node.
    registration.deregister().await?;
    let set = greeter.wait_for(WAIT, |set| set.is_empty()).await?;
    println!("deregistered; subscription sees {} providers", set.len());
    Ok(())
}
