//! `zkbench config`'s watchers and the collection of what they saw: the tasks that follow the
//! floor's node (and with `--breakdown` a `NodeWatch`, with `--wake` a `Config::changed()`
//! loop) and report through channels, and the trial task's waits on the configs themselves.

use std::time::Instant;

use config_center::Config;
use registry::{NodeEvent, NodeWatch};
use tokio::sync::mpsc;
use zookeeper_client::Client;

use crate::config::{Doc, Report, FLOOR, WAIT};
use crate::BoxError;

/// What a config watcher reports: which watcher, which trial (the value's `seq`), and (when the
/// value was swapped in, when the watcher's task woke with it).
pub(crate) type OursReport = Report<(Instant, Instant)>;

/// Reports each value a config accepts: when it was swapped in and when this task woke with it.
pub(crate) async fn follow_ours(i: usize, mut config: Config<Doc>, tx: mpsc::UnboundedSender<OursReport>) {
    let mut value = config.load();
    let mut woken = Instant::now();
    loop {
        if tx.send((i, seq_of(&value), (config.status().accepted_at, woken))).is_err() {
            return;
        }
        match config.changed().await {
            Ok(next) => (value, woken) = (next, Instant::now()),
            Err(_) => return,
        }
    }
}

/// Reports each version registry's push-then-pull `NodeWatch` reads, as soon as its task wakes.
pub(crate) async fn follow_mid(i: usize, mut node: NodeWatch<Vec<u8>>, tx: mpsc::UnboundedSender<Report>) {
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
pub(crate) async fn follow_floor(i: usize, client: Client, tx: mpsc::UnboundedSender<Report>) {
    loop {
        let Ok((_data, stat, watcher)) = client.get_and_watch_data(FLOOR).await else { return };
        let at = Instant::now();
        if tx.send((i, stat.version as u64, at)).is_err() {
            return;
        }
        watcher.changed().await;
    }
}

/// Waits until every config has accepted the value of trial `seq` (after `after`, when given);
/// returns when the last one did (its `accepted_at`). The configs are awaited one after the
/// other from the calling task; the order does not change the times, which are the configs'.
pub(crate) async fn accepted_all(
    configs: &mut [Config<Doc>],
    seq: u64,
    after: Option<Instant>,
) -> Result<Instant, BoxError> {
    let deadline = Instant::now() + WAIT;
    let mut last = after;
    for config in configs.iter_mut() {
        let mut at = None;
        let hit = |value: &Doc, status: &config_center::Status| {
            // The value is swapped in before its status is: a status accepted after `after`
            // holds the time of this value.
            let fresh = after.is_none_or(|after| status.accepted_at >= after);
            let hit = fresh && seq_of(value) == seq;
            if hit {
                at = Some(status.accepted_at);
            }
            hit
        };
        config.wait_for(deadline.saturating_duration_since(Instant::now()), hit).await?;
        let at = at.ok_or("a config accepted without a time")?;
        last = Some(last.map_or(at, |l| l.max(at)));
    }
    last.ok_or_else(|| "no watcher".into())
}

/// The trial a value belongs to.
pub(crate) fn seq_of(value: &Doc) -> u64 {
    value.get("seq").and_then(|s| s.parse().ok()).unwrap_or(u64::MAX)
}

/// Waits until each of `watchers` has reported `seq`; returns when the last one did.
pub(crate) async fn collect<T: Latest>(
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
pub(crate) trait Latest: Copy {
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
