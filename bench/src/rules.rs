//! `zkbench rules`: a `disable` publish (`RulesStore::disable`: read the rules, check them
//! against the service's providers and consumers, compare-and-set publish with history) until
//! every one of C consumers (a `Registry` and subscription each, on its own session) has a
//! provider set without the provider, against the raw floor in the same run: one raw session
//! `set_data`s another node and C raw sessions each read it in a `get_and_watch_data` loop.
//!
//! A consumer's time ends at the `built_at()` of its first set without the provider (the set is
//! built, stored and picked from at that instant); a floor watcher's when its read returns the
//! new version. A trial's time is the slowest consumer's. Between trials the provider is
//! enabled again (not timed) and every consumer waits to see it back. Which side goes first
//! alternates every trial.

use std::sync::Arc;
use std::time::{Duration, Instant};

use config_center::RulesStore;
use registry::{ProviderSet, Registration, Registry, ServiceUrl, Session, Subscription};
use tokio::sync::mpsc;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::stats::Samples;
use crate::BoxError;

const SERVICE: &str = "bench-rules";
const DISABLED: &str = "127.0.0.1:1";
const FLOOR: &str = "/floor-rules";
const WAIT: Duration = Duration::from_secs(20);
const WARMUP: usize = 3;

/// Runs `trials` measured trials (after a short warm-up) with `consumers` consumers.
pub async fn run(root: &str, consumers: usize, trials: usize) -> Result<String, BoxError> {
    let consumers = consumers.max(1);
    let (_providers, subs) = start_consumers(root, consumers).await?;
    let store = RulesStore::new(Session::connect(root).await?)?;
    let mut floor = Floor::start(root, consumers).await?;
    let (mut ours, mut raw) = (Samples::default(), Samples::default());
    for trial in 0..WARMUP + trials {
        let (first, second) = if trial % 2 == 0 {
            let f = floor.trial(trial as u64 + 1, consumers).await?;
            (f, disable_until_seen(&store, &subs).await?)
        } else {
            let o = disable_until_seen(&store, &subs).await?;
            (floor.trial(trial as u64 + 1, consumers).await?, o)
        };
        store.enable(SERVICE, DISABLED).await?;
        for sub in &subs {
            sub.wait_for(WAIT, |s| has(s, DISABLED)).await?;
        }
        if trial >= WARMUP {
            raw.push(first);
            ours.push(second);
        }
    }
    let (ours_p50, raw_p50) = (ours.p50() / 1000.0, raw.p50() / 1000.0);
    Ok(format!(
        "rules consumers={consumers} trials={trials} disable_p50_ms={ours_p50:.2} disable_p99_ms={:.2} \
         set_data_p50_ms={raw_p50:.2} ratio={:.2}",
        ours.p99() / 1000.0,
        ours_p50 / raw_p50
    ))
}

fn has(set: &ProviderSet, address: &str) -> bool {
    set.providers().iter().any(|p| p.address() == address)
}

/// Three providers, and `consumers` registries each subscribed to them.
async fn start_consumers(
    root: &str,
    consumers: usize,
) -> Result<(Vec<Registration>, Vec<Subscription>), BoxError> {
    let provider = Registry::builder().connect(root).await?;
    let mut held = Vec::new();
    for port in 1..=3 {
        held.push(
            provider.register(&ServiceUrl::parse(&format!("http://127.0.0.1:{port}/{SERVICE}"))?).await?,
        );
    }
    let mut subs = Vec::with_capacity(consumers);
    for _ in 0..consumers {
        let registry = Registry::builder().connect(root).await?;
        let sub = registry.subscribe(SERVICE).await?;
        sub.wait_for(WAIT, |s| s.len() == 3).await?;
        subs.push(sub);
    }
    Ok((held, subs))
}

/// One `disable` publish until every subscription's set leaves the provider out.
async fn disable_until_seen(store: &RulesStore, subs: &[Subscription]) -> Result<Duration, BoxError> {
    let waits: Vec<_> = subs
        .iter()
        .map(|sub| {
            let mut rx = sub.updates();
            tokio::spawn(async move {
                let seen = tokio::time::timeout(WAIT, rx.wait_for(|s| !has(s, DISABLED))).await;
                seen.ok().and_then(Result::ok).map(|set| set.built_at())
            })
        })
        .collect();
    let t0 = Instant::now();
    store.disable(SERVICE, DISABLED, false).await?;
    let mut last = t0;
    for wait in waits {
        let built_at = wait.await?.ok_or("a consumer did not see the disable")?;
        last = last.max(built_at);
    }
    Ok(last - t0)
}

/// The raw floor: a writer session and `watchers` sessions reading in a watch loop.
struct Floor {
    writer: Client,
    rx: mpsc::UnboundedReceiver<(i32, Instant)>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Floor {
    async fn start(root: &str, watchers: usize) -> Result<Floor, BoxError> {
        let writer = Client::connect(root).await?;
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        match writer.create(FLOOR, b"0", &options).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => return Err(e.into()),
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tasks = Vec::with_capacity(watchers);
        for _ in 0..watchers {
            let client = Arc::new(Client::connect(root).await?);
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok((_, stat, watcher)) = client.get_and_watch_data(FLOOR).await {
                    let _ = tx.send((stat.version, Instant::now()));
                    watcher.changed().await;
                }
            }));
        }
        let mut floor = Floor { writer, rx, _tasks: tasks };
        floor.until(0, watchers).await?;
        Ok(floor)
    }

    /// One `set_data` (the node's version becomes `version`) until every watcher read it.
    async fn trial(&mut self, version: u64, watchers: usize) -> Result<Duration, BoxError> {
        let t0 = Instant::now();
        self.writer.set_data(FLOOR, version.to_string().as_bytes(), None).await?;
        let last = self.until(version as i32, watchers).await?;
        Ok(last - t0)
    }

    /// Waits for `watchers` reports of `version`; returns the last one's time.
    async fn until(&mut self, version: i32, watchers: usize) -> Result<Instant, BoxError> {
        let (mut seen, mut last) = (0, Instant::now());
        while seen < watchers {
            let (v, at) = tokio::time::timeout(WAIT, self.rx.recv()).await?.ok_or("floor watchers ended")?;
            if v == version {
                seen += 1;
                last = at;
            }
        }
        Ok(last)
    }
}
