//! [`TreeWatch`]: one persistent recursive watch on a subtree (ZooKeeper 3.6+), kept armed
//! across reconnections and sessions, for code that mirrors many nodes (recipes' tree cache,
//! the command line's followers).
//!
//! It hands out the changes ZooKeeper reports below a path ([`TreeWatchEvent::Created`],
//! [`TreeWatchEvent::Deleted`], [`TreeWatchEvent::DataChanged`], each with the node's path)
//! and, whenever the watch was (re)armed, [`TreeWatchEvent::Armed`]: events may have been lost
//! before it (a gap), so the follower reads what it follows in full, on the client the event
//! carries, then folds into that read the changes [`TreeWatch::try_next`] still has queued.
//!
//! # The resync argument (the same as the registry's providers watch)
//!
//! The watch is added (`addWatch`) before [`TreeWatchEvent::Armed`] is handed out, so every
//! read the follower makes afterwards on that client is served after the watch took effect:
//! a change the read does not show produces an event. ZooKeeper sends a client a watch event
//! before the response of any later read on the same session, and zookeeper-client queues the
//! event in the watcher before it completes that response: when the read's response is in,
//! every event of a change the read shows is queued, and [`TreeWatch::try_next`] returns it.
//! The follower folds those (each event states where a node stands: created, deleted, data
//! changed, so folding one older than the read is exact once the node is read again or
//! dropped) and publishes once; every event it gets afterwards is newer than the read. No
//! state older than the read is published after it.
//!
//! Gaps: on `SyncConnected` after a disconnection the watch is added again on the same client
//! (zookeeper-client 0.11.2 does not re-send persistent watches when it reconnects, and the
//! server does not replay what a re-registered watch missed, ZOOKEEPER-4698); after the session
//! ended, on the next generation's client; on [`TreeWatch::resync`] (a read of the follower
//! failed), after the session's back-off. Each gives a new [`TreeWatchEvent::Armed`].
//!
//! A server that refuses `addWatch` (`Unimplemented`, ZooKeeper before 3.6) is remembered by the
//! session and said once in a log line; [`TreeWatch::next`] then fails with an error that
//! [`TreeWatch::is_refusal`] recognises, and the follower uses one-shot watches instead.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use zookeeper_client::{
    AddWatchMode, Error as ZkError, EventType, PersistentWatcher, SessionState as ZkState, WatchedEvent,
};

use super::persistent::refuses_persistent_watches;
use super::retry::{persistent_event, ready_persistent_event, Ready};
use super::{Backoff, LiveClient, SessionCore};
use crate::error::{Error, Result};

/// What a [`TreeWatch`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TreeWatchEvent {
    /// The watch is armed (at first, and again after every gap): read what you follow in full
    /// on this client now, then fold in what [`TreeWatch::try_next`] has queued.
    Armed(LiveClient),
    /// The node at this path (the watched path or below it, within the chroot) was created.
    Created(String),
    /// The node at this path was deleted.
    Deleted(String),
    /// The data of the node at this path changed (the event does not carry it: read it).
    DataChanged(String),
}

/// Where the watch stands.
enum Phase {
    /// Add the watch on this client (`None`: on the first client of a generation newer than
    /// `after`).
    Arm { live: Option<LiveClient>, after: u64, pause: bool },
    /// Armed on `live`: hand out its events.
    Following { live: LiveClient, watcher: PersistentWatcher },
}

/// One persistent recursive watch on a path and everything below it, armed again after every
/// gap (see the module docs). Obtain it with [`TreeWatch::new`], then call
/// [`TreeWatch::next`] in a loop; dropping it removes the watch.
pub struct TreeWatch {
    core: Arc<SessionCore>,
    path: String,
    phase: Phase,
    /// The watcher of before a reconnection, dropped once its successor is armed: dropping the
    /// last watcher of a path makes zookeeper-client remove the connection's watch on it.
    previous: Option<PersistentWatcher>,
    backoff: Backoff,
}

impl std::fmt::Debug for TreeWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let armed = matches!(self.phase, Phase::Following { .. });
        f.debug_struct("TreeWatch").field("path", &self.path).field("armed", &armed).finish()
    }
}

impl TreeWatch {
    /// A watch of `path` and its subtree on the session of `core`; nothing is sent before the
    /// first [`TreeWatch::next`]. The node need not exist.
    ///
    /// # Errors
    /// [`Error::InvalidPath`].
    pub fn new(core: Arc<SessionCore>, path: &str) -> Result<TreeWatch> {
        super::validate_path(path)?;
        let backoff = core.backoff();
        let phase = Phase::Arm { live: None, after: 0, pause: false };
        Ok(TreeWatch { core, path: path.to_owned(), phase, previous: None, backoff })
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether `error`, from [`TreeWatch::next`], means the server refuses persistent watches
    /// (ZooKeeper before 3.6): follow with one-shot watches instead.
    pub fn is_refusal(error: &Error) -> bool {
        matches!(error, Error::Zookeeper { op: "add_watch", source: ZkError::Unimplemented, .. })
    }

    /// Asks for a new [`TreeWatchEvent::Armed`]: the next [`TreeWatch::next`] adds the watch
    /// again after the session's back-off, on a usable client. For a follower whose read
    /// failed: it cannot know what it missed.
    pub fn resync(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::Arm { live: None, after: 0, pause: true });
        self.phase = match phase {
            Phase::Following { live, watcher } => {
                self.previous = Some(watcher);
                Phase::Arm { live: Some(live), after: 0, pause: true }
            }
            Phase::Arm { live, after, .. } => Phase::Arm { live, after, pause: true },
        };
    }

    /// The next event, waiting for it. Cancel safe: an event not returned stays queued.
    ///
    /// # Errors
    /// [`Error::SessionClosed`] once the session is closed; an error [`TreeWatch::is_refusal`]
    /// recognises when the server refuses persistent watches (now, or earlier in the session).
    pub async fn next(&mut self) -> Result<TreeWatchEvent> {
        loop {
            let idle = Phase::Arm { live: None, after: 0, pause: false };
            match std::mem::replace(&mut self.phase, idle) {
                Phase::Arm { live, after, pause } => return self.arm(live, after, pause).await,
                following => self.phase = following,
            }
            let Phase::Following { watcher, .. } = &mut self.phase else { continue };
            let event = tokio::select! {
                event = persistent_event(watcher) => event,
                _ = self.core.closed() => return Err(Error::SessionClosed),
            };
            if let Some(event) = self.take(event) {
                return Ok(event);
            }
        }
    }

    /// A change already queued, without waiting: `None` when nothing is, or when the next
    /// thing queued is a gap (the next [`TreeWatch::next`] then arms again).
    pub fn try_next(&mut self) -> Option<TreeWatchEvent> {
        loop {
            let Phase::Following { watcher, .. } = &mut self.phase else { return None };
            let event = match ready_persistent_event(watcher) {
                Ready::Empty => return None,
                Ready::Event(event) => Some(event),
                Ready::Dead => None,
            };
            if let Some(change) = self.take(event) {
                return Some(change);
            }
            if let Phase::Arm { .. } = self.phase {
                return None;
            }
        }
    }

    /// What `event` (`None`: the watcher is dead) means: a change to hand out, or a gap (the
    /// phase moves to arming), or nothing.
    fn take(&mut self, event: Option<WatchedEvent>) -> Option<TreeWatchEvent> {
        let Some(event) = event else {
            self.end_session();
            return None;
        };
        let below = event.path == self.path
            || (event.path.starts_with(&self.path)
                && (self.path == "/" || event.path[self.path.len()..].starts_with('/')));
        match event.event_type {
            EventType::Session => match event.session_state {
                ZkState::Disconnected => None,
                ZkState::SyncConnected | ZkState::ConnectedReadOnly => {
                    let phase =
                        std::mem::replace(&mut self.phase, Phase::Arm { live: None, after: 0, pause: false });
                    if let Phase::Following { live, watcher } = phase {
                        self.previous = Some(watcher);
                        self.phase = Phase::Arm { live: Some(live), after: 0, pause: false };
                    }
                    None
                }
                ZkState::Expired | ZkState::AuthFailed | ZkState::Closed => {
                    self.end_session();
                    None
                }
            },
            _ if !below => None,
            EventType::NodeCreated => Some(TreeWatchEvent::Created(event.path)),
            EventType::NodeDeleted => Some(TreeWatchEvent::Deleted(event.path)),
            EventType::NodeDataChanged => Some(TreeWatchEvent::DataChanged(event.path)),
            EventType::NodeChildrenChanged => None,
        }
        .inspect(|_| crate::metrics::watch_event("tree"))
    }

    /// The session of the current client ended: arm on the next generation's.
    fn end_session(&mut self) {
        let generation = match &self.phase {
            Phase::Following { live, .. } => live.generation,
            Phase::Arm { live: Some(live), .. } => live.generation,
            Phase::Arm { after, .. } => *after,
        };
        self.previous = None;
        self.phase = Phase::Arm { live: None, after: generation, pause: false };
    }

    /// Adds the watch (retrying by the session's policy) and returns [`TreeWatchEvent::Armed`].
    /// `known`: the client to arm on (after the session's back-off if `pause`); else the first
    /// of a generation newer than `after`. Cancelled, it arms on the current client next time.
    async fn arm(
        &mut self,
        mut known: Option<LiveClient>,
        after: u64,
        mut pause: bool,
    ) -> Result<TreeWatchEvent> {
        loop {
            if self.core.persistent_watches_refused.load(Ordering::Relaxed) {
                return Err(Error::zk("add_watch", &self.path, ZkError::Unimplemented));
            }
            let live = match known.take() {
                Some(live) if std::mem::take(&mut pause) => {
                    self.core.retry_after(&live, &mut self.backoff, &ZkError::ConnectionLoss).await?
                }
                Some(live) => live,
                None => self.core.live_after(after).await?,
            };
            match live.client.watch(&self.path, AddWatchMode::PersistentRecursive).await {
                Ok(watcher) => {
                    self.previous = None;
                    self.backoff.reset();
                    self.phase = Phase::Following { live: live.clone(), watcher };
                    return Ok(TreeWatchEvent::Armed(live));
                }
                Err(error) if refuses_persistent_watches(&error) => {
                    super::persistent::note_refusal(&self.core, &error);
                    return Err(Error::zk("add_watch", &self.path, error));
                }
                Err(error) => {
                    tracing::debug!(path = %self.path, %error, "persistent watch: addWatch failed; retrying");
                    let next = self.core.retry_after(&live, &mut self.backoff, &error).await?;
                    if next.generation != live.generation {
                        self.previous = None;
                    }
                    known = Some(next);
                }
            }
        }
    }
}
