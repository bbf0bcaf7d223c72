//! Double barrier (enter together, leave together), after the ZooKeeper recipe.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{CreateMode, Error as ZkError};

use registry::{LiveClient, Session};

use crate::error::{Error, Result};
use crate::name::recipe_dir;
use crate::node::{sorted_children, OwnNode};
use crate::retry::{failed, retry, Attempt, Attempted, Attempts, Failed, Patience, Setback, Step};

/// Where barriers live.
const ROOT: &str = "/barriers";
/// What its names name, for errors.
const KIND: &str = "barrier";
const MARKER: &str = "member-";
/// The node the last participant in creates to release everyone (the recipe's name).
const READY: &str = "ready";

/// A barrier for a fixed number of participants, who enter together and leave together.
///
/// Layout: the barrier node `/barriers/<name>` (PERSISTENT, data = the number of participants in
/// decimal, written by the first to come and checked by everyone after), one EPHEMERAL_SEQUENTIAL
/// node per participant `/barriers/<name>/_c_<uuid>-member-<seq>`, and `/barriers/<name>/ready`.
///
/// [`DoubleBarrier::enter`] (the ZooKeeper recipe): watch `ready`, join, count the members; the
/// participant that makes the count reach the size creates `ready`, whose creation releases every
/// waiter at once (each waiter watches `ready` only). [`BarrierMember::leave`]: the member with
/// the lowest node waits for the highest, every other member deletes its node and waits for the
/// lowest, until nobody is left; the last one deletes `ready` before its own node, so the barrier
/// can be used again once *everyone* has left. Do not start the next round under the same name
/// while members of the last one are still leaving (or name each round, e.g. `batch-42`).
///
/// A participant whose session expires while waiting to enter joins again under the new
/// session; one whose session expires inside the barrier has left it (its node is gone).
#[derive(Debug, Clone)]
pub struct DoubleBarrier {
    session: Session,
    dir: String,
    size: usize,
    data: Vec<u8>,
}

impl DoubleBarrier {
    /// The barrier `name` (a service-name-like path segment) for `size` participants.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a name outside `[A-Za-z0-9._-]{1,255}`;
    /// [`Error::InvalidArgument`] for a size of 0.
    pub fn new(session: &Session, name: &str, size: usize) -> Result<DoubleBarrier> {
        let dir = recipe_dir(KIND, ROOT, name)?;
        if size == 0 {
            return Err(Error::InvalidArgument {
                what: format!("barrier size for {dir}"),
                reason: "a barrier needs at least one participant".into(),
            });
        }
        Ok(DoubleBarrier { session: session.clone(), dir, size, data: Vec::new() })
    }

    /// Data written into this participant's node (e.g. its address). Default: empty.
    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data = data.to_vec();
        self
    }

    /// The barrier node, `/barriers/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    /// The number of participants the barrier waits for.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Enters, and waits as long as it takes until all participants have. Cancel-safe: dropping
    /// the future withdraws this participant.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the barrier node says another size; [`Error::SessionClosed`];
    /// a ZooKeeper error that waiting cannot cure.
    pub async fn enter(&self) -> Result<BarrierMember> {
        self.enter_by(Patience::Forever).await?.ok_or(Error::SessionClosed)
    }

    /// Enters, and waits up to `timeout` until all participants have.
    ///
    /// # Errors
    /// [`Error::Timeout`] when they did not in time (this participant withdraws); otherwise as
    /// [`DoubleBarrier::enter`].
    pub async fn enter_timeout(&self, timeout: Duration) -> Result<BarrierMember> {
        match self.enter_by(Patience::Until(Instant::now() + timeout)).await? {
            Some(member) => Ok(member),
            None => Err(Error::Timeout {
                what: format!("{} participants in {}", self.size, self.dir),
                after: timeout,
            }),
        }
    }

    /// `Ok(None)`: not everyone came within the patience (this participant withdrew).
    async fn enter_by(&self, patience: Patience) -> Result<Option<BarrierMember>> {
        let shared = self.session.core();
        let node = OwnNode::new(shared.clone(), &self.dir, MARKER, &self.data);
        let mut entering = Entering { barrier: self, node, checked: false };
        let entered = retry(&shared, patience, &mut entering).await?;
        let node = entering.node;
        if entered.is_some() {
            return Ok(Some(BarrierMember::new(node)));
        }
        if let Err(e) = node.delete().await {
            tracing::warn!(path = %self.dir, error = %e, "could not withdraw from a barrier");
        }
        Ok(None)
    }

    /// The recipe's enter: watch `ready` (before joining, so that its creation cannot be
    /// missed), join, count the members; the one that makes the count reach the size creates
    /// `ready`. Done: `ready` exists.
    async fn try_enter(&self, at: &mut Attempt<'_>, node: &mut OwnNode, checked: &mut bool) -> Attempted<()> {
        if !*checked {
            self.check_size(&at.live).await?;
            *checked = true;
        }
        let ready = registry::join(&self.dir, READY);
        let (released, watcher) = match at.live.client.check_and_watch_stat(&ready).await {
            Ok((stat, watcher)) => (stat.is_some(), watcher),
            Err(e) => return failed("check_and_watch_stat", ready, e),
        };
        node.ensure(&at.live).await?;
        if released {
            return Ok(Step::Done(()));
        }
        let members = match at.live.client.get_children(&self.dir).await {
            Ok((children, _)) => sorted_children(children, &[MARKER]).len(),
            Err(e) => return failed("get_children", &self.dir, e),
        };
        if members >= self.size {
            let options = at.live.create_options(CreateMode::Persistent);
            return match at.live.client.create(&ready, &[], &options).await {
                Ok(_) | Err(ZkError::NodeExists) => {
                    tracing::info!(path = %self.dir, members, "barrier released");
                    Ok(Step::Done(()))
                }
                Err(e) => failed("create", ready, e),
            };
        }
        at.wait(watcher).await
    }

    /// Creates the barrier node with our size, or checks the size it holds.
    async fn check_size(&self, live: &LiveClient) -> std::result::Result<(), Setback> {
        let size = self.size.to_string();
        let mut made_parent = false;
        loop {
            match live
                .client
                .create(&self.dir, size.as_bytes(), &live.create_options(CreateMode::Persistent))
                .await
            {
                Ok(_) => return Ok(()),
                Err(ZkError::NoNode) if !made_parent => {
                    made_parent = true;
                    live.ensure_path(ROOT).await?;
                }
                Err(ZkError::NodeExists) => break,
                Err(e) => return Err(Failed::new("create", &self.dir, e).into()),
            }
        }
        let data = match live.client.get_data(&self.dir).await {
            Ok((data, _)) => data,
            Err(e) => return Err(Failed::new("get_data", &self.dir, e).into()),
        };
        let theirs = String::from_utf8_lossy(&data);
        if theirs.trim() == size {
            Ok(())
        } else {
            Err(Setback::Final(Error::InvalidArgument {
                what: format!("barrier size for {}", self.dir),
                reason: format!("the barrier is for {theirs:?} participants, not {size}"),
            }))
        }
    }
}

/// A participant on its way in: its node, and whether the barrier's size was checked.
struct Entering<'a> {
    barrier: &'a DoubleBarrier,
    node: OwnNode,
    checked: bool,
}

impl Attempts for Entering<'_> {
    type Output = ();

    async fn attempt(&mut self, at: &mut Attempt<'_>) -> Attempted<()> {
        self.barrier.try_enter(at, &mut self.node, &mut self.checked).await
    }
}

/// A participant on its way out.
struct Leaving<'a>(&'a BarrierMember);

impl Attempts for Leaving<'_> {
    type Output = ();

    async fn attempt(&mut self, at: &mut Attempt<'_>) -> Attempted<()> {
        self.0.try_leave(at).await
    }
}

/// A participant inside a [`DoubleBarrier`]. Call [`BarrierMember::leave`] to leave together
/// with the others; dropping it leaves without waiting (its node is deleted in the background).
#[derive(Debug)]
pub struct BarrierMember {
    node: OwnNode,
    path: String,
}

impl BarrierMember {
    fn new(node: OwnNode) -> Self {
        let path = node.created().map(|c| c.path.clone()).unwrap_or_default();
        BarrierMember { node, path }
    }

    /// This participant's node.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Leaves, and waits as long as it takes until every participant has left.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; a ZooKeeper error that waiting cannot cure.
    pub async fn leave(self) -> Result<()> {
        match self.leave_by(Patience::Forever).await? {
            true => Ok(()),
            false => Err(Error::SessionClosed),
        }
    }

    /// Leaves, and waits up to `timeout` until every participant has left.
    ///
    /// # Errors
    /// [`Error::Timeout`] when some did not in time (this participant's node is deleted anyway);
    /// otherwise as [`BarrierMember::leave`].
    pub async fn leave_timeout(self, timeout: Duration) -> Result<()> {
        let what = format!("every participant to leave {}", self.node.dir());
        match self.leave_by(Patience::Until(Instant::now() + timeout)).await? {
            true => Ok(()),
            false => Err(Error::Timeout { what, after: timeout }),
        }
    }

    /// `Ok(false)`: not everyone left within the patience.
    async fn leave_by(self, patience: Patience) -> Result<bool> {
        let shared = self.node.shared().clone();
        if retry(&shared, patience, &mut Leaving(&self)).await?.is_none() {
            return Ok(false);
        }
        self.node.disarm();
        Ok(true)
    }

    /// The recipe's leave: the member with the lowest node waits for the highest, every other
    /// member deletes its node and waits for the lowest; the last one deletes `ready`, then its
    /// own node. Done: nobody is left.
    async fn try_leave(&self, at: &mut Attempt<'_>) -> Attempted<()> {
        let dir = self.node.dir();
        let members = match at.live.client.get_children(dir).await {
            Ok((children, _)) => sorted_children(children, &[MARKER]),
            Err(ZkError::NoNode) => Vec::new(),
            Err(e) => return failed("get_children", dir, e),
        };
        let ours = self.node.created().map(|c| c.name.as_str());
        let index = members.iter().position(|m| Some(m.name.as_str()) == ours);
        let wait_for = match (members.len(), index) {
            (0, _) => return Ok(Step::Done(())),
            (1, Some(_)) => {
                for path in [registry::join(dir, READY), self.path.clone()] {
                    match at.live.client.delete(&path, None).await {
                        Ok(()) | Err(ZkError::NoNode) => {}
                        Err(e) => return failed("delete", path, e),
                    }
                }
                tracing::info!(path = %dir, "barrier left by everyone");
                return Ok(Step::Done(()));
            }
            (n, Some(0)) => &members[n - 1],
            (_, Some(_)) => {
                match at.live.client.delete(&self.path, None).await {
                    Ok(()) | Err(ZkError::NoNode) => {}
                    Err(e) => return failed("delete", &self.path, e),
                }
                &members[0]
            }
            (_, None) => &members[0],
        };
        let wait_for = registry::join(dir, &wait_for.name);
        let watcher = match at.live.client.check_and_watch_stat(&wait_for).await {
            Ok((None, _)) => return Ok(Step::Again),
            Ok((Some(_), watcher)) => watcher,
            Err(e) => return failed("check_and_watch_stat", wait_for, e),
        };
        at.wait(watcher).await
    }
}
