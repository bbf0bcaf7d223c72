//! FIFO queue across processes, laid out like the ZooKeeper recipe (`DistributedQueue`).

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{CreateMode, Error as ZkError};

use crate::error::{Error, Result};
use registry::{LiveClient, Session};

use crate::name::recipe_dir;
use crate::node::{await_change, live_by, recover, sequence_of, sorted_children, OwnNode};

/// Where queues live.
const ROOT: &str = "/queues";
/// What its names name, for errors.
const KIND: &str = "queue";
/// The item prefix of the ZooKeeper recipe's `DistributedQueue`.
const PREFIX: &str = "qn-";
/// The marker of a waiting taker's node.
const TAKER: &str = "taker-";

fn is_item(name: &str) -> bool {
    name.starts_with(PREFIX) && sequence_of(name).is_some()
}

/// A first-in, first-out queue of byte items shared by every process that names it.
///
/// Items are PERSISTENT_SEQUENTIAL nodes `/queues/<name>/qn-<seq>` whose data is the item (the
/// layout of the ZooKeeper recipe's `DistributedQueue`); they outlive their producer. A take reads
/// the lowest item and deletes it; the delete decides between competing takers (a failed delete
/// means someone else took that item, and the taker tries the next), so each item is taken once.
///
/// [`DistributedQueue::take`] blocks until an item arrives, without a herd: takers that find the
/// queue empty line up as EPHEMERAL_SEQUENTIAL nodes `/queues/<name>/_c_<uuid>-taker-<seq>`
/// (ignored by item readers); the first in line alone watches the queue's children, every other
/// waiting taker watches the taker just before it. An arriving item wakes one taker, which takes
/// it and leaves the line, waking the next one.
///
/// Delivery is at most once when the connection drops at the wrong moment: a take whose delete
/// was sent but whose answer was lost cannot tell whether it or another taker deleted the item,
/// and leaves it (like Curator's and kazoo's queues); a put whose answer was lost returns the
/// error, and the item may or may not be queued. Items hold at most ZooKeeper's `jute.maxbuffer`
/// (1 MiB by default).
#[derive(Debug, Clone)]
pub struct DistributedQueue {
    session: Session,
    dir: String,
}

impl DistributedQueue {
    /// The queue `name` (a service-name-like path segment) on `session`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a name outside `[A-Za-z0-9._-]{1,255}`.
    pub fn new(session: &Session, name: &str) -> Result<DistributedQueue> {
        Ok(DistributedQueue { session: session.clone(), dir: recipe_dir(KIND, ROOT, name)? })
    }

    /// The queue's directory, `/queues/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    /// Appends `item`, waiting for a connection while ZooKeeper is unreachable. Returns the
    /// item's sequence number.
    ///
    /// # Errors
    /// A ZooKeeper error (connection loss: the item may or may not be queued; oversized data:
    /// it is not); [`Error::SessionClosed`].
    pub async fn put(&self, item: &[u8]) -> Result<u64> {
        let shared = &self.session.core();
        let live = shared.wait_usable(self.session.generation()).await?;
        let base = registry::join(&self.dir, PREFIX);
        let mut made_dir = false;
        loop {
            match live
                .client
                .create(&base, item, &live.create_options(CreateMode::PersistentSequential))
                .await
            {
                Ok((_, seq)) => return Ok(seq.into_i64().max(0) as u64),
                Err(ZkError::NoNode) if !made_dir => {
                    made_dir = true;
                    live.ensure_path(&self.dir).await?;
                }
                Err(e) => return Err(Error::zk("create", base, e)),
            }
        }
    }

    /// Takes the first item, waiting as long as it takes for one.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; a ZooKeeper error that waiting cannot cure.
    pub async fn take(&self) -> Result<Vec<u8>> {
        self.take_by(None, true).await?.ok_or(Error::SessionClosed)
    }

    /// Takes the first item, waiting up to `timeout` for one.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no item came in time; otherwise as [`DistributedQueue::take`].
    pub async fn take_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        match self.take_by(Some(Instant::now() + timeout), true).await? {
            Some(item) => Ok(item),
            None => Err(Error::Timeout { what: format!("an item in queue {}", self.dir), after: timeout }),
        }
    }

    /// Takes the first item if there is one, without waiting for one.
    ///
    /// # Errors
    /// A ZooKeeper error, such as connection loss when ZooKeeper is unreachable now.
    pub async fn try_take(&self) -> Result<Option<Vec<u8>>> {
        self.take_by(Some(Instant::now()), false).await
    }

    /// How many items are queued now.
    ///
    /// # Errors
    /// A ZooKeeper error, such as connection loss when ZooKeeper is unreachable now.
    pub async fn len(&self) -> Result<usize> {
        let live = self.session.core().live_now()?;
        match live.client.get_children(&self.dir).await {
            Ok((children, _)) => Ok(sorted_children(children, &[PREFIX]).len()),
            Err(ZkError::NoNode) => Ok(0),
            Err(e) => Err(Error::zk("get_children", &self.dir, e)),
        }
    }

    /// Whether the queue is empty now.
    ///
    /// # Errors
    /// As [`DistributedQueue::len`].
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// `Ok(None)`: nothing taken before `deadline`. With `wait` false, a connection problem is
    /// an error rather than something to wait out, and nobody joins the line of waiting takers.
    async fn take_by(&self, deadline: Option<Instant>, wait: bool) -> Result<Option<Vec<u8>>> {
        let mut line = wait.then(|| OwnNode::new(self.session.core(), &self.dir, TAKER, &[]));
        let taken = self.take_in_line(deadline, line.as_mut()).await;
        if let Some(node) = line.filter(|node| node.may_exist()) {
            // Leave the line now (an error leaves it in the background, when `node` drops).
            if taken.is_ok() {
                if let Err(e) = node.delete().await {
                    tracing::warn!(dir = %self.dir, error = %e, "could not leave the takers' line");
                }
            }
        }
        taken
    }

    /// Takes the first item; when there is none, waits in the takers' line (if `line` is given).
    async fn take_in_line(
        &self,
        deadline: Option<Instant>,
        mut line: Option<&mut OwnNode>,
    ) -> Result<Option<Vec<u8>>> {
        let shared = &self.session.core();
        let wait = line.is_some();
        let mut backoff = shared.backoff();
        let mut live = if wait {
            match live_by(shared, deadline).await? {
                Some(live) => live,
                None => return Ok(None),
            }
        } else {
            shared.live_now()?
        };
        'retry: loop {
            let failed = 'attempt: {
                match self.take_first(&live).await {
                    Ok(Some(item)) => return Ok(Some(item)),
                    Ok(None) => {}
                    Err(e) => break 'attempt e,
                }
                let Some(node) = line.as_deref_mut() else { return Ok(None) };
                // Empty: wait in line. Only the first taker in line watches the queue.
                if let Err((op, _, e)) = node.ensure(&live).await {
                    break 'attempt (op, e);
                }
                let Some(ours) = node.created().map(|c| c.name.clone()) else {
                    break 'attempt ("create", ZkError::RuntimeInconsistent);
                };
                let children = match live.client.get_children(&self.dir).await {
                    Ok((children, _)) => children,
                    Err(ZkError::NoNode) => {
                        node.forget();
                        continue 'retry;
                    }
                    Err(e) => break 'attempt ("get_children", e),
                };
                if children.iter().any(|c| is_item(c)) {
                    continue 'retry;
                }
                let takers = sorted_children(children, &[TAKER]);
                let Some(index) = takers.iter().position(|t| t.name == ours) else {
                    node.forget();
                    continue 'retry;
                };
                let watcher = if index == 0 {
                    match live.client.get_and_watch_children(&self.dir).await {
                        Ok((children, _, watcher)) => {
                            if children.iter().any(|c| is_item(c)) {
                                continue 'retry;
                            }
                            watcher
                        }
                        Err(ZkError::NoNode) => {
                            node.forget();
                            continue 'retry;
                        }
                        Err(e) => break 'attempt ("get_and_watch_children", e),
                    }
                } else {
                    let before = registry::join(&self.dir, &takers[index - 1].name);
                    match live.client.check_and_watch_stat(&before).await {
                        Ok((None, _)) => continue 'retry,
                        Ok((Some(_), watcher)) => watcher,
                        Err(e) => break 'attempt ("check_and_watch_stat", e),
                    }
                };
                backoff.reset();
                if !await_change(shared, &mut live, watcher, deadline).await? {
                    return Ok(None);
                }
                continue 'retry;
            };
            let (op, error) = failed;
            let kept = error.clone();
            let recover_by = if wait { deadline } else { Some(Instant::now()) };
            match recover(shared, &live, &mut backoff, recover_by, op, &self.dir, error).await? {
                Some(next) => live = next,
                None if !wait => return Err(Error::zk(op, &self.dir, kept)),
                None => return Ok(None),
            }
        }
    }

    /// One pass over the queue: the first item that we manage to delete. `Ok(None)`: empty.
    async fn take_first(
        &self,
        live: &LiveClient,
    ) -> std::result::Result<Option<Vec<u8>>, (&'static str, ZkError)> {
        let children = match live.client.get_children(&self.dir).await {
            Ok((children, _)) => children,
            Err(ZkError::NoNode) => return Ok(None),
            Err(e) => return Err(("get_children", e)),
        };
        for item in sorted_children(children, &[PREFIX]) {
            let path = registry::join(&self.dir, &item.name);
            let (data, stat) = match live.client.get_data(&path).await {
                Ok(read) => read,
                Err(ZkError::NoNode) => continue,
                Err(e) => return Err(("get_data", e)),
            };
            match live.client.delete(&path, Some(stat.version)).await {
                Ok(()) => return Ok(Some(data)),
                // Someone else took it (or changed it, which no taker does): try the next.
                Err(ZkError::NoNode | ZkError::BadVersion) => continue,
                Err(e) => return Err(("delete", e)),
            }
        }
        Ok(None)
    }
}
