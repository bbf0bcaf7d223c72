//! The contention loop shared by the lock, the read/write lock and the election: a protected
//! ephemeral sequential node joins a line, and waits on the one earlier node that stands in its
//! way (never on the parent, so a release wakes one waiter, not all).

use tokio::time::Instant;
use zookeeper_client::Error as ZkError;

use crate::error::{Error, Result};
use registry::{LiveClient, Session};

use crate::held::{log_gained, Held};
use crate::node::{await_change, live_by, recover, sorted_children, Child, OwnNode};

/// How long a contender waits for its turn.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patience {
    /// Not at all: take the turn if it is ours now (a connection problem is an error).
    Never,
    /// Until the deadline.
    Until(Instant),
    /// As long as it takes.
    Forever,
}

impl Patience {
    fn deadline(self) -> Option<Instant> {
        match self {
            Patience::Never => Some(Instant::now()),
            Patience::Until(deadline) => Some(deadline),
            Patience::Forever => None,
        }
    }
}

/// Which earlier child (an index below `ours`) the node at `ours` must wait for, if any.
pub(crate) type Blocker = fn(&[Child], usize) -> Option<usize>;

/// Waits for the immediate predecessor, whatever it is (exclusive lock, election, writer).
pub(crate) fn predecessor(_: &[Child], ours: usize) -> Option<usize> {
    ours.checked_sub(1)
}

/// One kind of line: where it is, how its nodes are named and who waits for whom.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub(crate) dir: &'a str,
    /// The marker of the node we create (`lock-`, `latch-`, `__READ__`, ...).
    pub(crate) marker: &'a str,
    /// The markers of the nodes that take part.
    pub(crate) markers: &'a [&'a str],
    pub(crate) blocker: Blocker,
    /// For logs: `lock`, `read lock`, `leadership`, ...
    pub(crate) what: &'static str,
}

/// Joins the line with `data` in the node and waits (per `patience`) for our turn. `Ok(None)`:
/// not our turn within the patience; the node is deleted again.
pub(crate) async fn acquire(
    session: &Session,
    line: Line<'_>,
    data: &[u8],
    patience: Patience,
) -> Result<Option<Held>> {
    let mut node = OwnNode::new(session.core(), line.dir, line.marker, data);
    match contend(&mut node, &line, patience).await? {
        Some(live) => {
            let Some(created) = node.disarm() else {
                return Err(Error::zk("create", line.dir, ZkError::RuntimeInconsistent));
            };
            log_gained(&created.path, line.what);
            Ok(Some(Held::start(session, created, live.generation, line.what)))
        }
        None => {
            if let Err(e) = node.delete().await {
                tracing::warn!(dir = %line.dir, error = %e, "could not delete a contender node that gave up");
            }
            Ok(None)
        }
    }
}

/// The loop: (re-)create our node, list the line, wait on the blocker, until nothing blocks us.
/// Returns the client of the session our node lives in, or `None` when patience ran out.
async fn contend(node: &mut OwnNode, line: &Line<'_>, patience: Patience) -> Result<Option<LiveClient>> {
    let shared = node.shared.clone();
    let deadline = patience.deadline();
    let mut backoff = shared.backoff();
    let mut live = match patience {
        Patience::Never => shared.live_now()?,
        _ => match live_by(&shared, deadline).await? {
            Some(live) => live,
            None => return Ok(None),
        },
    };
    'retry: loop {
        let failed = 'attempt: {
            if let Err(failed) = node.ensure(&live).await {
                break 'attempt failed;
            }
            let Some(ours) = node.created().cloned() else {
                break 'attempt ("create", line.dir.to_owned(), ZkError::RuntimeInconsistent);
            };
            let children = match live.client.get_children(line.dir).await {
                Ok((children, _)) => children,
                Err(ZkError::NoNode) => {
                    node.forget();
                    continue 'retry;
                }
                Err(e) => break 'attempt ("get_children", line.dir.to_owned(), e),
            };
            let children = sorted_children(children, line.markers);
            let Some(index) = children.iter().position(|c| c.name == ours.name) else {
                // Deleted by someone, or our session ended: queue again (we held nothing yet).
                tracing::debug!(path = %ours.path, "contender node vanished; joining the line again");
                node.forget();
                continue 'retry;
            };
            let Some(blocker) = (line.blocker)(&children, index) else {
                return Ok(Some(live));
            };
            if matches!(patience, Patience::Never) {
                return Ok(None);
            }
            let blocker = registry::join(line.dir, &children[blocker].name);
            let watcher = match live.client.check_and_watch_stat(&blocker).await {
                Ok((None, _)) => continue 'retry,
                Ok((Some(_), watcher)) => watcher,
                Err(e) => break 'attempt ("check_and_watch_stat", blocker, e),
            };
            backoff.reset();
            tracing::debug!(path = %ours.path, waits_for = %blocker, "waiting for an earlier node");
            if !await_change(&shared, &mut live, watcher, deadline).await? {
                return Ok(None);
            }
            continue 'retry;
        };
        let (op, path, error) = failed;
        let kept = error.clone();
        match recover(&shared, &live, &mut backoff, deadline, op, &path, error).await? {
            Some(next) => live = next,
            None if matches!(patience, Patience::Never) => return Err(Error::zk(op, path, kept)),
            None => return Ok(None),
        }
    }
}
