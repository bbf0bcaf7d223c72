//! `zkbench rules`: a `disable` publish (`RulesStore::disable`: read the rules, check them
//! against the service's providers and consumers, compare-and-set publish with history) until
//! every one of C consumers (a `Registry` and subscription each, on its own session) has a
//! provider set without the provider, against the raw floor in the same run: one raw session
//! `set_data`s another node and C raw sessions each read it in a `get_and_watch_data` loop.
//!
//! A consumer's time ends at the `built_at()` of its first set without the provider (the set is
//! built, stored and picked from at that instant); a floor watcher's when its read returns the
//! new version. A trial's time is the slowest consumer's. Both sides are collected by the
//! trial's own task (the floor's reports through a channel, the consumers' sets through their
//! update receivers), with no task per consumer or watcher. Between trials the provider is
//! enabled again (not timed) and every consumer waits to see it back. Which side goes first
//! alternates every trial.
//!
//! zkmesh's side follows its service before the trials (`RulesStore::follow`: a mirror of the
//! rules document and the members fed by one persistent watch, so a publish is one round trip,
//! the write); `--no-follow` times today's one-shot path instead (a multi read of the document
//! and the members, then the write), so one run can show both. The line says which
//! (`follow=`) and how many state reads the store made (`state_reads=`: with following, only
//! after version conflicts).
//!
//! `--split` times two more sides in the same trials, to say where zkmesh's time over the floor
//! goes: `plain_p50_ms`, the same change reaching the consumers through a plain `set_data` of
//! the rules node by a raw session (no read, no check, no history: the consumers' side alone),
//! and `multi_floor_p50_ms`, the raw floor written with a `multi` of the shape a publish with
//! history has (`set_data`, a child created, the previous child deleted: the write's shape
//! alone). The four sides rotate which goes first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use config_center::RulesStore;
use registry::{ProviderSet, Registration, Registry, ServiceUrl, Session, Subscription};
use tokio::sync::mpsc;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::stats::Samples;
use crate::{BoxError, Tasks};

const SERVICE: &str = "bench-rules";
const DISABLED: &str = "127.0.0.1:1";
const FLOOR: &str = "/floor-rules";
const WAIT: Duration = Duration::from_secs(20);
const WARMUP: usize = 3;

/// The sides a trial times, in the order of the samples.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// `RulesStore::disable`.
    Ours,
    /// The raw floor's `set_data`.
    Floor,
    /// A raw `set_data` of the disabled rules (with `--split`).
    Plain,
    /// The raw floor written with a history-shaped `multi` (with `--split`).
    MultiFloor,
}

/// Runs `trials` measured trials (after a short warm-up) with `consumers` consumers; with
/// `split`, the plain and multi-floor sides too.
pub async fn run(
    root: &str,
    consumers: usize,
    trials: usize,
    split: bool,
    follow: bool,
) -> Result<String, BoxError> {
    let consumers = consumers.max(1);
    let (_providers, subs) = start_consumers(root, consumers).await?;
    let session = Session::connect(root).await?;
    let store = RulesStore::new(session.clone())?;
    // Held until the trials end: dropping it stops following.
    let followed = match follow {
        true => Some(store.follow(SERVICE).await?),
        false => None,
    };
    if let Some(followed) = &followed {
        followed.ready().await?;
    }
    let plain = Plain::new(&store, session)?;
    let mut floor = Floor::start(root, consumers).await?;
    let sides: &[Side] = match split {
        true => &[Side::Floor, Side::Ours, Side::MultiFloor, Side::Plain],
        false => &[Side::Floor, Side::Ours],
    };
    let mut samples: Vec<Samples> = sides.iter().map(|_| Samples::default()).collect();
    for trial in 0..WARMUP + trials {
        for k in 0..sides.len() {
            // Which side goes first rotates every trial.
            let i = (k + trial) % sides.len();
            let took = match sides[i] {
                Side::Ours => disable_until_seen(&subs, store.disable(SERVICE, DISABLED, false)).await?,
                Side::Plain => disable_until_seen(&subs, plain.disable()).await?,
                Side::Floor => floor.trial(false, consumers).await?,
                Side::MultiFloor => floor.trial(true, consumers).await?,
            };
            if matches!(sides[i], Side::Ours | Side::Plain) {
                store.enable(SERVICE, DISABLED).await?;
                for sub in &subs {
                    sub.wait_for(WAIT, |s| has(s, DISABLED)).await?;
                }
            }
            if trial >= WARMUP {
                samples[i].push(took);
            }
        }
    }
    let head = format!("rules consumers={consumers} trials={trials} follow={follow}");
    Ok(report(head, &mut samples, split, store.state_reads()))
}

/// The result line: `head`, then the sides' p50s (`samples` in the order of the sides).
fn report(head: String, samples: &mut [Samples], split: bool, state_reads: u64) -> String {
    let (raw_p50, ours_p50) = (samples[0].p50() / 1000.0, samples[1].p50() / 1000.0);
    let mut line = format!(
        "{head} disable_p50_ms={ours_p50:.2} \
         disable_p99_ms={:.2} set_data_p50_ms={raw_p50:.2} ratio={:.2} state_reads={}",
        samples[1].p99() / 1000.0,
        ours_p50 / raw_p50,
        state_reads
    );
    if split {
        let (multi, plain) = (samples[2].p50() / 1000.0, samples[3].p50() / 1000.0);
        line += &format!(
            " multi_floor_p50_ms={multi:.2} multi_floor_ratio={:.2} plain_p50_ms={plain:.2} plain_ratio={:.2}",
            multi / raw_p50,
            plain / raw_p50
        );
    }
    line
}

/// The plain side: the disabled rules' text, written with a raw `set_data` of the rules node.
struct Plain {
    session: Session,
    path: String,
    text: String,
}

impl Plain {
    fn new(store: &RulesStore, session: Session) -> Result<Plain, BoxError> {
        let mut rules = registry::Rules::default();
        rules.set_override(DISABLED, Some(registry::Action::Disable));
        Ok(Plain { session, path: store.path(SERVICE)?, text: rules.to_toml() })
    }

    async fn disable(&self) -> Result<(), BoxError> {
        let client = self.session.client().ok_or("the plain side's session is not connected")?;
        client.set_data(&self.path, self.text.as_bytes(), None).await?;
        Ok(())
    }
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

/// One write that disables the provider until every subscription's set leaves it out.
///
/// The sets are awaited from this task, one subscription after the other, as the floor's
/// reports are (no task per consumer: 100 tasks woken in the window would cost zkmesh's side
/// CPU the floor's side does not pay). A set's time is its `built_at()`, taken where it was
/// built, so the order of the awaits does not change it.
async fn disable_until_seen<T, E: Into<BoxError>>(
    subs: &[Subscription],
    write: impl std::future::Future<Output = Result<T, E>>,
) -> Result<Duration, BoxError> {
    let mut updates: Vec<_> = subs.iter().map(Subscription::updates).collect();
    let t0 = Instant::now();
    write.await.map_err(Into::into)?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = t0;
    for rx in &mut updates {
        let seen = tokio::time::timeout_at(deadline, rx.wait_for(|s| !has(s, DISABLED))).await;
        let built_at = seen.ok().and_then(Result::ok).map(|set| set.built_at());
        last = last.max(built_at.ok_or("a consumer did not see the disable")?);
    }
    Ok(last - t0)
}

/// The raw floor: a writer session and `watchers` sessions reading in a watch loop.
struct Floor {
    writer: Client,
    /// The version the node has now.
    version: i32,
    /// The child the last `multi` created.
    multi_child: Option<i32>,
    rx: mpsc::UnboundedReceiver<(i32, Instant)>,
    /// The raw watchers, aborted when the floor goes.
    _tasks: Tasks,
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
        let mut tasks = Tasks::default();
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
        let mut floor = Floor { writer, version: 0, multi_child: None, rx, _tasks: tasks };
        floor.until(0, watchers).await?;
        Ok(floor)
    }

    /// One `set_data` until every watcher read it; with `multi`, in a transaction that also
    /// creates the child named after the new version and deletes the previous one (the shape
    /// of a publish with history).
    async fn trial(&mut self, multi: bool, watchers: usize) -> Result<Duration, BoxError> {
        let version = self.version + 1;
        let data = version.to_string();
        let t0 = Instant::now();
        if multi {
            let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
            let mut writer = self.writer.new_multi_writer();
            writer.add_set_data(FLOOR, data.as_bytes(), None)?;
            writer.add_create(&format!("{FLOOR}/v-{version}"), data.as_bytes(), &options)?;
            if let Some(previous) = self.multi_child.replace(version) {
                writer.add_delete(&format!("{FLOOR}/v-{previous}"), None)?;
            }
            writer.commit().await?;
        } else {
            self.writer.set_data(FLOOR, data.as_bytes(), None).await?;
        }
        self.version = version;
        let last = self.until(version, watchers).await?;
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
