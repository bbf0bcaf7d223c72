//! Ephemeral nodes kept alive by the logical session.
//!
//! A [`EphemeralNode`] is re-created when its ZooKeeper session expires (by the session's
//! supervisor, before it reports `Reconnected`), re-created when someone deletes it while the
//! session lives (by a keeper task watching it), and retried with back-off while ZooKeeper cannot
//! be reached. A node left behind by one of this logical session's *earlier* ZooKeeper sessions
//! (its `ephemeralOwner` is a dead session of ours) is deleted and re-created; a node owned by
//! somebody else's session is left alone and reported as [`EphemeralStatus::Conflict`] until it
//! goes away, so two processes never fight over one path.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError, EventType};

use super::{lock, Backoff, LiveClient, Session, SessionCore};
use crate::error::{Error, Result};

/// Where an [`EphemeralNode`] stands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EphemeralStatus {
    /// Not (yet, or no longer) in ZooKeeper; being retried. `last_error` says why it is not there.
    Pending {
        /// The error of the last attempt, if one failed.
        last_error: Option<Error>,
    },
    /// Present, owned by the current ZooKeeper session.
    Active {
        /// The ZooKeeper session that owns the node.
        session_id: i64,
    },
    /// The path is held by another session (another process, or a persistent node when
    /// `owner` is 0); the node is created as soon as that one goes away.
    Conflict {
        /// The `ephemeralOwner` of the node in the way.
        owner: i64,
    },
    /// Deleted by its owner.
    Deleted,
}

impl EphemeralStatus {
    /// Whether the node is in ZooKeeper under the current session.
    pub fn is_active(&self) -> bool {
        matches!(self, EphemeralStatus::Active { .. })
    }
}

/// What the session knows of one ephemeral node it keeps.
pub(crate) struct EphemeralSpec {
    id: u64,
    path: String,
    data: Vec<u8>,
    /// Missing parents are created (else the node waits for its parent).
    make_parents: bool,
    /// The generation whose ZooKeeper session holds the node (0: none).
    created_in: AtomicU64,
    removed: AtomicBool,
    removed_notify: Notify,
    status: watch::Sender<EphemeralStatus>,
}

impl EphemeralSpec {
    fn set_status(&self, status: EphemeralStatus) {
        if !self.removed.load(Ordering::Acquire) {
            self.status.send_replace(status);
        }
    }
}

/// An ephemeral node held by a [`Session`]; see [`Session::create_ephemeral`].
///
/// Dropping the handle deletes the node in the background (best effort); call
/// [`EphemeralNode::delete`] to know it is gone.
#[must_use = "dropping an EphemeralNode deletes the node: keep it for as long as the node should exist"]
pub struct EphemeralNode {
    session: Session,
    spec: Arc<EphemeralSpec>,
    keeper: tokio::task::JoinHandle<()>,
    deleted: bool,
}

impl std::fmt::Debug for EphemeralNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EphemeralNode")
            .field("path", &self.spec.path)
            .field("status", &self.status())
            .finish()
    }
}

impl EphemeralNode {
    /// The node's path (within the session's chroot).
    pub fn path(&self) -> &str {
        &self.spec.path
    }

    /// The node's data.
    pub fn data(&self) -> &[u8] {
        &self.spec.data
    }

    /// Where the node stands now.
    pub fn status(&self) -> EphemeralStatus {
        self.spec.status.borrow().clone()
    }

    /// A watch of [`EphemeralNode::status`].
    pub fn status_watch(&self) -> watch::Receiver<EphemeralStatus> {
        self.spec.status.subscribe()
    }

    /// Waits until the node is [`EphemeralStatus::Active`].
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`, naming the last status.
    pub async fn wait_active(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.status_watch();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|s| s.is_active())).await.map(|r| r.is_ok());
        match waited {
            Ok(true) => Ok(()),
            _ => Err(Error::Timeout {
                what: format!("ephemeral {} to be active (status: {:?})", self.spec.path, self.status()),
                after: timeout,
            }),
        }
    }

    /// Deletes the node and stops keeping it. Waits (up to the session timeout) for a connection
    /// if ZooKeeper is unreachable.
    ///
    /// # Errors
    /// The ZooKeeper error if the node could not be deleted; it then still goes when the
    /// ZooKeeper session ends.
    pub async fn delete(mut self) -> Result<()> {
        let known = match self.status() {
            EphemeralStatus::Active { session_id } => Some(session_id),
            _ => None,
        };
        self.deleted = true;
        let shared = self.session.shared.clone();
        if known.is_none() {
            self.stop_keeping();
            return delete_owned(&shared, &self.spec.path, known).await;
        }
        // The keeper is watching the node: let the deletion fire its watch rather than drop the
        // watcher first, which would make zookeeper-client send a `removeWatches` request
        // ahead of the delete, one more request per deregistration. Marked removed first, the
        // keeper stops at its next look instead of re-creating the node.
        self.mark_removed();
        let deleted = delete_owned(&shared, &self.spec.path, known).await;
        self.stop_keeping();
        deleted
    }

    /// Marks the node as no longer wanted: the keeper stops at its next look.
    fn mark_removed(&self) {
        self.spec.removed.store(true, Ordering::Release);
        self.spec.status.send_replace(EphemeralStatus::Deleted);
        lock(&self.session.shared.ephemerals).remove(&self.spec.id);
    }

    fn stop_keeping(&self) {
        self.mark_removed();
        self.spec.removed_notify.notify_waiters();
        self.keeper.abort();
    }
}

impl Drop for EphemeralNode {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        self.stop_keeping();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let shared = self.session.shared.clone();
            let session = self.session.clone();
            let path = self.spec.path.clone();
            handle.spawn(async move {
                if let Err(e) = delete_owned(&shared, &path, None).await {
                    tracing::warn!(%path, error = %e, "could not delete a dropped ephemeral node");
                }
                drop(session);
            });
        }
    }
}

/// Deletes `path` if the current ZooKeeper session owns it, waiting a bounded time for a
/// connection. `known_owner`: the session the keeper last saw owning the node; when it is the
/// current one, the node is deleted in one request (no `exists` first), which is what makes
/// deregistration as fast as a raw delete.
async fn delete_owned(shared: &SessionCore, path: &str, known_owner: Option<i64>) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut backoff = shared.backoff();
    loop {
        let attempt = async {
            let live = shared.live_now()?;
            if known_owner == Some(live.client.session_id().0) {
                return match live.client.delete(path, None).await {
                    Ok(()) | Err(ZkError::NoNode) => Ok(()),
                    Err(e) => Err(Error::zk("delete", path, e)),
                };
            }
            let stat = live.client.check_stat(path).await.map_err(|e| Error::zk("check_stat", path, e))?;
            match stat {
                Some(stat) if stat.ephemeral_owner == live.client.session_id().0 => {
                    match live.client.delete(path, Some(stat.version)).await {
                        Ok(()) | Err(ZkError::NoNode) => Ok(()),
                        Err(e) => Err(Error::zk("delete", path, e)),
                    }
                }
                _ => Ok(()),
            }
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(Error::SessionClosed) => return Ok(()),
            Err(e) if e.is_retryable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What [`ensure`] found.
enum Outcome {
    Active,
    Conflict(i64),
}

/// Makes sure `spec`'s node exists under `client`'s session.
async fn ensure(shared: &SessionCore, client: &Client, spec: &EphemeralSpec) -> Result<Outcome> {
    let path = spec.path.as_str();
    let ours = client.session_id().0;
    let acls = Acls::new(shared.acl_entries());
    let ephemeral = CreateMode::Ephemeral.with_acls(acls);
    let mut made_parent = false;
    for _ in 0..8 {
        match client.create(path, &spec.data, &ephemeral).await {
            Ok(_) => return Ok(Outcome::Active),
            Err(ZkError::NodeExists) => {
                let stat = client.check_stat(path).await.map_err(|e| Error::zk("check_stat", path, e))?;
                match stat {
                    None => continue,
                    Some(stat) if stat.ephemeral_owner == ours => return Ok(Outcome::Active),
                    Some(stat) if stat.ephemeral_owner != 0 && shared.was_ours(stat.ephemeral_owner) => {
                        tracing::info!(%path, owner = stat.ephemeral_owner, "deleting our ephemeral left by a dead session");
                        match client.delete(path, Some(stat.version)).await {
                            Ok(()) | Err(ZkError::NoNode) | Err(ZkError::BadVersion) => continue,
                            Err(e) => return Err(Error::zk("delete", path, e)),
                        }
                    }
                    Some(stat) => return Ok(Outcome::Conflict(stat.ephemeral_owner)),
                }
            }
            Err(ZkError::NoNode) if !made_parent && spec.make_parents => {
                made_parent = true;
                if let Some(parent) = crate::session::parent(path) {
                    shared.ensure_path_on(client, parent).await?;
                }
            }
            Err(e) => return Err(shared.name_identity(client, Error::zk("create", path, e)).await),
        }
    }
    Err(Error::zk("create", path, ZkError::NodeExists))
}

fn record(spec: &EphemeralSpec, client: &Client, generation: u64, outcome: &Result<Outcome>) {
    match outcome {
        Ok(Outcome::Active) => {
            spec.created_in.store(generation, Ordering::Release);
            spec.set_status(EphemeralStatus::Active { session_id: client.session_id().0 });
        }
        Ok(Outcome::Conflict(owner)) => spec.set_status(EphemeralStatus::Conflict { owner: *owner }),
        Err(e) => spec.set_status(EphemeralStatus::Pending { last_error: Some(e.clone()) }),
    }
}

/// Called by the supervisor when the ZooKeeper session is lost: every kept node went with it,
/// so none is `Active` until the replay on the next session re-creates it.
pub(crate) fn mark_lost(shared: &SessionCore) {
    for spec in lock(&shared.ephemerals).values() {
        spec.created_in.store(0, Ordering::Release);
        spec.set_status(EphemeralStatus::Pending { last_error: None });
    }
}

/// Called by the supervisor with a new ZooKeeper session, before it is announced: re-creates
/// every registered ephemeral.
pub(crate) async fn replay(shared: &SessionCore, client: &Client, generation: u64) {
    let specs: Vec<Arc<EphemeralSpec>> = lock(&shared.ephemerals).values().cloned().collect();
    if specs.is_empty() {
        return;
    }
    let results = futures::future::join_all(specs.iter().map(|spec| ensure(shared, client, spec))).await;
    let mut active = 0;
    for (spec, outcome) in specs.iter().zip(results) {
        active += matches!(outcome, Ok(Outcome::Active)) as usize;
        record(spec, client, generation, &outcome);
    }
    tracing::info!(connect = %shared.connect, total = specs.len(), active, "ephemerals re-created");
    crate::metrics::ephemerals_recreated(active);
}

impl Session {
    /// Creates an ephemeral node kept like [`Session::create_ephemeral`]'s, but never creates
    /// its parent: while the parent is missing, the node stays
    /// [`EphemeralStatus::Pending`] (with a `NoNode` error) and is retried with back-off.
    ///
    /// For a node that describes its parent (a status under a document): re-creating it after
    /// a session expiry or a deletion must not bring back a parent someone deleted.
    ///
    /// # Errors
    /// As [`Session::create_ephemeral`]; a missing parent on the first attempt is a `NoNode`
    /// error ([`Error::Zookeeper`]).
    pub async fn create_ephemeral_child(&self, path: &str, data: &[u8]) -> Result<EphemeralNode> {
        crate::session::validate_path(path)?;
        if path == "/" {
            return Err(Error::InvalidPath { path: path.into(), reason: "cannot create the root".into() });
        }
        create_with(self.clone(), path, data, false).await
    }
}

/// [`Session::create_ephemeral`].
pub(crate) async fn create(session: Session, path: &str, data: &[u8]) -> Result<EphemeralNode> {
    create_with(session, path, data, true).await
}

/// An ephemeral kept by the session, its parents created when missing if `make_parents`.
async fn create_with(session: Session, path: &str, data: &[u8], make_parents: bool) -> Result<EphemeralNode> {
    let shared = session.shared.clone();
    if shared.is_closed() {
        return Err(Error::SessionClosed);
    }
    let id = shared.next_ephemeral.fetch_add(1, Ordering::Relaxed);
    let (status, _) = watch::channel(EphemeralStatus::Pending { last_error: None });
    let spec = Arc::new(EphemeralSpec {
        id,
        path: path.to_owned(),
        data: data.to_vec(),
        make_parents,
        created_in: AtomicU64::new(0),
        removed: AtomicBool::new(false),
        removed_notify: Notify::new(),
        status,
    });
    {
        let mut table = lock(&shared.ephemerals);
        if table.values().any(|s| s.path == path) {
            return Err(Error::InvalidPath {
                path: path.to_owned(),
                reason: "this session already keeps an ephemeral node at this path".into(),
            });
        }
        table.insert(id, spec.clone());
    }
    // First attempt inline, so that the caller learns of bad input at once.
    if let Ok(live) = shared.live_now() {
        let outcome = ensure(&shared, &live.client, &spec).await;
        if let Err(e) = &outcome {
            if !e.is_retryable() {
                lock(&shared.ephemerals).remove(&id);
                return Err(e.clone());
            }
        }
        record(&spec, &live.client, live.generation, &outcome);
    }
    let keeper = tokio::spawn(keep(shared, spec.clone()));
    Ok(EphemeralNode { session, spec, keeper, deleted: false })
}

/// How long a new keeper waits before its first look at the node (a deletion meanwhile is still
/// noticed: the first look then finds no node and the keeper re-creates it).
const FIRST_WATCH_DELAY: Duration = Duration::from_millis(10);

/// How many keepers of one session may have their watch request in flight at once.
///
/// A node needs its watch only to notice a deletion by someone else; until it is set, a deletion
/// is still noticed (the request then finds no node and the keeper re-creates it). A session
/// that registers many nodes at once (a deploy storm, a replay after expiry) would otherwise send
/// one request per node right behind its creates, and ZooKeeper serves requests from every
/// session through one pipeline: consumers' reads of the new members would queue behind them.
pub(crate) const WATCHES_IN_FLIGHT: usize = 4;

/// The keeper task: re-creates the node when it is missing in the current generation, then
/// watches it until it is deleted, changes hands or the session ends.
async fn keep(shared: Arc<SessionCore>, spec: Arc<EphemeralSpec>) {
    let mut backoff = shared.backoff();
    // The create that made the node has just woken every consumer of it, whose reads follow at
    // once: this session's `exists` waits until they are through rather than compete with them.
    tokio::time::sleep(FIRST_WATCH_DELAY).await;
    let Ok(mut live) = shared.live_after(0).await else { return };
    loop {
        if spec.removed.load(Ordering::Acquire) {
            return;
        }
        if spec.created_in.load(Ordering::Acquire) != live.generation {
            let outcome = ensure(&shared, &live.client, &spec).await;
            record(&spec, &live.client, live.generation, &outcome);
            if let Err(e) = outcome {
                let error = e.zookeeper_error().cloned().unwrap_or(ZkError::ConnectionLoss);
                match shared.retry_after(&live, &mut backoff, &error).await {
                    Ok(l) => live = l,
                    Err(_) => return,
                }
                continue;
            }
            backoff.reset();
        }
        match watch_once(&shared, &spec, &live, &mut backoff).await {
            Some(next) => live = next,
            None => return,
        }
    }
}

/// A node this session may not read (somebody else's, or ours under an ACL without READ for
/// us): ZooKeeper checks a watch against the node's ACL before it delivers the event, so no
/// watch of any kind would say when it goes. The keeper looks again (create, or who holds it)
/// after the session's longest back-off instead.
async fn unwatchable(shared: &SessionCore, spec: &EphemeralSpec, live: &LiveClient) -> Option<LiveClient> {
    spec.created_in.store(0, Ordering::Release);
    unless_stopped(shared, spec, tokio::time::sleep(shared.options.backoff_max)).await?;
    Some(live.clone())
}

/// `work`'s output, or `None` when the owner removes the node or the session closes first
/// (the keeper then stops).
async fn unless_stopped<T>(
    shared: &SessionCore,
    spec: &EphemeralSpec,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        out = work => Some(out),
        _ = spec.removed_notify.notified() => None,
        _ = shared.closed() => None,
    }
}

/// Watches the node once: its deletion or the end of the session. Returns the client to go on
/// with, `None` when the keeper should stop (the node was removed by its owner, or the session
/// closed).
///
/// The watch is a children watch on the node itself: ZooKeeper fires it when the node is
/// deleted, and an ephemeral has no children, so nothing else fires it. An `exists` or data
/// watch would fire at every write of the node's data too (a config watcher's status node is
/// written at every change), each costing the keeper a wake-up and another request to set it
/// again.
async fn watch_once(
    shared: &SessionCore,
    spec: &EphemeralSpec,
    live: &LiveClient,
    backoff: &mut Backoff,
) -> Option<LiveClient> {
    let ours = live.client.session_id().0;
    let watched = {
        let _permit = unless_stopped(shared, spec, shared.watch_permits.acquire()).await?;
        live.client.get_and_watch_children(&spec.path).await
    };
    let (stat, watcher) = match watched {
        Ok((_, stat, watcher)) => (stat, watcher),
        Err(ZkError::NoNode) => {
            spec.created_in.store(0, Ordering::Release);
            return Some(live.clone());
        }
        Err(ZkError::NoAuth) => return unwatchable(shared, spec, live).await,
        Err(error) => return shared.retry_after(live, backoff, &error).await.ok(),
    };
    if stat.ephemeral_owner != ours {
        spec.created_in.store(0, Ordering::Release);
        spec.set_status(EphemeralStatus::Conflict { owner: stat.ephemeral_owner });
    }
    let event = unless_stopped(shared, spec, super::watch_event(watcher)).await?;
    match event {
        EventType::Session => return shared.live_after(live.generation).await.ok(),
        EventType::NodeDeleted if spec.removed.load(Ordering::Acquire) => return None,
        EventType::NodeDeleted => {
            tracing::info!(path = %spec.path, "ephemeral deleted while the session lives; re-creating");
            crate::metrics::ephemerals_recreated(1);
            spec.created_in.store(0, Ordering::Release);
            spec.set_status(EphemeralStatus::Pending { last_error: None });
        }
        _ => {}
    }
    Some(live.clone())
}
