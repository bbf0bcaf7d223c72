//! A counting semaphore, laid out like Curator's `InterProcessSemaphoreV2`.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use zookeeper_client::Error as ZkError;

use registry::Session;

use crate::contend::{acquire, predecessor, Line};
use crate::error::{Error, Result};
use crate::held::Held;
use crate::name::recipe_dir;
use crate::node::OwnNode;
use crate::retry::{failed, retry, Attempt, Attempted, Attempts, Patience, Step};

/// Where semaphores live.
const ROOT: &str = "/semaphores";
/// What its names name, for errors.
const KIND: &str = "semaphore";
/// Curator's lease node name.
const LEASE: &str = "lease-";
/// Curator's `InterProcessMutex` node name, for the semaphore's internal lock.
const LOCK: &str = "lock-";

/// A counting semaphore shared by every process that names it: at most `max_leases` [`Lease`]s
/// at a time.
///
/// The layout is Curator's `InterProcessSemaphoreV2`, so Java processes can share it:
/// - `/semaphores/<name>/leases/_c_<uuid>-lease-<seq>` (EPHEMERAL_SEQUENTIAL, data = this
///   process's data): one node per lease, held or being waited for;
/// - `/semaphores/<name>/locks/_c_<uuid>-lock-<seq>`: an `InterProcessMutex` that one acquirer at
///   a time holds while it adds its lease node and waits for it to count.
///
/// An acquirer takes the internal lock, creates its lease node, and lists the leases (watching
/// them): once there are at most `max_leases` nodes, its own included, it holds a lease and
/// releases the internal lock; until then it waits for a lease to go. Counting is safe without
/// the internal lock too (the node created last sees every node alive at its grant), which is why
/// a waiter whose session expires may create its lease node again under the new session without
/// losing the guarantee; the internal lock only keeps waiters from starving each other.
///
/// Like Curator, the limit is not stored in ZooKeeper: every process must use the same
/// `max_leases`. A lease whose ZooKeeper session expires is gone (its node went with the
/// session, and someone else may hold it now): [`Lease::is_held`] turns false and
/// [`Lease::lost`] resolves; it is not taken back by itself.
///
/// ```no_run
/// # async fn demo(session: registry::Session) -> zkmesh_recipes::Result<()> {
/// let downloads = zkmesh_recipes::Semaphore::new(&session, "downloads", 4)?;
/// let lease = downloads.acquire_timeout(std::time::Duration::from_secs(30)).await?;
/// /* at most 4 of these at a time, across every process */
/// lease.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    session: Session,
    dir: String,
    leases: String,
    locks: String,
    max_leases: u32,
    data: Vec<u8>,
}

impl Semaphore {
    /// The semaphore `name` (a service-name-like path segment) with `max_leases` leases.
    /// Nothing is written until a lease is acquired.
    ///
    /// # Errors
    /// [`Error::InvalidName`] (kind `"semaphore"`); [`Error::InvalidArgument`] for 0 leases.
    pub fn new(session: &Session, name: &str, max_leases: u32) -> Result<Semaphore> {
        let dir = recipe_dir(KIND, ROOT, name)?;
        if max_leases == 0 {
            return Err(Error::InvalidArgument {
                what: format!("max_leases of semaphore {dir}"),
                reason: "a semaphore needs at least one lease".into(),
            });
        }
        Ok(Semaphore {
            session: session.clone(),
            leases: registry::join(&dir, "leases"),
            locks: registry::join(&dir, "locks"),
            dir,
            max_leases,
            data: Vec::new(),
        })
    }

    /// Data written into this process's lease nodes (Curator's `setNodeData`), e.g. its
    /// address. Default: empty.
    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data = data.to_vec();
        self
    }

    /// The semaphore's directory, `/semaphores/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    /// How many leases there are.
    pub fn max_leases(&self) -> u32 {
        self.max_leases
    }

    /// Waits as long as it takes (through disconnections and session expiry) for a lease.
    /// Cancel-safe: dropping the future deletes the nodes it made.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; a ZooKeeper error that waiting cannot cure (such as `NoAuth`).
    pub async fn acquire(&self) -> Result<Lease> {
        self.lease(Patience::Forever).await?.ok_or(Error::SessionClosed)
    }

    /// Takes a lease if one is free and nobody else is acquiring, without waiting.
    ///
    /// # Errors
    /// A ZooKeeper error, such as connection loss when ZooKeeper is unreachable now
    /// ([`Error::is_retryable`]); [`Error::SessionClosed`].
    pub async fn try_acquire(&self) -> Result<Option<Lease>> {
        self.lease(Patience::Never).await
    }

    /// Waits up to `timeout` for a lease.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no lease was free in time (the nodes made are deleted);
    /// otherwise as [`Semaphore::acquire`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Lease> {
        match self.lease(Patience::Until(Instant::now() + timeout)).await? {
            Some(lease) => Ok(lease),
            None => {
                Err(Error::Timeout { what: format!("a lease of semaphore {}", self.dir), after: timeout })
            }
        }
    }

    /// The lease nodes (held or waited for), by name, in sequence order.
    ///
    /// # Errors
    /// A ZooKeeper error (connection loss when ZooKeeper is unreachable now);
    /// [`Error::SessionClosed`].
    pub async fn participants(&self) -> Result<Vec<String>> {
        let live = self.session.core().live_now()?;
        match live.client.get_children(&self.leases).await {
            Ok((children, _)) => {
                Ok(crate::node::sorted_children(children, &[LEASE]).into_iter().map(|c| c.name).collect())
            }
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(Error::zk("get_children", &self.leases, e)),
        }
    }

    /// Takes the internal lock, then waits for a lease within `patience`.
    async fn lease(&self, patience: Patience) -> Result<Option<Lease>> {
        let line = Line {
            dir: &self.locks,
            marker: LOCK,
            markers: &[LOCK],
            blocker: predecessor,
            what: "semaphore lock",
        };
        let Some(mutex) = acquire(&self.session, line, &[], patience).await? else {
            return Ok(None);
        };
        let shared = self.session.core();
        let node = OwnNode::new(shared.clone(), &self.leases, LEASE, &self.data);
        let mut waiter = LeaseWaiter { node, max: self.max_leases as usize };
        let granted = retry(&shared, patience, &mut waiter).await;
        if let Err(e) = mutex.release().await {
            tracing::debug!(dir = %self.locks, error = %e, "semaphore lock not released; it goes with the session");
        }
        let node = waiter.node;
        match granted? {
            Some(generation) => {
                let Some(created) = node.disarm() else {
                    return Err(Error::zk("create", &self.leases, ZkError::RuntimeInconsistent));
                };
                tracing::info!(path = %created.path, "semaphore lease acquired");
                Ok(Some(Lease { held: Held::start(&self.session, created, generation, "semaphore lease") }))
            }
            None => {
                if let Err(e) = node.delete().await {
                    tracing::warn!(dir = %self.leases, error = %e, "could not delete a lease node that gave up");
                }
                Ok(None)
            }
        }
    }
}

/// Our lease node, waiting to count among the first `max`.
struct LeaseWaiter {
    node: OwnNode,
    max: usize,
}

impl Attempts for LeaseWaiter {
    type Output = u64;

    /// (Re-)creates our lease node, lists the leases with a watch, and waits for a change
    /// while there are more than `max`. Done: the generation of our node's session.
    async fn attempt(&mut self, at: &mut Attempt<'_>) -> Attempted<u64> {
        self.node.ensure(&at.live).await?;
        let Some(ours) = self.node.created().cloned() else {
            return failed("create", self.node.dir(), ZkError::RuntimeInconsistent);
        };
        let dir = self.node.dir().to_owned();
        let (children, watcher) = match at.live.client.get_and_watch_children(&dir).await {
            Ok((children, _, watcher)) => (children, watcher),
            Err(ZkError::NoNode) => {
                self.node.forget();
                return Ok(Step::Again);
            }
            Err(e) => return failed("get_and_watch_children", dir, e),
        };
        if !children.contains(&ours.name) {
            tracing::debug!(path = %ours.path, "lease node vanished; creating it again");
            self.node.forget();
            return Ok(Step::Again);
        }
        if children.len() <= self.max {
            return Ok(Step::Done(at.live.generation));
        }
        if !at.can_wait() {
            return Ok(Step::OutOfTime);
        }
        tracing::debug!(path = %ours.path, leases = children.len(), max = self.max, "waiting for a lease");
        at.wait(watcher).await
    }
}

/// A lease of a [`Semaphore`], held until released or lost.
///
/// Dropping it releases the lease in the background; [`Lease::release`] releases it and says
/// whether that worked.
#[derive(Debug)]
pub struct Lease {
    held: Held,
}

impl Lease {
    /// The lease node, e.g. `/semaphores/downloads/leases/_c_<uuid>-lease-0000000004`.
    pub fn path(&self) -> &str {
        self.held.path()
    }

    /// Whether the lease is still held (false once lost or released).
    pub fn is_held(&self) -> bool {
        self.held.is_held()
    }

    /// A watch of [`Lease::is_held`]: true while held, false once lost.
    pub fn held_watch(&self) -> watch::Receiver<bool> {
        self.held.watch()
    }

    /// Resolves once the lease is lost (at once if it already is).
    pub async fn lost(&self) {
        self.held.lost().await
    }

    /// Releases the lease: deletes its node, waiting up to 10 s for a connection if ZooKeeper
    /// is unreachable.
    ///
    /// # Errors
    /// The ZooKeeper error (or [`Error::Timeout`]) if the node could not be deleted; it then
    /// still goes when the ZooKeeper session ends.
    pub async fn release(self) -> Result<()> {
        self.held.release().await
    }
}
