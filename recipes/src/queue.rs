//! FIFO queue across processes, laid out like the ZooKeeper recipe (`DistributedQueue`).

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{CreateMode, Error as ZkError, OneshotWatcher};

use registry::{LiveClient, Session};

use crate::error::{Error, Result};
use crate::name::recipe_dir;
use crate::node::{sequence_of, sorted_children, Child, OwnNode};
use crate::retry::{failed, retry, Attempt, Attempted, Attempts, Failed, Patience, Step};

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
        self.take_by(Patience::Forever).await?.ok_or(Error::SessionClosed)
    }

    /// Takes the first item, waiting up to `timeout` for one.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no item came in time; otherwise as [`DistributedQueue::take`].
    pub async fn take_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        match self.take_by(Patience::Until(Instant::now() + timeout)).await? {
            Some(item) => Ok(item),
            None => Err(Error::Timeout { what: format!("an item in queue {}", self.dir), after: timeout }),
        }
    }

    /// Takes the first item if there is one, without waiting for one.
    ///
    /// # Errors
    /// A ZooKeeper error, such as connection loss when ZooKeeper is unreachable now.
    pub async fn try_take(&self) -> Result<Option<Vec<u8>>> {
        self.take_by(Patience::Never).await
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

    /// `Ok(None)`: nothing taken within the patience. With [`Patience::Never`], a connection
    /// problem is an error rather than something to wait out, and nobody joins the line of
    /// waiting takers.
    async fn take_by(&self, patience: Patience) -> Result<Option<Vec<u8>>> {
        let shared = self.session.core();
        let mut taker = Taker { queue: self, line: OwnNode::new(shared.clone(), &self.dir, TAKER, &[]) };
        let taken = retry(&shared, patience, &mut taker).await;
        let line = taker.line;
        // Leave the line now (an error leaves it in the background, when `line` drops).
        if taken.is_ok() && line.may_exist() {
            if let Err(e) = line.delete().await {
                tracing::warn!(dir = %self.dir, error = %e, "could not leave the takers' line");
            }
        }
        taken
    }

    /// Takes the first item; when there is none, waits in the takers' line (if the caller
    /// waits at all).
    async fn take_or_wait(&self, at: &mut Attempt<'_>, line: &mut OwnNode) -> Attempted<Vec<u8>> {
        if let Some(item) = self.take_first(&at.live).await? {
            return Ok(Step::Done(item));
        }
        if !at.can_wait() {
            return Ok(Step::OutOfTime);
        }
        line.ensure(&at.live).await?;
        let Some(ours) = line.created().map(|c| c.name.clone()) else {
            return failed("create", &self.dir, ZkError::RuntimeInconsistent);
        };
        let children = match at.live.client.get_children(&self.dir).await {
            Ok((children, _)) => children,
            Err(ZkError::NoNode) => {
                line.forget();
                return Ok(Step::Again);
            }
            Err(e) => return failed("get_children", &self.dir, e),
        };
        if children.iter().any(|c| is_item(c)) {
            return Ok(Step::Again);
        }
        let takers = sorted_children(children, &[TAKER]);
        let Some(index) = takers.iter().position(|t| t.name == ours) else {
            line.forget();
            return Ok(Step::Again);
        };
        match self.watch_turn(&at.live, &takers, index).await? {
            Turn::Watch(watcher) => at.wait(watcher).await,
            Turn::LookAgain => Ok(Step::Again),
            Turn::Rejoin => {
                line.forget();
                Ok(Step::Again)
            }
        }
    }

    /// The watch of the waiting taker at `index` of `takers`: the first in line alone watches
    /// the queue's children, every other taker the taker just before it.
    async fn watch_turn(&self, live: &LiveClient, takers: &[Child], index: usize) -> Result<Turn, Failed> {
        if index == 0 {
            return match live.client.get_and_watch_children(&self.dir).await {
                Ok((children, _, _)) if children.iter().any(|c| is_item(c)) => Ok(Turn::LookAgain),
                Ok((_, _, watcher)) => Ok(Turn::Watch(watcher)),
                Err(ZkError::NoNode) => Ok(Turn::Rejoin),
                Err(e) => Err(Failed::new("get_and_watch_children", &self.dir, e)),
            };
        }
        let before = registry::join(&self.dir, &takers[index - 1].name);
        match live.client.check_and_watch_stat(&before).await {
            Ok((None, _)) => Ok(Turn::LookAgain),
            Ok((Some(_), watcher)) => Ok(Turn::Watch(watcher)),
            Err(e) => Err(Failed::new("check_and_watch_stat", before, e)),
        }
    }

    /// One pass over the queue: the first item that we manage to delete. `Ok(None)`: empty.
    async fn take_first(&self, live: &LiveClient) -> Result<Option<Vec<u8>>, Failed> {
        let children = match live.client.get_children(&self.dir).await {
            Ok((children, _)) => children,
            Err(ZkError::NoNode) => return Ok(None),
            Err(e) => return Err(Failed::new("get_children", &self.dir, e)),
        };
        for item in sorted_children(children, &[PREFIX]) {
            let path = registry::join(&self.dir, &item.name);
            let (data, stat) = match live.client.get_data(&path).await {
                Ok(read) => read,
                Err(ZkError::NoNode) => continue,
                Err(e) => return Err(Failed::new("get_data", path, e)),
            };
            match live.client.delete(&path, Some(stat.version)).await {
                Ok(()) => return Ok(Some(data)),
                // Someone else took it (or changed it, which no taker does): try the next.
                Err(ZkError::NoNode | ZkError::BadVersion) => continue,
                Err(e) => return Err(Failed::new("delete", path, e)),
            }
        }
        Ok(None)
    }
}

/// A taker: the queue, and its node in the takers' line while it waits.
struct Taker<'a> {
    queue: &'a DistributedQueue,
    line: OwnNode,
}

impl Attempts for Taker<'_> {
    type Output = Vec<u8>;

    async fn attempt(&mut self, at: &mut Attempt<'_>) -> Attempted<Vec<u8>> {
        self.queue.take_or_wait(at, &mut self.line).await
    }
}

/// What a waiting taker does next.
enum Turn {
    /// Waits for this watch.
    Watch(OneshotWatcher),
    /// Looks at the queue again (an item came, or the taker before it left).
    LookAgain,
    /// Joins the line again (the queue's directory is gone, and our node with it).
    Rejoin,
}
