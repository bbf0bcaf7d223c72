//! The demo's operator step: a provider disabled through the rules (what `zkmesh provider
//! disable` does, through `config_center::RulesStore`) while requests flow, then a 10% canary
//! of a new version through a rules split.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use config_center::{Expect, RulesStore};
use registry::Session;
use rpc_demo::{BoxError, GreeterClient, GreeterProvider};

use crate::{expect, print_table, send_until, Args, Narrator};

const SERVICE: &str = "greeter";
const CANARY: &str = "[split]\nby = \"version\"\nshares = { \"2\" = 10 }\n";

/// Disables `providers[0]` under load (no failed request, its traffic drops to 0), enables it
/// again, then sends a 10% canary to a version 2 provider started here (stopped at the end).
pub async fn run(
    args: &Args,
    n: &Narrator,
    client: GreeterClient,
    providers: &[GreeterProvider],
    connect: &str,
) -> Result<GreeterClient, BoxError> {
    let store = RulesStore::new(Session::connect(connect).await?)?;
    let client = disable(n, client, providers, &store).await?;
    store.enable(SERVICE, &providers[0].addr().to_string()).await?;
    let sub = client.subscription();
    sub.wait_for(Duration::from_secs(10), |s| s.len() == providers.len()).await?;
    n.say(format!("{} enabled again (`zkmesh provider enable`)", providers[0].name()));
    canary(args, n, &client, providers, &store, connect).await?;
    Ok(client)
}

async fn disable(
    n: &Narrator,
    client: GreeterClient,
    providers: &[GreeterProvider],
    store: &RulesStore,
) -> Result<GreeterClient, BoxError> {
    let target = &providers[0];
    let address = target.addr().to_string();
    client.stats().reset();
    let client = Arc::new(client);
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(send_until(client.clone(), stop.clone(), 4));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    let published = store.disable(SERVICE, &address, false).await?;
    let gone = |s: &registry::ProviderSet| s.providers().iter().all(|p| p.address() != address);
    client.subscription().wait_for(Duration::from_secs(10), gone).await?;
    n.say(format!(
        "`zkmesh provider disable greeter {address}`: rules version {} published (checked: no consumer stranded); \
         the consumer's set left {} out {:.1} ms later",
        published.version,
        target.name(),
        t0.elapsed().as_secs_f64() * 1e3
    ));
    // Requests already sent to it may still be answered; from here on it gets none.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let served_then = target.served();
    client.stats().reset();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    load.await??;
    let client = Arc::try_unwrap(client).map_err(|_| "the client is still shared")?;
    print_table(&client, providers);
    let after = target.served() - served_then;
    n.say(format!(
        "{} received {after} requests after its disable; {} ok, {} failed meanwhile",
        target.name(),
        client.stats().ok(),
        client.stats().failed()
    ));
    expect(after == 0, "a disabled provider still received requests")?;
    expect(client.stats().failed() == 0, "a disable must not fail a request")?;
    Ok(client)
}

async fn canary(
    args: &Args,
    n: &Narrator,
    client: &GreeterClient,
    providers: &[GreeterProvider],
    store: &RulesStore,
    connect: &str,
) -> Result<(), BoxError> {
    let timeout = Duration::from_secs(args.session_timeout);
    let canary = GreeterProvider::start_version(connect, "canary", 0, 100, "2", timeout).await?;
    let sub = client.subscription();
    sub.wait_for(Duration::from_secs(10), |s| s.len() == providers.len() + 1).await?;
    let published = store.put(SERVICE, CANARY, Expect::Any, false).await?;
    sub.wait_for(Duration::from_secs(10), |s| s.providers().iter().any(|p| p.weight() != 100)).await?;
    n.say(format!(
        "provider canary (version 2) registered; rules version {}: `[split] by = \"version\", shares = {{ \"2\" = 10 }}`",
        published.version
    ));
    client.stats().reset();
    crate::send(client, args.requests * 5, 8, n).await?;
    print_table(client, providers.iter().chain([&canary]));
    let counts = client.stats().per_provider();
    let total: u64 = counts.values().sum();
    let share = counts.get("canary").copied().unwrap_or(0) as f64 * 100.0 / total.max(1) as f64;
    n.say(format!("version 2 received {share:.1}% of the requests (the split says 10%)"));
    expect((5.0..15.0).contains(&share), "the canary's share is far from 10%")?;
    expect(client.stats().failed() == 0, "requests failed during the canary")?;
    store.put(SERVICE, "", Expect::Any, false).await?;
    canary.shutdown(Duration::from_millis(200)).await?;
    sub.wait_for(Duration::from_secs(10), |s| s.len() == providers.len()).await?;
    n.say("canary stopped and the rules emptied (`zkmesh rules put greeter empty.toml`)");
    Ok(())
}
