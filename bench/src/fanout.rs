//! `zkbench fanout`: many consumers of one large service, one provider change at a time:
//! bytes ZooKeeper sends per change per consumer and the ZooKeeper process's CPU time per
//! change, the one-shot path (a child watch and a full read per change) against the
//! persistent watch (the event alone), in one run on one ZooKeeper.
//!
//! Bytes are counted by a loopback TCP proxy (`tests::Proxy`) that carries only the
//! consumers' sessions: everything ZooKeeper sends them (events, read answers, pings) over the
//! measured changes. CPU time is `utime + stime` of the ZooKeeper JVM from `/proc/<pid>/stat`
//! (the local server's pid; not measured with `--zk`); it includes serving the writer's
//! create or delete, the same on both paths.

use std::time::{Duration, Instant};

use registry::{Registration, Registry, ServiceUrl, SubscribeOptions, Subscription, WatchStrategy};
use tests::Proxy;

use crate::BoxError;

const SERVICE: &str = "fanout";
const WAIT: Duration = Duration::from_secs(60);

/// The fanout settings.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Args {
    /// Consumers, each on its own session.
    #[arg(long, default_value_t = 200)]
    pub consumers: usize,
    /// Providers registered before the changes.
    #[arg(long, default_value_t = 2000)]
    pub providers: usize,
    /// Measured changes per path (a provider registered, then deregistered, alternately).
    #[arg(long, default_value_t = 20)]
    pub changes: usize,
}

/// What one path cost over the measured changes.
struct Cost {
    bytes_per_change_per_consumer: f64,
    cpu_ms_per_change: Option<f64>,
    seconds: f64,
}

/// Runs both paths against the ZooKeeper of `root` (`host:port/chroot`); `pid`: its process.
pub async fn run(root: &str, pid: Option<u32>, args: Args) -> Result<String, BoxError> {
    let (hosts, chroot) = root.split_once('/').ok_or("the root has no chroot")?;
    let writer = Registry::builder()
        .register_consumers(false)
        .session_timeout(Duration::from_secs(30))
        .connect(root)
        .await?;
    let _held = populate(&writer, args.providers).await?;
    let mut out =
        format!("fanout consumers={} providers={} changes={}", args.consumers, args.providers, args.changes);
    let mut costs = Vec::new();
    for (name, strategy) in [("oneshot", WatchStrategy::OneShot), ("persistent", WatchStrategy::Persistent)] {
        let cost = measure(hosts, chroot, &writer, strategy, pid, args).await?;
        out.push_str(&format!(
            " {name}_bytes_per_change_per_consumer={:.0} {name}_zk_cpu_ms_per_change={} {name}_s={:.1}",
            cost.bytes_per_change_per_consumer,
            cost.cpu_ms_per_change.map_or("n/a".into(), |c| format!("{c:.2}")),
            cost.seconds,
        ));
        costs.push(cost);
    }
    let ratio = costs[1].bytes_per_change_per_consumer / costs[0].bytes_per_change_per_consumer;
    out.push_str(&format!(" bytes_ratio={ratio:.4}"));
    if let (Some(one), Some(per)) = (costs[0].cpu_ms_per_change, costs[1].cpu_ms_per_change) {
        out.push_str(&format!(" cpu_ratio={:.3}", per / one));
    }
    Ok(out)
}

/// Registers `n` providers of the service from `writer` (500 creates in flight at a time).
async fn populate(writer: &Registry, n: usize) -> Result<Vec<Registration>, BoxError> {
    let started = Instant::now();
    let urls = (0..n)
        .map(|i| ServiceUrl::new("http", &format!("10.7.{}.{}", i / 250, i % 250), 8080, SERVICE))
        .collect::<Result<Vec<_>, _>>()?;
    let mut held = Vec::with_capacity(n);
    for chunk in urls.chunks(500) {
        let results = futures::future::join_all(chunk.iter().map(|u| writer.register(u))).await;
        held.extend(results.into_iter().collect::<Result<Vec<_>, _>>()?);
    }
    eprintln!("zkbench: {n} providers registered in {:.1} s", started.elapsed().as_secs_f64());
    Ok(held)
}

/// Subscribes the consumers through a fresh proxy with `strategy`, then makes the changes and
/// measures them.
async fn measure(
    hosts: &str,
    chroot: &str,
    writer: &Registry,
    strategy: WatchStrategy,
    pid: Option<u32>,
    args: Args,
) -> Result<Cost, BoxError> {
    let target = hosts.split(',').next().ok_or("no host")?;
    let proxy = Proxy::to(target).await?;
    let connect = format!("{}/{chroot}", proxy.connect_string());
    let options = SubscribeOptions::default().register_consumer(false).watch(strategy);
    let mut consumers: Vec<(Registry, Subscription)> = Vec::with_capacity(args.consumers);
    for _ in 0..args.consumers {
        let registry = Registry::builder().register_consumers(false).connect(&connect).await?;
        let sub = registry.subscribe_with(SERVICE, options.clone()).await?;
        consumers.push((registry, sub));
    }
    let (mut held, expected) = (None::<Registration>, args.providers);
    all_hold(&consumers, expected).await?;
    let (bytes_before, cpu_before, started) = (proxy.stats().bytes_down, cpu_ticks(pid), Instant::now());
    for change in 0..args.changes {
        let expected = match held.take() {
            Some(registration) => {
                registration.deregister().await?;
                expected
            }
            None => {
                let url = ServiceUrl::new("http", "10.8.0.1", 1 + change as u16, SERVICE)?;
                held = Some(register(writer, &url).await?);
                expected + 1
            }
        };
        all_hold(&consumers, expected).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let bytes = proxy.stats().bytes_down - bytes_before;
    let cpu = cpu_ticks(pid).zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    if let Some(registration) = held {
        registration.deregister().await?;
    }
    for (registry, _) in &consumers {
        registry.session().close().await;
    }
    let changes = args.changes.max(1) as f64;
    Ok(Cost {
        bytes_per_change_per_consumer: bytes as f64 / changes / args.consumers.max(1) as f64,
        cpu_ms_per_change: cpu.map(|ticks| ticks as f64 * 1e3 / clock_ticks_per_second() / changes),
        seconds,
    })
}

/// Registers `url`, trying again while ZooKeeper is too busy to answer in time (the one-shot
/// path's reads can keep it so).
async fn register(writer: &Registry, url: &ServiceUrl) -> Result<Registration, BoxError> {
    let mut tries = 0;
    loop {
        match writer.register(url).await {
            Ok(registration) => return Ok(registration),
            Err(e) if e.is_retryable() && tries < 20 => tries += 1,
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every consumer holds `n` providers.
async fn all_hold(consumers: &[(Registry, Subscription)], n: usize) -> Result<(), BoxError> {
    for (_, sub) in consumers {
        sub.wait_for(WAIT, |set| set.len() == n).await?;
    }
    Ok(())
}

/// `utime + stime` of process `pid`, in clock ticks.
fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the command name (in parentheses, which may hold spaces): state is the
    // 3rd field, utime the 14th, stime the 15th.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
