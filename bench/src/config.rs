//! `zkbench config`: a typed publish until every one of W watchers loads the new value, against
//! the raw floor, measured in the same run: each trial runs both sides, and which goes first
//! alternates every two trials (session 2's bench always ran the floor first, which favoured
//! zkmesh by about 0.01-0.02 in the ratio).
//!
//! zkmesh: one publisher session runs [`ConfigSpec::publish`] (trials alternate
//! [`Expect::Version`] with the version it last published and [`Expect::Any`]); W watchers, each
//! on its own [`registry::Session`], each hold a [`config_center::Config`] on the same document.
//! A watcher's time ends when its `load()` returns the new typed value: the
//! [`config_center::Status::accepted_at`] of the value (taken just after the swap, in the task
//! that read the document, after parse, layering, deserialization and validation), as
//! propagation ends at `ProviderSet::built_at()`. A trial's time is the slowest watcher's.
//! `wake_p50_us` times the same trials to the moment a task waiting in
//! [`config_center::Config::changed`] wakes with the value (one task hop later).
//!
//! Floor: one raw `zookeeper-client` session does `set_data` of the same bytes on another node;
//! W raw sessions each run `get_and_watch_data` in a loop (re-armed by each read); a watcher's
//! time ends when the task that read has the answer holding the new version back. Both ends are
//! in the task that did the read, right after it (ours after the conversion too).
//!
//! With history (`--history-limit`, default 10 as in config-center) a publish is two round trips:
//! a snapshot read of the document and of its history, then one `multi` (write, archive, prune);
//! with `--history-limit 0` it is one `set_data`, as the floor's. `--breakdown` adds W more
//! sessions that read a third node's `set_data` through registry's `NodeWatch` alone
//! (`node_watch_p50_us`), which splits zkmesh's time between registry's watch and config-center.
//!
//! The value is a `BTreeMap<String, String>` (ten keys, about 250 bytes of TOML), which keeps
//! the benchmark free of a serde dependency; it goes through the same parse, layering,
//! deserialization and validation a derived struct does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use config_center::{Config, ConfigCenter, ConfigSpec, Expect};
use registry::{NodeEvent, NodeWatch, Session};
use tokio::sync::mpsc;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::stats::Samples;
use crate::BoxError;

type Doc = BTreeMap<String, String>;

/// A watcher's report: which watcher, which trial (ours: the value's `seq`; floor: the data
/// version), when.
type Report<T = Instant> = (usize, u64, T);

const WAIT: Duration = Duration::from_secs(10);
/// Trials before measuring: at least this many, and for at least [`WARMUP_TIME`] (the server is
/// a JVM the bench has just started: its JIT compilers take a share of the two vCPUs for the
/// first seconds, which widened the spread between runs).
const WARMUP: usize = 10;
const WARMUP_TIME: Duration = Duration::from_secs(3);
const NAMESPACE: &str = "bench";
const NAME: &str = "doc";
const FLOOR: &str = "/floor-config";
const MID: &str = "/mid-config";

pub async fn run(
    root: &str,
    watchers: usize,
    trials: usize,
    history_limit: usize,
    breakdown: bool,
) -> Result<String, BoxError> {
    let watchers = watchers.max(1);
    let publisher = Session::connect(root).await?;
    let center = ConfigCenter::builder().history_limit(history_limit).build(publisher.clone())?;
    let spec = bench_spec(&center)?;
    let first = spec.publish(&doc(0), Expect::Any).await?;
    let raw_publisher = Client::connect(root).await?;
    let mut floor = RawNode::create(&raw_publisher, FLOOR).await?;
    let mut mid = RawNode::create(&raw_publisher, MID).await?;

    // W sessions of each kind, opened a few at a time.
    let sessions = connect_all(watchers, || async { Ok(Session::connect(root).await?) }).await?;
    let raw_sessions = connect_all(watchers, || async { Ok(Client::connect(root).await?) }).await?;
    let mid_sessions = match breakdown {
        true => connect_all(watchers, || async { Ok(Session::connect(root).await?) }).await?,
        false => Vec::new(),
    };
    let (ours_tx, mut ours_rx) = mpsc::unbounded_channel::<OursReport>();
    let (floor_tx, mut floor_rx) = mpsc::unbounded_channel::<Report>();
    let (mid_tx, mut mid_rx) = mpsc::unbounded_channel::<Report>();
    let mut configs = Vec::with_capacity(watchers);
    for session in &sessions {
        let center = ConfigCenter::builder().history_limit(history_limit).build(session.clone())?;
        configs.push(bench_spec(&center)?.watch().await?);
    }
    for (i, config) in configs.into_iter().enumerate() {
        tokio::spawn(follow_ours(i, config, ours_tx.clone()));
    }
    for (i, client) in raw_sessions.iter().enumerate() {
        tokio::spawn(follow_floor(i, client.clone(), floor_tx.clone()));
    }
    for (i, session) in mid_sessions.iter().enumerate() {
        tokio::spawn(follow_mid(i, session.watch_data(MID)?, mid_tx.clone()));
    }
    // Everyone has read the starting state.
    collect(&mut ours_rx, watchers, 0).await?;
    collect(&mut floor_rx, watchers, floor.version).await?;
    if breakdown {
        collect(&mut mid_rx, watchers, mid.version).await?;
    }

    let (mut ours, mut raw, mut watch_only) = (Samples::default(), Samples::default(), Samples::default());
    let mut woken = Samples::default();
    let (mut by_version, mut by_any) = (Samples::default(), Samples::default());
    let (mut publish, mut set_data) = (Samples::default(), Samples::default());
    let mut version = first.version;
    let warm_from = Instant::now() + WARMUP_TIME;
    let (mut measured, mut warmup_trials) = (0, 0);
    for trial in 0.. {
        if measured == trials {
            break;
        }
        let warming = trial < WARMUP || Instant::now() < warm_from;
        let seq = trial as u64 + 1;
        let bytes = toml_text(&doc(seq));
        // Which side goes first alternates every two trials (so both `Expect`s see both
        // orders): whatever a trial leaves behind on the server (its 100 reads, collections in
        // the JVM) then weighs on both sides alike.
        let floor_first = (trial / 2) % 2 == 0;

        // Floor: set_data, until all W raw watchers have read the new version. Breakdown: the
        // same set_data, read through registry's `NodeWatch` (no config-center).
        let floor_side = async {
            let floor_times = floor.trial(&raw_publisher, &bytes, &mut floor_rx, watchers).await?;
            let mid_all = match breakdown {
                true => Some(mid.trial(&raw_publisher, &bytes, &mut mid_rx, watchers).await?.0),
                false => None,
            };
            Ok::<_, BoxError>((floor_times, mid_all))
        };
        // zkmesh: a typed publish, until all W configs have accepted it.
        let expect = if trial % 2 == 0 { Expect::Version(version) } else { Expect::Any };
        let ours_side = async {
            let value = doc(seq);
            let t0 = Instant::now();
            let write = async {
                let published = spec.publish(&value, expect).await?;
                Ok::<_, BoxError>((published, t0.elapsed()))
            };
            let (written, last) = tokio::join!(write, collect(&mut ours_rx, watchers, seq));
            let (published, ours_write) = written?;
            let (last_accepted, last_woken) = last?;
            Ok::<_, BoxError>((published.version, ours_write, last_accepted - t0, last_woken - t0))
        };
        let (floor_done, ours_done) = if floor_first {
            let floor_done = floor_side.await?;
            (floor_done, ours_side.await?)
        } else {
            let ours_done = ours_side.await?;
            (floor_side.await?, ours_done)
        };
        let ((floor_all, floor_write), mid_all) = floor_done;
        let (published_version, ours_write, ours_all, ours_wake) = ours_done;
        version = published_version;

        if warming {
            warmup_trials += 1;
        } else {
            measured += 1;
            raw.push(floor_all);
            ours.push(ours_all);
            woken.push(ours_wake);
            set_data.push(floor_write);
            publish.push(ours_write);
            if let Some(mid_all) = mid_all {
                watch_only.push(mid_all);
            }
            match expect {
                Expect::Version(_) => by_version.push(ours_all),
                _ => by_any.push(ours_all),
            }
        }
    }
    let history = center.history(NAMESPACE, NAME).await?.len();
    if history_limit > 0 && history != history_limit {
        return Err(format!("history holds {history} entries, expected {history_limit}").into());
    }
    let (p50, floor_p50) = (ours.p50(), raw.p50());
    let mut line = format!(
        "config watchers={watchers} p50_us={p50:.0} p99_us={:.0} floor_p50_us={floor_p50:.0} ratio_p50={:.3} \
         floor_p99_us={:.0} trials={trials} history_limit={history_limit} version_p50_us={:.0} any_p50_us={:.0} \
         publish_p50_us={:.0} floor_set_data_p50_us={:.0} wake_p50_us={:.0} ratio_wake_p50={:.3} \
         warmup_trials={warmup_trials}",
        ours.p99(),
        p50 / floor_p50,
        raw.p99(),
        by_version.p50(),
        by_any.p50(),
        publish.p50(),
        set_data.p50(),
        woken.p50(),
        woken.p50() / floor_p50,
    );
    if breakdown {
        let mid_p50 = watch_only.p50();
        line += &format!(" node_watch_p50_us={mid_p50:.0} ratio_node_watch_p50={:.3}", mid_p50 / floor_p50);
    }
    Ok(line)
}

/// A node written with plain `set_data` (floor and breakdown), and its data version.
struct RawNode {
    path: &'static str,
    version: u64,
}

impl RawNode {
    async fn create(client: &Client, path: &'static str) -> Result<RawNode, BoxError> {
        let bytes = toml_text(&doc(0));
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        let version = match client.create(path, bytes.as_bytes(), &options).await {
            Ok(_) => 0,
            Err(zookeeper_client::Error::NodeExists) => {
                client.set_data(path, bytes.as_bytes(), None).await?.version
            }
            Err(e) => return Err(e.into()),
        };
        Ok(RawNode { path, version: version as u64 })
    }

    /// `set_data` until all `watchers` reported the new version: (time until the last one,
    /// time of the `set_data` call).
    async fn trial(
        &mut self,
        client: &Client,
        bytes: &str,
        rx: &mut mpsc::UnboundedReceiver<Report>,
        watchers: usize,
    ) -> Result<(Duration, Duration), BoxError> {
        self.version += 1;
        let t0 = Instant::now();
        let write = async {
            let stat = client.set_data(self.path, bytes.as_bytes(), None).await?;
            Ok::<_, BoxError>((stat.version, t0.elapsed()))
        };
        let (written, last) = tokio::join!(write, collect(rx, watchers, self.version));
        let (written, write_time) = written?;
        if written as u64 != self.version {
            return Err(format!("{} written by someone else (version {written})", self.path).into());
        }
        Ok((last? - t0, write_time))
    }
}

fn bench_spec(center: &ConfigCenter) -> Result<ConfigSpec<Doc>, BoxError> {
    Ok(center.config::<Doc>(NAMESPACE, NAME)?.validator(|doc: &Doc| {
        match doc.get("pool").map(|p| p.parse::<u32>()) {
            Some(Ok(n)) if n > 0 => Ok(()),
            _ => Err("pool must be a positive integer".into()),
        }
    }))
}

/// The document of trial `seq`: ten keys, about 250 bytes of TOML.
fn doc(seq: u64) -> Doc {
    let mut doc = Doc::new();
    doc.insert("seq".into(), seq.to_string());
    doc.insert("service".into(), "greeter".into());
    doc.insert("url".into(), "postgres://db.internal:5432/greeter?sslmode=require".into());
    doc.insert("pool".into(), (8 + seq % 8).to_string());
    doc.insert("timeout_ms".into(), "2500".into());
    doc.insert("retries".into(), "3".into());
    doc.insert("region".into(), "eu-west-1".into());
    doc.insert("feature_flags".into(), "fast-path,new-ui,batching".into());
    doc.insert("log_level".into(), "info".into());
    doc.insert("owner".into(), "team-platform@example.com".into());
    doc
}

/// The TOML a string map serializes to (`key = "value"` lines, sorted): the floor writes the
/// same bytes zkmesh publishes.
fn toml_text(doc: &Doc) -> String {
    doc.iter().map(|(k, v)| format!("{k} = \"{v}\"\n")).collect()
}

async fn connect_all<S, F>(n: usize, connect: impl Fn() -> F) -> Result<Vec<S>, BoxError>
where
    F: std::future::Future<Output = Result<S, BoxError>>,
{
    let mut all = Vec::with_capacity(n);
    while all.len() < n {
        let batch = (n - all.len()).min(20);
        for s in futures::future::join_all((0..batch).map(|_| connect())).await {
            all.push(s?);
        }
    }
    Ok(all)
}

/// What a config watcher reports: which watcher, which trial (the value's `seq`), and (when the
/// value was swapped in, when the watcher's task woke with it).
type OursReport = Report<(Instant, Instant)>;

/// Reports each value a config accepts: when it was swapped in and when this task woke with it.
async fn follow_ours(i: usize, mut config: Config<Doc>, tx: mpsc::UnboundedSender<OursReport>) {
    let seq = |v: &Arc<Doc>| v.get("seq").and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    let mut value = config.load();
    let mut woken = Instant::now();
    loop {
        if tx.send((i, seq(&value), (config.status().accepted_at, woken))).is_err() {
            return;
        }
        match config.changed().await {
            Ok(next) => (value, woken) = (next, Instant::now()),
            Err(_) => return,
        }
    }
}

/// Reports each version registry's push-then-pull `NodeWatch` reads, as soon as its task wakes.
async fn follow_mid(i: usize, mut node: NodeWatch<Vec<u8>>, tx: mpsc::UnboundedSender<Report>) {
    let mut event = node.get();
    loop {
        let at = Instant::now();
        let version = match event {
            NodeEvent::Present { stat, .. } => stat.version as u64,
            _ => u64::MAX,
        };
        if tx.send((i, version, at)).is_err() {
            return;
        }
        match node.changed().await {
            Ok(next) => event = next,
            Err(_) => return,
        }
    }
}

/// Raw push-then-pull: `get_and_watch_data` (which re-arms the watch), report, wait for the event.
async fn follow_floor(i: usize, client: Client, tx: mpsc::UnboundedSender<Report>) {
    loop {
        let Ok((_data, stat, watcher)) = client.get_and_watch_data(FLOOR).await else { return };
        let at = Instant::now();
        if tx.send((i, stat.version as u64, at)).is_err() {
            return;
        }
        watcher.changed().await;
    }
}

/// Waits until each of `watchers` has reported `seq`; returns when the last one did.
async fn collect<T: Latest>(
    rx: &mut mpsc::UnboundedReceiver<Report<T>>,
    watchers: usize,
    seq: u64,
) -> Result<T, BoxError> {
    let mut seen = vec![false; watchers];
    let (mut count, mut last) = (0, None::<T>);
    let deadline = tokio::time::Instant::now() + WAIT;
    while count < watchers {
        let report = tokio::time::timeout_at(deadline, rx.recv()).await;
        let Ok(Some((i, got, at))) = report else {
            return Err(format!("{count} of {watchers} watchers saw trial {seq} within {WAIT:?}").into());
        };
        if got == seq && !seen[i] {
            seen[i] = true;
            count += 1;
            last = Some(last.map_or(at, |l| l.latest(at)));
        }
    }
    last.ok_or_else(|| "no watcher".into())
}

/// The times a report carries, and how the last of two is taken.
trait Latest: Copy {
    fn latest(self, other: Self) -> Self;
}

impl Latest for Instant {
    fn latest(self, other: Self) -> Self {
        self.max(other)
    }
}

/// Each of the two times separately.
impl Latest for (Instant, Instant) {
    fn latest(self, other: Self) -> Self {
        (self.0.max(other.0), self.1.max(other.1))
    }
}
