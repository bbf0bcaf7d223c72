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
//! propagation ends at `ProviderSet::built_at()`. A trial's time is the slowest watcher's. The
//! trial's own task collects it from each config in turn ([`Config::wait_for`]), as it collects
//! the floor's reports from a channel: neither side runs a task per watcher to report (until
//! session 7 zkmesh's side did, one per config waiting in `changed()`, 100 tasks woken in every
//! trial's window that the floor did not pay for). With `--wake`, those tasks are back and
//! `wake_p50_us` times the same trials to the moment a task waiting in
//! [`config_center::Config::changed`] wakes with the value (one task hop later).
//! `status_p50_us` times them until the publisher sees every watcher's status node
//! (`/config/bench/doc/status/<instance>`, [`config_center::ConfigCenter::wait_for`]) show the
//! new version: each watcher writes it from its own task after the value is swapped in and its
//! status delay ([`config_center::DEFAULT_STATUS_DELAY`], 50 ms) has passed, so it includes that
//! delay; the trial waits for it after its measured part, so that no status write of one trial
//! lands in the next.
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
use std::time::{Duration, Instant};

use config_center::{Config, ConfigCenter, ConfigSpec, Expect};
use registry::Session;
use tokio::sync::mpsc;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::config_follow::{accepted_all, collect, follow_floor, follow_mid, follow_ours, OursReport};
use crate::stats::Samples;
use crate::{BoxError, Tasks};

pub(crate) type Doc = BTreeMap<String, String>;

/// A watcher's report: which watcher, which trial (ours: the value's `seq`; floor: the data
/// version), when.
pub(crate) type Report<T = Instant> = (usize, u64, T);

pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// Trials before measuring: at least this many, and for at least [`WARMUP_TIME`] (the server is
/// a JVM the bench has just started: its JIT compilers take a share of the two vCPUs for the
/// first seconds, which widened the spread between runs).
const WARMUP: usize = 10;
const WARMUP_TIME: Duration = Duration::from_secs(3);
const NAMESPACE: &str = "bench";
const NAME: &str = "doc";
pub(crate) const FLOOR: &str = "/floor-config";
const MID: &str = "/mid-config";

/// How `zkbench config` runs.
pub struct Options {
    /// History entries kept per publish.
    pub history_limit: usize,
    /// Also time registry's `NodeWatch` alone.
    pub breakdown: bool,
    /// Watchers keep status nodes (and trials wait for them).
    pub status: bool,
    /// A task per config waits in `changed()`, timed as `wake_p50_us`.
    pub wake: bool,
}

pub async fn run(root: &str, watchers: usize, trials: usize, options: Options) -> Result<String, BoxError> {
    let Options { history_limit, breakdown, status, wake } = options;
    let watchers = watchers.max(1);
    let mut ours = Ours::start(root, history_limit, status).await?;
    let mut floor = Floor::start(root, breakdown).await?;
    let started = Watchers::start(root, watchers, history_limit, &ours, &floor, wake).await?;
    ours.configs = started.configs.clone();
    ours.wake = wake;
    // Everyone has read the starting state, and says so in its status node.
    accepted_all(&mut ours.configs, 0, None).await?;
    if wake {
        collect(&mut ours.rx, watchers, 0).await?;
    }
    ours.statuses_show(ours.version, watchers).await?;
    floor.started(watchers).await?;

    let (samples, warmup_trials) = measure(&mut ours, &mut floor, watchers, trials).await?;
    let history = ours.center.history(NAMESPACE, NAME).await?.len();
    if history_limit > 0 && history != history_limit {
        return Err(format!("history holds {history} entries, expected {history_limit}").into());
    }
    Ok(samples.summary(watchers, trials, history_limit, warmup_trials, breakdown, wake))
}

/// Runs trials until `trials` of them are measured, after the warm-up; returns the samples and
/// how many trials warmed up.
async fn measure(
    ours: &mut Ours,
    floor: &mut Floor,
    watchers: usize,
    trials: usize,
) -> Result<(ConfigSamples, usize), BoxError> {
    let mut samples = ConfigSamples::default();
    let warm_from = Instant::now() + WARMUP_TIME;
    let (mut measured, mut warmup_trials) = (0, 0);
    for trial in 0.. {
        if measured == trials {
            break;
        }
        let warming = trial < WARMUP || Instant::now() < warm_from;
        let (times, expect) = one_trial(ours, floor, watchers, trial).await?;
        if warming {
            warmup_trials += 1;
        } else {
            measured += 1;
            samples.record(&times, expect);
        }
    }
    Ok((samples, warmup_trials))
}

/// Trial `trial` on both sides, and the `Expect` of its publish (trials alternate
/// `Expect::Version` of the version last published and `Expect::Any`).
///
/// Which side goes first alternates every two trials (so both `Expect`s see both orders):
/// whatever a trial leaves behind on the server (its 100 reads, collections in the JVM) then
/// weighs on both sides alike.
async fn one_trial(
    ours: &mut Ours,
    floor: &mut Floor,
    watchers: usize,
    trial: usize,
) -> Result<(TrialTimes, Expect), BoxError> {
    let seq = trial as u64 + 1;
    let bytes = toml_text(&doc(seq));
    let floor_first = (trial / 2).is_multiple_of(2);
    let expect = if trial.is_multiple_of(2) { Expect::Version(ours.version) } else { Expect::Any };
    let floor_side = floor.trial(&bytes, watchers);
    let ours_side = ours.trial(seq, expect, watchers);
    let (floor, ours) = if floor_first {
        let floor = floor_side.await?;
        (floor, ours_side.await?)
    } else {
        let ours = ours_side.await?;
        (floor_side.await?, ours)
    };
    Ok((TrialTimes { floor, ours }, expect))
}

/// zkmesh's side: one publisher session running [`ConfigSpec::publish`], and the reports of
/// the W configs.
struct Ours {
    center: ConfigCenter,
    spec: ConfigSpec<Doc>,
    /// The version last published, for [`Expect::Version`].
    version: i32,
    /// Watchers keep status nodes.
    status: bool,
    /// The W configs, whose accepted values the trials collect.
    configs: Vec<Config<Doc>>,
    /// A task per config reports when `changed()` wakes (to `rx`).
    wake: bool,
    tx: mpsc::UnboundedSender<OursReport>,
    rx: mpsc::UnboundedReceiver<OursReport>,
}

/// What one trial took on zkmesh's side.
struct OursTimes {
    /// The `publish` call.
    write: Duration,
    /// Until the last config accepted the value.
    all: Duration,
    /// Until the last task waiting in `changed()` woke with it (with `--wake`).
    wake: Option<Duration>,
    /// Until a reader saw every watcher's status node show the new version (when they keep one).
    status: Option<Duration>,
}

impl Ours {
    /// Connects the publisher and publishes the starting document (`seq` 0).
    async fn start(root: &str, history_limit: usize, status: bool) -> Result<Ours, BoxError> {
        let publisher = Session::connect(root).await?;
        let center = ConfigCenter::builder().history_limit(history_limit).build(publisher)?;
        let spec = bench_spec(&center)?;
        let first = spec.publish(&doc(0), Expect::Any).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Ours { center, spec, version: first.version, status, configs: Vec::new(), wake: false, tx, rx })
    }

    /// A typed publish of trial `seq`, until all `watchers` configs have accepted it.
    async fn trial(&mut self, seq: u64, expect: Expect, watchers: usize) -> Result<OursTimes, BoxError> {
        let Ours { spec, rx, configs, wake, .. } = self;
        let value = doc(seq);
        let t0 = Instant::now();
        let write = async {
            let published = spec.publish(&value, expect).await?;
            Ok::<_, BoxError>((published, t0.elapsed()))
        };
        let woken = async {
            match wake {
                true => Ok(Some(collect(rx, watchers, seq).await?.1 - t0)),
                false => Ok::<_, BoxError>(None),
            }
        };
        let (written, last, woken) = tokio::join!(write, accepted_all(configs, seq, Some(t0)), woken);
        let (published, write) = written?;
        let (last_accepted, wake) = (last?, woken?);
        self.version = published.version;
        // After the measured part: the status writes are done before the next trial starts.
        self.statuses_show(published.version, watchers).await?;
        let status = self.status.then(|| t0.elapsed());
        Ok(OursTimes { write, all: last_accepted - t0, wake, status })
    }

    /// Waits until `watchers` status nodes show `version` (at once without status nodes).
    async fn statuses_show(&self, version: i32, watchers: usize) -> Result<(), BoxError> {
        if !self.status {
            return Ok(());
        }
        let all_there = |all: &[config_center::WatcherStatus]| {
            all.len() >= watchers && all.iter().all(|w| w.runs(version))
        };
        self.center.wait_for(NAMESPACE, NAME, WAIT, all_there).await?;
        Ok(())
    }
}

/// The floor's side: one raw session doing `set_data` on [`FLOOR`], and the reports of the W raw
/// watchers; with the breakdown, the same `set_data` on [`MID`], read through registry's
/// `NodeWatch` alone.
struct Floor {
    client: Client,
    floor: RawNode,
    mid: RawNode,
    breakdown: bool,
    floor_tx: mpsc::UnboundedSender<Report>,
    floor_rx: mpsc::UnboundedReceiver<Report>,
    mid_tx: mpsc::UnboundedSender<Report>,
    mid_rx: mpsc::UnboundedReceiver<Report>,
}

/// What one trial took on the floor's side.
struct FloorTimes {
    /// Until the last raw watcher read the new version.
    all: Duration,
    /// The `set_data` call.
    write: Duration,
    /// With the breakdown: until the last `NodeWatch` read it.
    mid: Option<Duration>,
}

impl Floor {
    /// Connects the raw publisher and writes the starting document to both nodes.
    async fn start(root: &str, breakdown: bool) -> Result<Floor, BoxError> {
        let client = Client::connect(root).await?;
        let floor = RawNode::create(&client, FLOOR).await?;
        let mid = RawNode::create(&client, MID).await?;
        let (floor_tx, floor_rx) = mpsc::unbounded_channel();
        let (mid_tx, mid_rx) = mpsc::unbounded_channel();
        Ok(Floor { client, floor, mid, breakdown, floor_tx, floor_rx, mid_tx, mid_rx })
    }

    /// Waits until every watcher has read the starting state.
    async fn started(&mut self, watchers: usize) -> Result<(), BoxError> {
        collect(&mut self.floor_rx, watchers, self.floor.version).await?;
        if self.breakdown {
            collect(&mut self.mid_rx, watchers, self.mid.version).await?;
        }
        Ok(())
    }

    /// `set_data` of `bytes` until all `watchers` raw watchers have read it (and, with the
    /// breakdown, all `NodeWatch`es the same on [`MID`]).
    async fn trial(&mut self, bytes: &str, watchers: usize) -> Result<FloorTimes, BoxError> {
        let (all, write) = self.floor.trial(&self.client, bytes, &mut self.floor_rx, watchers).await?;
        let mid = match self.breakdown {
            true => Some(self.mid.trial(&self.client, bytes, &mut self.mid_rx, watchers).await?.0),
            false => None,
        };
        Ok(FloorTimes { all, write, mid })
    }
}

/// The W watchers of each kind, each on its own session, following their side's node; kept
/// until the run ends.
struct Watchers {
    configs: Vec<Config<Doc>>,
    /// The follower tasks, aborted when the watchers go.
    _tasks: Tasks,
    _sessions: Vec<Session>,
    _raw_sessions: Vec<Client>,
    _mid_sessions: Vec<Session>,
}

impl Watchers {
    /// Opens the sessions (a few at a time) and starts the watchers: a [`Config`] per session
    /// for zkmesh (with `wake`, and a task per config waiting in `changed()`), a task per raw
    /// session for the floor (`get_and_watch_data`), and with the breakdown a task per
    /// `NodeWatch` on [`MID`].
    async fn start(
        root: &str,
        watchers: usize,
        history_limit: usize,
        ours: &Ours,
        floor: &Floor,
        wake: bool,
    ) -> Result<Watchers, BoxError> {
        let sessions = connect_all(watchers, || async { Ok(Session::connect(root).await?) }).await?;
        let raw_sessions = connect_all(watchers, || async { Ok(Client::connect(root).await?) }).await?;
        let mid_sessions = match floor.breakdown {
            true => connect_all(watchers, || async { Ok(Session::connect(root).await?) }).await?,
            false => Vec::new(),
        };
        let mut configs = Vec::with_capacity(watchers);
        for session in &sessions {
            let builder = ConfigCenter::builder().history_limit(history_limit).fleet_status(ours.status);
            let center = builder.build(session.clone())?;
            configs.push(bench_spec(&center)?.watch().await?);
        }
        let mut tasks = Tasks::default();
        if wake {
            for (i, config) in configs.iter().enumerate() {
                tasks.push(tokio::spawn(follow_ours(i, config.clone(), ours.tx.clone())));
            }
        }
        for (i, client) in raw_sessions.iter().enumerate() {
            tasks.push(tokio::spawn(follow_floor(i, client.clone(), floor.floor_tx.clone())));
        }
        for (i, session) in mid_sessions.iter().enumerate() {
            tasks.push(tokio::spawn(follow_mid(i, session.watch_data(MID)?, floor.mid_tx.clone())));
        }
        Ok(Watchers {
            configs,
            _tasks: tasks,
            _sessions: sessions,
            _raw_sessions: raw_sessions,
            _mid_sessions: mid_sessions,
        })
    }
}

/// Both sides' times of one trial.
struct TrialTimes {
    floor: FloorTimes,
    ours: OursTimes,
}

/// The measured trials' samples.
#[derive(Default)]
struct ConfigSamples {
    ours: Samples,
    raw: Samples,
    watch_only: Samples,
    woken: Samples,
    status: Samples,
    by_version: Samples,
    by_any: Samples,
    publish: Samples,
    set_data: Samples,
}

impl ConfigSamples {
    fn record(&mut self, times: &TrialTimes, expect: Expect) {
        let TrialTimes { floor, ours } = times;
        self.raw.push(floor.all);
        self.ours.push(ours.all);
        if let Some(wake) = ours.wake {
            self.woken.push(wake);
        }
        if let Some(status) = ours.status {
            self.status.push(status);
        }
        self.set_data.push(floor.write);
        self.publish.push(ours.write);
        if let Some(mid) = floor.mid {
            self.watch_only.push(mid);
        }
        match expect {
            Expect::Version(_) => self.by_version.push(ours.all),
            _ => self.by_any.push(ours.all),
        }
    }

    /// The summary line.
    fn summary(
        mut self,
        watchers: usize,
        trials: usize,
        history_limit: usize,
        warmup_trials: usize,
        breakdown: bool,
        wake: bool,
    ) -> String {
        let (p50, floor_p50) = (self.ours.p50(), self.raw.p50());
        let mut line = format!(
            "config watchers={watchers} p50_us={p50:.0} p99_us={:.0} floor_p50_us={floor_p50:.0} ratio_p50={:.3} \
             floor_p99_us={:.0} trials={trials} history_limit={history_limit} version_p50_us={:.0} any_p50_us={:.0} \
             publish_p50_us={:.0} floor_set_data_p50_us={:.0} warmup_trials={warmup_trials}",
            self.ours.p99(),
            p50 / floor_p50,
            self.raw.p99(),
            self.by_version.p50(),
            self.by_any.p50(),
            self.publish.p50(),
            self.set_data.p50(),
        );
        if wake {
            let wake_p50 = self.woken.p50();
            line += &format!(" wake_p50_us={wake_p50:.0} ratio_wake_p50={:.3}", wake_p50 / floor_p50);
        }
        // Not measured with --no-status.
        let (status_p50, status_p99) = (self.status.p50(), self.status.p99());
        if !status_p50.is_nan() {
            line += &format!(" status_p50_us={status_p50:.0} status_p99_us={status_p99:.0}");
        }
        if breakdown {
            let mid_p50 = self.watch_only.p50();
            line +=
                &format!(" node_watch_p50_us={mid_p50:.0} ratio_node_watch_p50={:.3}", mid_p50 / floor_p50);
        }
        line
    }
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
