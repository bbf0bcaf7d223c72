//! The contention loop shared by the lock, the read/write lock and the election: a protected
//! ephemeral sequential node joins a line, and waits on the one earlier node that stands in its
//! way (never on the parent, so a release wakes one waiter, not all).

use zookeeper_client::Error as ZkError;

use registry::Session;

use crate::error::{Error, Result};
use crate::held::{log_gained, Held};
use crate::node::{sorted_children, Child, OwnNode};
use crate::retry::{failed, retry, Attempt, Attempted, Attempts, Patience, Step};

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
    let shared = session.core();
    let mut contender = Contender { node: OwnNode::new(shared.clone(), line.dir, line.marker, data), line };
    let turn = retry(&shared, patience, &mut contender).await?;
    let node = contender.node;
    match turn {
        Some(generation) => {
            let Some(created) = node.disarm() else {
                return Err(Error::zk("create", line.dir, ZkError::RuntimeInconsistent));
            };
            log_gained(&created.path, line.what);
            Ok(Some(Held::start(session, created, generation, line.what)))
        }
        None => {
            if let Err(e) = node.delete().await {
                tracing::warn!(dir = %line.dir, error = %e, "could not delete a contender node that gave up");
            }
            Ok(None)
        }
    }
}

/// A place in a line: our node.
struct Contender<'a> {
    node: OwnNode,
    line: Line<'a>,
}

impl Attempts for Contender<'_> {
    type Output = u64;

    /// One look at the line: (re-)create our node, list the line, and wait on the node that
    /// blocks us, if any. Done: nothing blocks us, with the generation of our node's session.
    async fn attempt(&mut self, at: &mut Attempt<'_>) -> Attempted<u64> {
        let (node, line) = (&mut self.node, self.line);
        node.ensure(&at.live).await?;
        let Some(ours) = node.created().cloned() else {
            return failed("create", line.dir, ZkError::RuntimeInconsistent);
        };
        let children = match at.live.client.get_children(line.dir).await {
            Ok((children, _)) => children,
            Err(ZkError::NoNode) => {
                node.forget();
                return Ok(Step::Again);
            }
            Err(e) => return failed("get_children", line.dir, e),
        };
        let children = sorted_children(children, line.markers);
        let Some(index) = children.iter().position(|c| c.name == ours.name) else {
            // Deleted by someone, or our session ended: queue again (we held nothing yet).
            tracing::debug!(path = %ours.path, "contender node vanished; joining the line again");
            node.forget();
            return Ok(Step::Again);
        };
        let Some(blocker) = (line.blocker)(&children, index) else {
            return Ok(Step::Done(at.live.generation));
        };
        if !at.can_wait() {
            return Ok(Step::OutOfTime);
        }
        let blocker = registry::join(line.dir, &children[blocker].name);
        let watcher = match at.live.client.check_and_watch_stat(&blocker).await {
            Ok((None, _)) => return Ok(Step::Again),
            Ok((Some(_), watcher)) => watcher,
            Err(e) => return failed("check_and_watch_stat", blocker, e),
        };
        tracing::debug!(path = %ours.path, waits_for = %blocker, "waiting for an earlier node");
        at.wait(watcher).await
    }
}
