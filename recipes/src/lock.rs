//! Exclusive lock, laid out like Curator's `InterProcessMutex`.

use std::time::Duration;

use tokio::time::Instant;

use registry::Session;

use crate::contend::{acquire, predecessor, Line};
use crate::error::{Error, Result};
use crate::held::LockGuard;
use crate::name::recipe_dir;
use crate::retry::Patience;

/// Where locks live.
const ROOT: &str = "/locks";
/// What its names name, for errors.
const KIND: &str = "lock";
/// Curator's `InterProcessMutex` lock name.
const MARKER: &str = "lock-";

/// An exclusive lock shared by every process that names it: at most one [`LockGuard`] at a time.
///
/// Contenders queue as EPHEMERAL_SEQUENTIAL nodes `/locks/<name>/_c_<uuid>-lock-<seq>` (the
/// layout of Curator's `InterProcessMutex`, so Java processes can share the lock); the lowest
/// holds the lock, each other waits for the deletion of the node just before its own, so a
/// release wakes exactly one waiter. The lock is fair (first come, first served) and not
/// re-entrant: acquiring it again through the same or another `Lock` value waits like anybody
/// else, so tasks of one process exclude each other too.
///
/// # Session loss
/// A holder whose ZooKeeper session expires has lost the lock (its node is gone, and another
/// contender may hold the lock already): [`LockGuard::is_held`] turns false and
/// [`LockGuard::lost`] resolves; nothing is re-acquired behind the holder's back. While the session
/// is only `Suspended` (disconnected, not yet expired) the guard still says held, although
/// ZooKeeper may expire the session before this process hears of it: work that must never run
/// twice should also pause on [`registry::SessionState::Suspended`]. A contender that is still
/// *waiting* when its session expires queues again under the new session.
///
/// ```no_run
/// # async fn demo(session: registry::Session) -> zkmesh_recipes::Result<()> {
/// let lock = zkmesh_recipes::Lock::new(&session, "nightly-report")?;
/// let guard = lock.acquire().await?;
/// tokio::select! {
///     _ = guard.lost() => eprintln!("lock lost, stopping"),
///     _ = async { /* the critical work */ } => {}
/// }
/// guard.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Lock {
    session: Session,
    dir: String,
    data: Vec<u8>,
}

impl Lock {
    /// The lock `name` (a service-name-like path segment) on `session`. Nothing is written
    /// until the lock is acquired.
    ///
    /// # Errors
    /// [`Error::InvalidName`] (kind `"lock"`) for a name outside `[A-Za-z0-9._-]{1,255}`.
    pub fn new(session: &Session, name: &str) -> Result<Lock> {
        Ok(Lock { session: session.clone(), dir: recipe_dir(KIND, ROOT, name)?, data: Vec::new() })
    }

    /// Data written into this process's lock nodes, e.g. its address, so that operators can see
    /// who holds or waits. Default: empty.
    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data = data.to_vec();
        self
    }

    /// The lock's directory, `/locks/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    fn line(&self) -> Line<'_> {
        Line { dir: &self.dir, marker: MARKER, markers: &[MARKER], blocker: predecessor, what: "lock" }
    }

    /// Waits as long as it takes (through disconnections and session expiry) for the lock.
    /// Cancel-safe: dropping the future gives up the place in line.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; a ZooKeeper error that waiting cannot cure (such as `NoAuth`).
    pub async fn acquire(&self) -> Result<LockGuard> {
        match acquire(&self.session, self.line(), &self.data, Patience::Forever).await? {
            Some(held) => Ok(LockGuard::new(held)),
            None => Err(Error::SessionClosed),
        }
    }

    /// Takes the lock if nobody holds it or waits for it, without waiting.
    ///
    /// # Errors
    /// A ZooKeeper error, such as connection loss when ZooKeeper is unreachable now
    /// ([`Error::is_retryable`]); [`Error::SessionClosed`].
    pub async fn try_acquire(&self) -> Result<Option<LockGuard>> {
        Ok(acquire(&self.session, self.line(), &self.data, Patience::Never).await?.map(LockGuard::new))
    }

    /// Waits up to `timeout` for the lock.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the lock was not acquired in time (the place in line is given
    /// up); otherwise as [`Lock::acquire`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard> {
        let patience = Patience::Until(Instant::now() + timeout);
        match acquire(&self.session, self.line(), &self.data, patience).await? {
            Some(held) => Ok(LockGuard::new(held)),
            None => Err(Error::Timeout { what: format!("lock {}", self.dir), after: timeout }),
        }
    }
}
