//! The status node of one watch (and the halt of a canary the watcher refuses): `<path>/status/<instance>`, ephemeral, kept by the session's
//! ephemeral machinery ([`registry::EphemeralNode`]: re-created after session expiry and after
//! a deletion by someone else), its data rewritten when the watcher's state changes.
//!
//! The writer is its own task, reading the watch's status channel: it never runs on the reload
//! path. It is woken [`crate::ConfigCenterBuilder::status_delay`] after a change (the watch's
//! task files the wake-up with the process's delay thread, `status_delay.rs`, so a publish does
//! not wake every writer of the process among the reads of that publish), which folds a burst
//! of changes into one write and leaves the reads of the other watchers of the same publish
//! ahead of it on the server; it writes only when the state differs from what the node holds. The node exists only while the document does: its parent `<path>/status` is created
//! by a transaction that checks the document exists, so a status never re-creates a deleted
//! document; when the watcher sees the document deleted, the node is deleted too.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use registry::{EphemeralNode, EphemeralStatus, Session};
use tokio::sync::watch;
use zookeeper_client::{Acls, CreateMode, Error as ZkError, MultiWriteError};

use crate::canary;
use crate::config::Status;
use crate::error::{Error, Result};
use crate::fleet::{self, WatcherState, WatcherStatus};
use crate::instance::{Claim, Instance};
use crate::status_delay::Poke;

/// What a status writer needs.
pub(crate) struct WriterStart {
    pub(crate) session: Session,
    /// The document's path.
    pub(crate) path: String,
    pub(crate) instance: Instance,
    pub(crate) claim: std::sync::Arc<Claim>,
    pub(crate) layers: Vec<String>,
    pub(crate) statuses: watch::Receiver<Status>,
    /// The canary this watcher refuses and why, changed only when that changes (what a writer
    /// without a status node follows: it is not woken by every accepted value).
    pub(crate) refusals: watch::Receiver<Refusal>,
    /// Delivered the status delay after the watcher's state changed (`status_delay.rs`):
    /// what wakes a writer that keeps a node.
    pub(crate) poke: Arc<Poke>,
    /// Keep the status node (else only halt a canary this watcher refuses).
    pub(crate) keep_node: bool,
}

/// The canary a watcher refuses (its id) and the error, when it refuses one.
pub(crate) type Refusal = Option<(u64, String)>;

/// The refusal `status` reports.
pub(crate) fn refusal_of(status: &Status) -> Refusal {
    status.refused_canary.zip(status.error.as_ref().map(ToString::to_string))
}

/// The writer task; dropping it stops the task, which deletes the node.
#[derive(Debug)]
pub(crate) struct StatusWriter {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StatusWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the status writer of a watch.
pub(crate) fn spawn(start: WriterStart) -> StatusWriter {
    StatusWriter { task: tokio::spawn(run(start)) }
}

/// Why [`follow`] returned.
enum Ended {
    /// The document is gone: the node was deleted; wait for the document again.
    Absent,
    /// The watch ended.
    Closed,
}

/// Without a status node: only halts a canary this watcher refuses. It follows the refusals
/// alone, so an accepted value does not wake it (100 watchers in a process would otherwise
/// wake 100 of these tasks at each publish, among the reads of that publish).
async fn halt_only(mut w: WriterStart) {
    while w.refusals.changed().await.is_ok() {
        let refusal = w.refusals.borrow_and_update().clone();
        if let Some((id, error)) = refusal {
            canary::halt(&w.session, &w.path, id, w.claim.name(), &error).await;
        }
    }
}

async fn run(mut w: WriterStart) {
    if !w.keep_node {
        return halt_only(w).await;
    }
    let first = w.statuses.borrow_and_update().clone();
    let mut report = report_of(&w, &first, None);
    loop {
        // The document must exist before its status node does.
        loop {
            let absent = w.statuses.borrow().absent;
            if !absent && ensure_dir(&w).await {
                break;
            }
            // Absent: until the watcher reads it; else ZooKeeper failed: again in a while.
            let retry = if absent { Duration::MAX } else { Duration::from_millis(500) };
            tokio::select! {
                changed = w.statuses.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(retry) => {}
            }
            let status = w.statuses.borrow_and_update().clone();
            report = report_of(&w, &status, Some(&report));
        }
        let node = match w.session.create_ephemeral_child(w.claim.path(), &report.encode()).await {
            Ok(node) => node,
            Err(e) => {
                tracing::warn!(path = %w.claim.path(), error = %e, "config status node not created; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match follow(&mut w, node, &mut report).await {
            Ended::Absent => {}
            Ended::Closed => return,
        }
    }
}

/// Keeps `node` up to date until the document is deleted or the watch ends.
async fn follow(w: &mut WriterStart, node: EphemeralNode, report: &mut WatcherStatus) -> Ended {
    let mut node_status = node.status_watch();
    // What the node holds when it is active: its creation data.
    let mut written = Some(report.clone());
    let mut retry_in: Option<Duration> = None;
    let mut warned = false;
    loop {
        tokio::select! {
            // The delay after a change has passed (the task is aborted when the watch ends).
            () = w.poke.delivered() => {
                let status = w.statuses.borrow_and_update().clone();
                if status.absent {
                    let _ = node.delete().await;
                    return Ended::Absent;
                }
                *report = report_of(w, &status, Some(report));
                if let (Some(id), Some(error)) = (status.refused_canary, &status.error) {
                    canary::halt(&w.session, &w.path, id, w.claim.name(), &error.to_string()).await;
                }
            }
            changed = node_status.changed() => {
                if changed.is_err() {
                    return Ended::Closed;
                }
                // Re-created (after expiry or a deletion) with its creation data, or gone.
                written = None;
            }
            _ = tokio::time::sleep(retry_in.unwrap_or(Duration::MAX)), if retry_in.is_some() => {}
        }
        retry_in = None;
        if let EphemeralStatus::Conflict { owner } = node.status() {
            if !warned {
                warned = true;
                tracing::warn!(path = %node.path(), owner, "another session holds this watcher's status node: give each process its own instance name (ConfigCenterBuilder::instance)");
            }
        }
        if let EphemeralStatus::Pending { last_error: Some(e) } = node.status() {
            // The status folder went with a deleted document that is back (read before the
            // writer saw it gone): made again, the keeper's next attempt creates the node.
            if matches!(e.zookeeper_error(), Some(ZkError::NoNode)) {
                ensure_dir(w).await;
            }
        }
        if written.as_ref() == Some(report) || !node.status().is_active() {
            continue;
        }
        match write(&w.session, node.path(), report).await {
            Ok(()) => written = Some(report.clone()),
            Err(e) => {
                tracing::debug!(path = %node.path(), error = %e, "config status not written; retrying");
                retry_in = Some(Duration::from_millis(200));
            }
        }
    }
}

async fn write(session: &Session, path: &str, report: &WatcherStatus) -> Result<()> {
    let client = session.client().ok_or_else(|| Error::zk("set_data", path, ZkError::ConnectionLoss))?;
    client.set_data(path, &report.encode(), None).await.map(drop).map_err(|e| Error::zk("set_data", path, e))
}

/// Creates `<path>/status` if the document exists. `false`: it does not (or ZooKeeper failed).
async fn ensure_dir(w: &WriterStart) -> bool {
    let Some(client) = w.session.client() else { return false };
    let dir = fleet::dir(&w.path);
    let options = CreateMode::Persistent.with_acls(Acls::new(w.session.acl()));
    let mut writer = client.new_multi_writer();
    // Version -1: any version, the document only has to exist.
    if writer.add_check_version(&w.path, -1).is_err() || writer.add_create(&dir, &[], &options).is_err() {
        return false;
    }
    match writer.commit().await {
        Ok(_) => true,
        Err(MultiWriteError::OperationFailed { source: ZkError::NodeExists, index: 1 }) => true,
        Err(e) => {
            tracing::debug!(path = %w.path, error = ?e, "config status folder not created");
            false
        }
    }
}

/// The report of `status`; `since` stays that of `previous` when the state is the same.
fn report_of(w: &WriterStart, status: &Status, previous: Option<&WatcherStatus>) -> WatcherStatus {
    let state = if status.error.is_some() {
        WatcherState::Refused
    } else if status.stale {
        WatcherState::Stale
    } else if status.absent {
        WatcherState::Absent
    } else {
        WatcherState::Accepted
    };
    let mut report = WatcherStatus {
        instance: w.claim.name().to_owned(),
        host: crate::instance::hostname(),
        pid: std::process::id(),
        state,
        version: status.version,
        canary: status.canary,
        refused: status.error.as_ref().and(status.refused.clone()),
        error: status.error.as_ref().map(ToString::to_string),
        since_ms: 0,
        zone: w.instance.zone.clone(),
        layers: w.layers.clone(),
        labels: w.instance.labels.clone(),
    };
    report.since_ms = match previous {
        Some(previous) if previous.same_state(&report) => previous.since_ms,
        _ => {
            let since = match state {
                WatcherState::Accepted => SystemTime::now() - status.accepted_at.elapsed(),
                _ => SystemTime::now(),
            };
            since.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
        }
    };
    report
}
