//! A recipe node that stands for something held (a lock, leadership), watched for its loss.
//!
//! Once held, the node is watched (its own node only: one watch per holder). It is lost when its
//! ZooKeeper session ends (the logical session reports `Lost` and moves to a new generation),
//! when someone deletes it, or when the session is closed. A lost node is never re-created: the
//! holder is told, through a `watch` of a `bool` and [`LockGuard::lost`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client::EventType;

use registry::{Retry, Session, SessionCore, SessionState};

use crate::error::Result;
use crate::node::{delete_ours, Created};

/// The shared core of [`LockGuard`] and [`crate::Leadership`].
pub(crate) struct Held {
    session: Session,
    path: String,
    token: u64,
    what: &'static str,
    held: Arc<watch::Sender<bool>>,
    monitor: tokio::task::JoinHandle<()>,
    released: bool,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("path", &self.path).field("held", &self.is_held()).finish()
    }
}

impl Held {
    /// Starts watching `created` (just found to be first in line in `generation`).
    pub(crate) fn start(session: &Session, created: Created, generation: u64, what: &'static str) -> Held {
        let (held, _) = watch::channel(true);
        let held = Arc::new(held);
        let states = session.state_watch();
        let token = u64::try_from(created.czxid).unwrap_or_default();
        let monitor = tokio::spawn(monitor(
            session.core(),
            states,
            created.path.clone(),
            generation,
            created.session_id,
            held.clone(),
            what,
        ));
        Held { session: session.clone(), path: created.path, token, what, held, monitor, released: false }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The fencing token: the zxid of the node's creation.
    pub(crate) fn token(&self) -> u64 {
        self.token
    }

    pub(crate) fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<bool> {
        self.held.subscribe()
    }

    pub(crate) async fn lost(&self) {
        let mut rx = self.held.subscribe();
        // The sender lives in `self`: the channel cannot close while this borrow lasts.
        let _ = rx.wait_for(|held| !*held).await;
    }

    fn stop(&mut self) {
        self.released = true;
        self.monitor.abort();
        self.held.send_replace(false);
    }

    pub(crate) async fn release(mut self) -> Result<()> {
        self.stop();
        let result = delete_ours(&self.session.core(), &self.path).await;
        match &result {
            Ok(()) => tracing::info!(path = %self.path, what = self.what, "released"),
            Err(e) => tracing::warn!(path = %self.path, what = self.what, error = %e, "release failed"),
        }
        result
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.stop();
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let session = self.session.clone();
        let path = std::mem::take(&mut self.path);
        let what = self.what;
        handle.spawn(async move {
            match delete_ours(&session.core(), &path).await {
                Ok(()) => tracing::info!(%path, what, "released (dropped)"),
                Err(e) => tracing::warn!(%path, what, error = %e, "could not release a dropped node"),
            }
        });
    }
}

/// Whether the ZooKeeper session of `generation` is over.
fn session_over(shared: &SessionCore, generation: u64) -> bool {
    !matches!(shared.live_now(), Ok(live) if live.generation == generation)
}

/// Resolves once the ZooKeeper session of `generation` is over (or the states end).
async fn session_ended(shared: &SessionCore, states: &mut watch::Receiver<SessionState>, generation: u64) {
    while !session_over(shared, generation) {
        if states.changed().await.is_err() {
            return;
        }
    }
}

/// Watches the held node until it is lost, then flips `held` to false.
async fn monitor(
    shared: Arc<SessionCore>,
    mut states: watch::Receiver<SessionState>,
    path: String,
    generation: u64,
    session_id: i64,
    held: Arc<watch::Sender<bool>>,
    what: &'static str,
) {
    let mut backoff = shared.backoff();
    let reason = loop {
        if shared.is_closed() {
            break "the session was closed";
        }
        let client = match shared.live_now() {
            Ok(live) if live.generation == generation => live.client,
            _ => break "the ZooKeeper session expired",
        };
        let watched = client.check_and_watch_stat(&path).await;
        drop(client);
        match watched {
            Ok((Some(stat), watcher)) if stat.ephemeral_owner == session_id => {
                backoff.reset();
                tokio::select! {
                    event = registry::watch_event(watcher) => match event {
                        EventType::NodeDeleted => break "the node was deleted",
                        EventType::Session => break "the ZooKeeper session expired",
                        _ => continue,
                    },
                    _ = session_ended(&shared, &mut states, generation) => break "the ZooKeeper session expired",
                    _ = shared.closed() => break "the session was closed",
                }
            }
            Ok(_) => break "the node is gone",
            Err(e) if Retry::of(&e) == Retry::NextSession => break "the ZooKeeper session expired",
            Err(e) => {
                tracing::debug!(%path, error = %e, "cannot watch a held node yet");
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = shared.closed() => {}
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), shared.wait_usable(generation)).await;
            }
        }
    };
    held.send_replace(false);
    log_lost(&path, what, reason);
}

/// The `tracing` event for something gained: `leadership gained` or `lock acquired`.
pub(crate) fn log_gained(path: &str, what: &'static str) {
    if what == "leadership" {
        tracing::info!(%path, "leadership gained");
    } else {
        tracing::info!(%path, what, "lock acquired");
    }
}

/// The `tracing` event for something lost without being given up.
fn log_lost(path: &str, what: &'static str, reason: &str) {
    if what == "leadership" {
        tracing::warn!(%path, reason, "leadership lost");
    } else {
        tracing::warn!(%path, what, reason, "lock lost");
    }
}

/// An exclusive lock or a read/write lock share, held until released or lost.
///
/// Obtained from [`crate::Lock`] or [`crate::ReadWriteLock`]. Dropping the guard releases the
/// lock in the background; [`LockGuard::release`] releases it and says whether that worked.
///
/// The guard learns when the lock is no longer held although it was not released: the
/// ZooKeeper session expired (its node went with it) or someone deleted the node. Then
/// [`LockGuard::is_held`] turns false and [`LockGuard::lost`] resolves; the lock is not taken
/// again by itself. While the session is only `Suspended` the guard still reports the lock as
/// held (see [the recipes' rules](crate::Lock#session-loss)).
#[derive(Debug)]
pub struct LockGuard {
    held: Held,
}

impl LockGuard {
    pub(crate) fn new(held: Held) -> Self {
        LockGuard { held }
    }

    /// The lock node's path (within the session's chroot), e.g. `/locks/jobs/_c_<uuid>-lock-0000000007`.
    pub fn path(&self) -> &str {
        self.held.path()
    }

    /// The fencing token of this hold: a number greater than the token of every earlier holder
    /// of the same lock (exclusive lock, or a writer of a read/write lock), to be passed along
    /// with every write the lock protects.
    ///
    /// It is the zxid of the lock node's creation (`czxid`): ZooKeeper numbers every change of
    /// the ensemble in one increasing order, and a holder's node was created after the node of
    /// every holder before it (the line is served in creation order, and a node re-created
    /// after session expiry gets a new zxid). It keeps increasing when the lock's directory is
    /// deleted and made again (which resets the sequence numbers).
    ///
    /// # The holder that paused
    ///
    /// A holder can stop for longer than the session timeout (a GC pause, a stopped VM, a
    /// partition) between checking [`LockGuard::is_held`] and writing. ZooKeeper expires its
    /// session meanwhile, the next holder takes the lock and writes; then the first one wakes
    /// up and writes too, still believing it holds the lock, because it has not yet heard of
    /// the expiry. No check on the client can close this window. Storage that remembers the
    /// highest token it has accepted and refuses a write with a lower one does: the late write
    /// carries the old, lower token and is rejected.
    pub fn fencing_token(&self) -> u64 {
        self.held.token()
    }

    /// Whether the lock is still held (false once lost or released).
    pub fn is_held(&self) -> bool {
        self.held.is_held()
    }

    /// A watch of [`LockGuard::is_held`]: true while held, false once lost.
    pub fn held_watch(&self) -> watch::Receiver<bool> {
        self.held.watch()
    }

    /// Resolves once the lock is lost (at once if it already is).
    pub async fn lost(&self) {
        self.held.lost().await
    }

    /// Releases the lock: deletes its node, waiting up to 10 s for a connection if ZooKeeper is
    /// unreachable. Releasing a lock that was lost deletes what may be left of it.
    ///
    /// # Errors
    /// The ZooKeeper error (or [`crate::Error::Timeout`]) if the node could not be deleted; it then
    /// still goes when the ZooKeeper session ends.
    pub async fn release(self) -> Result<()> {
        self.held.release().await
    }
}

fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<LockGuard>();
}
