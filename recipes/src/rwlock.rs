//! Read/write lock, laid out like Curator's `InterProcessReadWriteLock`.

use std::time::Duration;

use tokio::time::Instant;

use registry::Session;

use crate::contend::{acquire, predecessor, Line};
use crate::error::{Error, Result};
use crate::held::LockGuard;
use crate::name::recipe_dir;
use crate::node::Child;
use crate::retry::Patience;

/// Where locks live.
const ROOT: &str = "/locks";
/// What its names name, for errors.
const KIND: &str = "read/write lock";
/// Curator's read and write lock names.
const READ: &str = "__READ__";
const WRITE: &str = "__WRIT__";
const BOTH: &[&str] = &[READ, WRITE];

/// A reader waits for the last writer before it (readers before it do not matter).
fn last_earlier_writer(children: &[Child], ours: usize) -> Option<usize> {
    children[..ours].iter().rposition(|c| c.has_marker(WRITE))
}

/// A lock that many readers share and a writer holds alone, across processes.
///
/// Contenders queue as EPHEMERAL_SEQUENTIAL nodes `/locks/<name>/_c_<uuid>-__READ__<seq>` and
/// `…-__WRIT__<seq>` (Curator's `InterProcessReadWriteLock` names). In sequence order:
/// - a **writer** holds the lock when no node is before it, and otherwise waits for the node just
///   before its own (reader or writer): it waits for every earlier node;
/// - a **reader** holds the lock when no writer is before it, and otherwise waits for the last
///   writer before it: readers overlap, and a reader that arrives behind a waiting writer waits
///   for that writer (writers do not starve).
///
/// Each waiter watches one node, so a release wakes only those it lets in. Not re-entrant, no
/// upgrade or downgrade. Session loss is handled as for [`crate::Lock`]: a holder is told through
/// its [`LockGuard`], a waiter queues again. A [`crate::Lock`] of the same name is a different
/// lock (its `lock-` nodes are ignored here, and these are ignored by it): do not mix them.
#[derive(Debug, Clone)]
pub struct ReadWriteLock {
    session: Session,
    dir: String,
    data: Vec<u8>,
}

impl ReadWriteLock {
    /// The read/write lock `name` (a service-name-like path segment) on `session`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a name outside `[A-Za-z0-9._-]{1,255}`.
    pub fn new(session: &Session, name: &str) -> Result<ReadWriteLock> {
        Ok(ReadWriteLock { session: session.clone(), dir: recipe_dir(KIND, ROOT, name)?, data: Vec::new() })
    }

    /// Data written into this process's lock nodes (e.g. its address). Default: empty.
    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data = data.to_vec();
        self
    }

    /// The lock's directory, `/locks/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    fn line(&self, write: bool) -> Line<'_> {
        if write {
            Line { dir: &self.dir, marker: WRITE, markers: BOTH, blocker: predecessor, what: "write lock" }
        } else {
            Line {
                dir: &self.dir,
                marker: READ,
                markers: BOTH,
                blocker: last_earlier_writer,
                what: "read lock",
            }
        }
    }

    async fn lock(&self, write: bool, patience: Patience) -> Result<Option<LockGuard>> {
        Ok(acquire(&self.session, self.line(write), &self.data, patience).await?.map(LockGuard::new))
    }

    async fn lock_timeout(&self, write: bool, timeout: Duration) -> Result<LockGuard> {
        match self.lock(write, Patience::Until(Instant::now() + timeout)).await? {
            Some(guard) => Ok(guard),
            None => Err(Error::Timeout {
                what: format!("{} lock {}", if write { "write" } else { "read" }, self.dir),
                after: timeout,
            }),
        }
    }

    /// Waits as long as it takes for a share of the lock. Cancel-safe.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; a ZooKeeper error that waiting cannot cure.
    pub async fn read(&self) -> Result<LockGuard> {
        self.lock(false, Patience::Forever).await?.ok_or(Error::SessionClosed)
    }

    /// Waits as long as it takes for the lock alone. Cancel-safe.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; a ZooKeeper error that waiting cannot cure.
    pub async fn write(&self) -> Result<LockGuard> {
        self.lock(true, Patience::Forever).await?.ok_or(Error::SessionClosed)
    }

    /// Takes a share of the lock if no writer holds it or waits for it, without waiting.
    ///
    /// # Errors
    /// A ZooKeeper error, such as connection loss when ZooKeeper is unreachable now.
    pub async fn try_read(&self) -> Result<Option<LockGuard>> {
        self.lock(false, Patience::Never).await
    }

    /// Takes the lock alone if nobody holds it or waits for it, without waiting.
    ///
    /// # Errors
    /// A ZooKeeper error, such as connection loss when ZooKeeper is unreachable now.
    pub async fn try_write(&self) -> Result<Option<LockGuard>> {
        self.lock(true, Patience::Never).await
    }

    /// Waits up to `timeout` for a share of the lock.
    ///
    /// # Errors
    /// [`Error::Timeout`] when not acquired in time; otherwise as [`ReadWriteLock::read`].
    pub async fn read_timeout(&self, timeout: Duration) -> Result<LockGuard> {
        self.lock_timeout(false, timeout).await
    }

    /// Waits up to `timeout` for the lock alone.
    ///
    /// # Errors
    /// [`Error::Timeout`] when not acquired in time; otherwise as [`ReadWriteLock::write`].
    pub async fn write_timeout(&self, timeout: Duration) -> Result<LockGuard> {
        self.lock_timeout(true, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kinds: &str) -> Vec<Child> {
        kinds
            .chars()
            .enumerate()
            .map(|(i, k)| Child {
                name: format!("_c_x-{}{:010}", if k == 'W' { WRITE } else { READ }, i),
                seq: i as i64,
            })
            .collect()
    }

    #[test]
    fn readers_wait_for_the_last_earlier_writer_only() {
        let children = line("RRWRRWR");
        assert_eq!(last_earlier_writer(&children, 0), None);
        assert_eq!(last_earlier_writer(&children, 1), None, "readers share");
        assert_eq!(last_earlier_writer(&children, 3), Some(2), "a reader behind a writer waits");
        assert_eq!(last_earlier_writer(&children, 4), Some(2));
        assert_eq!(last_earlier_writer(&children, 6), Some(5), "the last earlier writer");
        assert_eq!(predecessor(&children, 2), Some(1), "a writer waits for every earlier node");
        assert_eq!(predecessor(&children, 0), None);
    }
}
