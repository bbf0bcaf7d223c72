//! Double barrier (enter together, leave together), after the ZooKeeper recipe.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{CreateMode, Error as ZkError, EventType};

use crate::error::{Error, Result};
use registry::{LiveClient, Session};

use crate::name::recipe_dir;
use crate::node::{await_change, live_by, recover, sorted_children, until, OwnNode};

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
        self.enter_by(None).await?.ok_or(Error::SessionClosed)
    }

    /// Enters, and waits up to `timeout` until all participants have.
    ///
    /// # Errors
    /// [`Error::Timeout`] when they did not in time (this participant withdraws); otherwise as
    /// [`DoubleBarrier::enter`].
    pub async fn enter_timeout(&self, timeout: Duration) -> Result<BarrierMember> {
        match self.enter_by(Some(Instant::now() + timeout)).await? {
            Some(member) => Ok(member),
            None => Err(Error::Timeout {
                what: format!("{} participants in {}", self.size, self.dir),
                after: timeout,
            }),
        }
    }

    async fn enter_by(&self, deadline: Option<Instant>) -> Result<Option<BarrierMember>> {
        let shared = self.session.core();
        let Some(mut live) = live_by(&shared, deadline).await? else { return Ok(None) };
        let mut backoff = shared.backoff();
        let ready = registry::join(&self.dir, READY);
        let mut node = OwnNode::new(shared.clone(), &self.dir, MARKER, &self.data);
        let mut checked = false;
        'retry: loop {
            let failed = 'attempt: {
                if !checked {
                    match self.check_size(&live).await {
                        Ok(()) => checked = true,
                        Err(Ok(e)) => return Err(e),
                        Err(Err(failed)) => break 'attempt failed,
                    }
                }
                // Watch `ready` before joining, so that its creation cannot be missed.
                let (released, watcher) = match live.client.check_and_watch_stat(&ready).await {
                    Ok((stat, watcher)) => (stat.is_some(), watcher),
                    Err(e) => break 'attempt ("check_and_watch_stat", ready.clone(), e),
                };
                if let Err(failed) = node.ensure(&live).await {
                    break 'attempt failed;
                }
                if released {
                    return Ok(Some(BarrierMember::new(node)));
                }
                let members = match live.client.get_children(&self.dir).await {
                    Ok((children, _)) => sorted_children(children, &[MARKER]).len(),
                    Err(e) => break 'attempt ("get_children", self.dir.clone(), e),
                };
                if members >= self.size {
                    match live.client.create(&ready, &[], &live.create_options(CreateMode::Persistent)).await
                    {
                        Ok(_) | Err(ZkError::NodeExists) => {
                            tracing::info!(path = %self.dir, members, "barrier released");
                            return Ok(Some(BarrierMember::new(node)));
                        }
                        Err(e) => break 'attempt ("create", ready.clone(), e),
                    }
                }
                backoff.reset();
                let event = tokio::select! {
                    event = until(deadline, registry::watch_event(watcher)) => event,
                    _ = shared.closed() => return Err(Error::SessionClosed),
                };
                match event {
                    None => {
                        if let Err(e) = node.delete().await {
                            tracing::warn!(path = %self.dir, error = %e, "could not withdraw from a barrier");
                        }
                        return Ok(None);
                    }
                    Some(EventType::Session) => {
                        match until(deadline, shared.live_after(live.generation)).await {
                            None => return Ok(None),
                            Some(next) => live = next?,
                        }
                    }
                    Some(EventType::NodeCreated) => return Ok(Some(BarrierMember::new(node))),
                    Some(_) => {}
                }
                continue 'retry;
            };
            let (op, path, error) = failed;
            match recover(&shared, &live, &mut backoff, deadline, op, &path, error).await? {
                Some(next) => live = next,
                None => return Ok(None),
            }
        }
    }

    /// Creates the barrier node with our size, or checks the size it holds.
    /// `Err(Ok(_))`: a final error; `Err(Err(_))`: a request failed.
    async fn check_size(
        &self,
        live: &LiveClient,
    ) -> std::result::Result<(), std::result::Result<Error, (&'static str, String, ZkError)>> {
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
                    live.ensure_path(ROOT).await.map_err(|e| Ok(e.into()))?;
                }
                Err(ZkError::NodeExists) => break,
                Err(e) => return Err(Err(("create", self.dir.clone(), e))),
            }
        }
        let data = match live.client.get_data(&self.dir).await {
            Ok((data, _)) => data,
            Err(e) => return Err(Err(("get_data", self.dir.clone(), e))),
        };
        let theirs = String::from_utf8_lossy(&data);
        if theirs.trim() == size {
            Ok(())
        } else {
            Err(Ok(Error::InvalidArgument {
                what: format!("barrier size for {}", self.dir),
                reason: format!("the barrier is for {theirs:?} participants, not {size}"),
            }))
        }
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
        match self.leave_by(None).await? {
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
        let what = format!("every participant to leave {}", self.node.dir);
        match self.leave_by(Some(Instant::now() + timeout)).await? {
            true => Ok(()),
            false => Err(Error::Timeout { what, after: timeout }),
        }
    }

    /// `Ok(false)`: the deadline passed.
    async fn leave_by(self, deadline: Option<Instant>) -> Result<bool> {
        let shared = self.node.shared.clone();
        let dir = self.node.dir.clone();
        let ours = self.node.created().map(|c| c.name.clone()).unwrap_or_default();
        let ready = registry::join(&dir, READY);
        let Some(mut live) = live_by(&shared, deadline).await? else { return Ok(false) };
        let mut backoff = shared.backoff();
        'retry: loop {
            let failed = 'attempt: {
                let members = match live.client.get_children(&dir).await {
                    Ok((children, _)) => sorted_children(children, &[MARKER]),
                    Err(ZkError::NoNode) => Vec::new(),
                    Err(e) => break 'attempt ("get_children", dir.clone(), e),
                };
                let index = members.iter().position(|m| m.name == ours);
                let wait_for = match (members.len(), index) {
                    (0, _) => {
                        self.node.disarm();
                        return Ok(true);
                    }
                    (1, Some(_)) => {
                        // The last one: `ready` goes first, then our node.
                        for path in [ready.as_str(), self.path.as_str()] {
                            match live.client.delete(path, None).await {
                                Ok(()) | Err(ZkError::NoNode) => {}
                                Err(e) => break 'attempt ("delete", path.to_owned(), e),
                            }
                        }
                        tracing::info!(path = %dir, "barrier left by everyone");
                        self.node.disarm();
                        return Ok(true);
                    }
                    (n, Some(0)) => &members[n - 1],
                    (_, Some(_)) => {
                        match live.client.delete(&self.path, None).await {
                            Ok(()) | Err(ZkError::NoNode) => {}
                            Err(e) => break 'attempt ("delete", self.path.clone(), e),
                        }
                        &members[0]
                    }
                    (_, None) => &members[0],
                };
                let wait_for = registry::join(&dir, &wait_for.name);
                let watcher = match live.client.check_and_watch_stat(&wait_for).await {
                    Ok((None, _)) => continue 'retry,
                    Ok((Some(_), watcher)) => watcher,
                    Err(e) => break 'attempt ("check_and_watch_stat", wait_for, e),
                };
                backoff.reset();
                if !await_change(&shared, &mut live, watcher, deadline).await? {
                    return Ok(false);
                }
                continue 'retry;
            };
            let (op, path, error) = failed;
            match recover(&shared, &live, &mut backoff, deadline, op, &path, error).await? {
                Some(next) => live = next,
                None => return Ok(false),
            }
        }
    }
}
