//! `cargo run -p rpc-demo`: a small greeter cluster on a real ZooKeeper, narrated step by step.
//!
//! With no arguments it starts a local ZooKeeper (Debian's `zookeeper` package) on a free
//! loopback port; `--zk HOST:PORT` uses an existing one. Exits non-zero when a step fails.
#![forbid(unsafe_code)]

mod steer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use config_center::{ConfigCenter, Expect};
use local_zk::LocalZooKeeper;
use registry::{ProviderHealth, Registry};
use rpc_demo::{BoxError, GreeterClient, GreeterProvider, Settings};

/// The zkmesh demo.
#[derive(Debug, Parser)]
#[command(name = "rpc-demo", about = "zkmesh demo: providers, a weight-balanced consumer, a config change")]
struct Args {
    /// Use this ZooKeeper (connect string) instead of starting a local one.
    #[arg(long, env = "ZKMESH_ZK")]
    zk: Option<String>,
    /// Requests sent in each step.
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// How many providers (at least 2); the last has weight 50, the others 100.
    #[arg(long, default_value_t = 3)]
    providers: usize,
    /// Serve Prometheus metrics (zkmesh_* from the registry and config center) on this address,
    /// e.g. 127.0.0.1:9464, and keep the process alive 30 s at the end so they can be scraped.
    #[arg(long)]
    metrics: Option<std::net::SocketAddr>,
    /// ZooKeeper session timeout of the providers, in seconds (how long a killed provider stays
    /// registered).
    #[arg(long, default_value_t = 4)]
    session_timeout: u64,
}

struct Narrator {
    start: Instant,
}

impl Narrator {
    fn say(&self, text: impl AsRef<str>) {
        println!("[{:>6.2}s] {}", self.start.elapsed().as_secs_f64(), text.as_ref());
    }

    fn step(&self, n: usize, title: &str) {
        println!();
        println!("== Step {n}: {title}");
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => {
            println!();
            println!("demo finished: every step passed");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!();
            eprintln!("demo failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    if args.providers < 2 {
        return Err("--providers must be at least 2".into());
    }
    let n = Narrator { start: Instant::now() };
    println!("zkmesh demo: service discovery and config on a real ZooKeeper");
    println!();
    if let Some(addr) = args.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        n.say(format!("Prometheus metrics on http://{addr}/metrics"));
    }
    let (connect, _local) = zookeeper(&args, &n).await?;
    // Each run in its own chroot, so runs never see each other's nodes.
    let connect = format!("{connect}/zkmesh-demo-{}", std::process::id());

    n.step(1, "providers register, a consumer discovers them");
    let mut providers = start_providers(&args, &n, &connect).await?;
    let consumer_registry = Registry::builder().connect(&connect).await?;
    let client = GreeterClient::new(&consumer_registry).await?;
    let seen = client.subscription().wait_for(Duration::from_secs(10), |s| s.len() == args.providers).await?;
    n.say(format!(
        "consumer sees {} providers of greeter (lock-free cache, version {})",
        seen.len(),
        seen.version()
    ));

    n.step(2, "requests through zkmesh's weighted balancer (two draws by weight, the lower load per weight)");
    balanced_requests(&args, &n, &client, &providers).await?;

    n.step(3, "graceful shutdown of the last provider: deregister first, then drain");
    let leaving = providers.pop().ok_or("no provider")?;
    let client = graceful_shutdown(&args, &n, client, leaving).await?;

    n.step(4, "a config change reaches the running providers");
    let center = ConfigCenter::builder().build(consumer_registry.session().clone())?;
    config_change(&n, &center, &client, &providers).await?;

    n.step(5, "an operator steers traffic: a provider disabled under load, then a 10% canary by version");
    let client = steer::run(&args, &n, client, &providers, &connect).await?;

    n.step(6, "a provider is killed abruptly (no deregistration)");
    let victim = providers.remove(0);
    abrupt_kill(&args, &n, &connect, client, victim).await?;
    if let Some(addr) = args.metrics {
        n.say(format!("keeping the metrics up for 30 s: curl http://{addr}/metrics"));
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    drop(providers);
    Ok(())
}

/// The ZooKeeper to use: `--zk`, or a local one started here (kept alive by the second value).
async fn zookeeper(args: &Args, n: &Narrator) -> Result<(String, Option<LocalZooKeeper>), BoxError> {
    match &args.zk {
        Some(zk) => {
            n.say(format!("using ZooKeeper at {zk}"));
            Ok((zk.clone(), None))
        }
        None => {
            n.say("starting a local ZooKeeper (local-zk) ...");
            let zk = LocalZooKeeper::start().await?;
            n.say(format!("ZooKeeper serving on {}", zk.connect_string()));
            Ok((zk.connect_string(), Some(zk)))
        }
    }
}

/// Step 1: `--providers` providers, the last with weight 50.
async fn start_providers(args: &Args, n: &Narrator, connect: &str) -> Result<Vec<GreeterProvider>, BoxError> {
    let session_timeout = Duration::from_secs(args.session_timeout);
    let mut providers = Vec::new();
    for i in 1..=args.providers {
        let weight = if i == args.providers { 50 } else { 100 };
        let name = format!("p{i}");
        let p = GreeterProvider::start(connect, &name, 0, weight, session_timeout).await?;
        n.say(format!("provider {name} listening on {}, registered {}", p.addr(), display_url(&p)));
        providers.push(p);
    }
    Ok(providers)
}

/// Step 2: requests through the weighted balancer, and the shares of the registry's `select()`.
async fn balanced_requests(
    args: &Args,
    n: &Narrator,
    client: &GreeterClient,
    providers: &[GreeterProvider],
) -> Result<(), BoxError> {
    send(client, args.requests, 8, n).await?;
    print_table(client, providers);
    let mut picks = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..10_000 {
        if let Some(p) = client.subscription().select() {
            *picks.entry(p.url().param("provider").unwrap_or("?").to_owned()).or_default() += 1;
        }
    }
    let shares: Vec<String> =
        picks.iter().map(|(name, c)| format!("{name} {:.1}%", *c as f64 / 100.0)).collect();
    n.say("the balancer follows the registered weights (and moves away from a slow provider); so does select():");
    n.say(format!("  10,000 weighted-random select() picks: {}", shares.join(", ")));
    expect(client.stats().failed() == 0, "requests failed while every provider was up")
}

/// Step 3: `leaving` deregisters and drains under load; no request may fail.
async fn graceful_shutdown(
    args: &Args,
    n: &Narrator,
    client: GreeterClient,
    leaving: GreeterProvider,
) -> Result<GreeterClient, BoxError> {
    client.stats().reset();
    let leaving_name = leaving.name().to_owned();
    let client = Arc::new(client);
    let load = tokio::spawn(send_owned(client.clone(), args.requests, 4));
    let t0 = Instant::now();
    leaving.shutdown(Duration::from_millis(500)).await?;
    n.say(format!("{leaving_name} deregistered and drained in {} ms", t0.elapsed().as_millis()));
    client.subscription().wait_for(Duration::from_secs(10), |s| s.len() == args.providers - 1).await?;
    load.await??;
    let client = Arc::try_unwrap(client).map_err(|_| "the client is still shared")?;
    n.say(format!(
        "requests during the change: {} ok, {} failed, {} retried",
        client.stats().ok(),
        client.stats().failed(),
        client.stats().retries()
    ));
    expect(client.stats().failed() == 0, "a graceful shutdown must not fail a request")?;
    Ok(client)
}

/// Step 4: a bad document is refused at publish, a good one reaches every running provider.
async fn config_change(
    n: &Narrator,
    center: &ConfigCenter,
    client: &GreeterClient,
    providers: &[GreeterProvider],
) -> Result<(), BoxError> {
    let spec = center
        .config::<Settings>(rpc_demo::CONFIG_NAMESPACE, rpc_demo::CONFIG_NAME)?
        .validator(Settings::validate);
    let before = client.hello("zkmesh").await?;
    // A bad document is refused before it is written: a publisher cannot push what providers
    // would refuse.
    let refused = spec.publish(&Settings { greeting: " ".into(), delay_ms: 0 }, Expect::Any).await;
    n.say(format!(
        "publishing an empty greeting: refused ({})",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    ));
    let t0 = Instant::now();
    let published = spec.publish(&Settings { greeting: "Howdy".into(), delay_ms: 2 }, Expect::Any).await?;
    n.say(format!(
        "published {} version {}: greeting \"Howdy\", delay_ms 2",
        published.path, published.version
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while providers.iter().any(|p| p.settings_version() != Some(published.version)) {
        expect(Instant::now() < deadline, "providers did not pick up the new settings within 10 s")?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    n.say(format!(
        "all {} running providers hot-reloaded it within {:.1} ms, no restart",
        providers.len(),
        t0.elapsed().as_secs_f64() * 1e3
    ));
    let after = client.hello("zkmesh").await?;
    n.say(format!("before: {:?}  after: {:?}", before.message, after.message));
    expect(after.message.starts_with("Howdy"), "the new greeting was not served")
}

/// Step 6: `victim` dies without deregistering: the consumer ejects it at its first failed
/// request (retried elsewhere), long before ZooKeeper expires its session; it comes back on
/// the same address before that and the consumer's probe readmits it.
async fn abrupt_kill(
    args: &Args,
    n: &Narrator,
    connect: &str,
    client: GreeterClient,
    victim: GreeterProvider,
) -> Result<(), BoxError> {
    let session_timeout = Duration::from_secs(args.session_timeout);
    client.stats().reset();
    let victim_name = victim.name().to_owned();
    let victim_addr = victim.addr();
    let victim_address = victim_addr.to_string();
    let killed_at = Instant::now();
    victim.kill().await;
    n.say(format!("{victim_name} killed; its node stays in ZooKeeper until its session expires"));
    let client = Arc::new(client);
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(send_until(client.clone(), stop.clone(), 4));
    let ejected = |s: &registry::ProviderSet| {
        s.providers().iter().any(|p| p.address() == victim_address && p.health() != ProviderHealth::Healthy)
    };
    client.subscription().wait_for(session_timeout * 3 + Duration::from_secs(5), ejected).await?;
    n.say(format!(
        "{victim_name} ejected at its first failed request, {} ms after the kill (its session still open)",
        killed_at.elapsed().as_millis()
    ));
    let back = readmit(args, n, connect, &client, &victim_name, victim_addr).await?;
    back.kill().await;
    n.say(format!("{victim_name} stops again, for good: ejected again, then its session expires"));
    client
        .subscription()
        .wait_for(session_timeout * 3 + Duration::from_secs(5), |s| s.len() == args.providers - 2)
        .await?;
    n.say(format!(
        "ZooKeeper expired {victim_name}'s session: the consumer dropped it {:.1} s after the kill",
        killed_at.elapsed().as_secs_f64()
    ));
    stop.store(true, Ordering::Relaxed);
    load.await??;
    n.say(format!(
        "requests meanwhile: {} ok, {} failed, {} retried on another provider (the failures that ejected {victim_name}, and its probes)",
        client.stats().ok(),
        client.stats().failed(),
        client.stats().retries()
    ));
    expect(client.stats().failed() == 0, "requests failed although a live provider remained")
}

/// The killed provider listens again on `addr` while its old node still stands (a quick
/// restart): the consumer's probe, one request after the ejection's back-off, readmits it.
async fn readmit(
    args: &Args,
    n: &Narrator,
    connect: &str,
    client: &GreeterClient,
    name: &str,
    addr: std::net::SocketAddr,
) -> Result<GreeterProvider, BoxError> {
    let session_timeout = Duration::from_secs(args.session_timeout);
    let back = GreeterProvider::serve(connect, name, addr.port(), session_timeout).await?;
    let listening = Instant::now();
    n.say(format!("{name} listens again on {addr} before its session expired (its node still stands)"));
    let address = addr.to_string();
    let readmitted = |s: &registry::ProviderSet| {
        s.providers().iter().any(|p| p.address() == address && p.health() == ProviderHealth::Healthy)
    };
    client.subscription().wait_for(session_timeout * 3 + Duration::from_secs(5), readmitted).await?;
    n.say(format!(
        "{name} readmitted by the consumer's probe {} ms after it listened again; it has served {} requests since",
        listening.elapsed().as_millis(),
        back.served()
    ));
    expect(back.served() >= 1, "the readmitted provider served no probe")?;
    Ok(back)
}

fn display_url(p: &GreeterProvider) -> String {
    p.url().map(|u| u.to_string()).unwrap_or_default()
}

fn expect(ok: bool, what: &str) -> Result<(), BoxError> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

async fn send(
    client: &GreeterClient,
    total: usize,
    concurrency: usize,
    n: &Narrator,
) -> Result<(), BoxError> {
    let started = Instant::now();
    let per_task = total.div_ceil(concurrency);
    let calls = (0..concurrency).map(|t| async move {
        for i in 0..per_task {
            if t * per_task + i >= total {
                break;
            }
            let _ = client.hello(&format!("user{i}")).await;
        }
    });
    futures::future::join_all(calls).await;
    n.say(format!("{total} requests in {} ms", started.elapsed().as_millis()));
    Ok(())
}

async fn send_owned(client: Arc<GreeterClient>, total: usize, concurrency: usize) -> Result<(), BoxError> {
    let per_task = total.div_ceil(concurrency);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    let _ = client.hello(&format!("user{i}")).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    Ok(())
}

/// Sends requests from `concurrency` tasks, one every 5 ms each, until `stop` is set.
async fn send_until(
    client: Arc<GreeterClient>,
    stop: Arc<AtomicBool>,
    concurrency: usize,
) -> Result<(), BoxError> {
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let _ = client.hello(&format!("user{i}")).await;
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    Ok(())
}

fn print_table<'a>(client: &GreeterClient, providers: impl IntoIterator<Item = &'a GreeterProvider>) {
    let counts = client.stats().per_provider();
    let total: u64 = counts.values().sum();
    println!("  {:<8} {:<22} {:>6} {:>9} {:>7}", "PROVIDER", "ADDRESS", "WEIGHT", "REQUESTS", "SHARE");
    for p in providers {
        let c = counts.get(p.name()).copied().unwrap_or(0);
        let weight = p.url().map(|u| u.weight()).unwrap_or(0);
        let share = if total > 0 { c as f64 * 100.0 / total as f64 } else { 0.0 };
        println!("  {:<8} {:<22} {:>6} {:>9} {:>6.1}%", p.name(), p.addr().to_string(), weight, c, share);
    }
}
