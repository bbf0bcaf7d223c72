//! Group membership: members announce themselves with ephemeral nodes, anyone observes them
//! (Curator's `GroupMember` layout).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client::Error as ZkError;

use registry::{EphemeralNode, EphemeralStatus, LiveClient, NodeEvent, NodeWatch, Session, SessionCore};

use crate::error::{Error, Result};
use crate::name::recipe_dir;

/// Where groups live.
const ROOT: &str = "/groups";
/// What its names name, for errors.
const KIND: &str = "group";
/// What member ids name, for errors.
const MEMBER_KIND: &str = "group member";

/// The members of a group: member id → the data it announced.
pub type Members = BTreeMap<String, Vec<u8>>;

/// A group of processes that announce themselves (heartbeat and cluster management).
///
/// A member is an EPHEMERAL node `/groups/<name>/<member id>` holding the member's data (the
/// layout of Curator's `GroupMember`, whose membership path is `/groups/<name>`). The session
/// keeps it: it is created again after session expiry and when someone deletes it, so a member
/// stays in the group for as long as its process lives and reaches ZooKeeper, and leaves when
/// its session ends (a crash: within one session timeout), on [`Member::leave`] or when the
/// [`Member`] is dropped. A member id is unique in its group: a second process joining with an
/// id in use is refused.
///
/// [`Group::observe`] follows the members as a [`tokio::sync::watch`] of [`Members`].
///
/// ```no_run
/// # async fn demo(session: registry::Session) -> zkmesh_recipes::Result<()> {
/// let group = zkmesh_recipes::Group::new(&session, "workers")?;
/// let _me = group.join("worker-7", b"10.0.0.7:9000").await?;
/// let mut members = group.observe().await?;
/// while let Ok(now) = members.changed().await {
///     println!("{} workers: {:?}", now.len(), now.keys());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Group {
    session: Session,
    dir: String,
}

impl Group {
    /// The group `name` (a service-name-like path segment) on `session`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a name outside `[A-Za-z0-9._-]{1,255}`.
    pub fn new(session: &Session, name: &str) -> Result<Group> {
        Ok(Group { session: session.clone(), dir: recipe_dir(KIND, ROOT, name)? })
    }

    /// The group's directory, `/groups/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    /// Joins the group as `id` (a service-name-like path segment) with `data`, and returns once
    /// the member's node exists or, if ZooKeeper is unreachable now, is pending (the session
    /// creates it as soon as it can; see [`Member::is_present`]).
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a bad id; [`Error::InvalidArgument`] when another session holds
    /// the id in this group; a ZooKeeper error that waiting cannot cure (such as `NoAuth`);
    /// [`Error::SessionClosed`].
    pub async fn join(&self, id: &str, data: &[u8]) -> Result<Member> {
        let path = recipe_dir(MEMBER_KIND, &self.dir, id)?;
        let node = self.session.create_ephemeral(&path, data).await?;
        if let EphemeralStatus::Conflict { owner } = node.status() {
            let _ = node.delete().await;
            return Err(Error::InvalidArgument {
                what: format!("member id {id:?} of group {}", self.dir),
                reason: format!("taken by another session (0x{owner:x})"),
            });
        }
        tracing::info!(%path, "joined group");
        Ok(Member { id: id.to_owned(), node })
    }

    /// Follows the members of this group. Reads them before it returns.
    ///
    /// # Errors
    /// A ZooKeeper error from the first read (connection loss when ZooKeeper is unreachable
    /// now: [`Error::is_retryable`]); [`Error::SessionClosed`].
    pub async fn observe(&self) -> Result<GroupObserver> {
        let shared = self.session.core();
        let first = read_members(&shared.live_now()?, &self.dir).await?;
        let children = self.session.watch_children(&self.dir)?;
        let (tx, rx) = watch::channel(first);
        let task = tokio::spawn(follow(shared, self.dir.clone(), children, tx));
        Ok(GroupObserver { rx, task, _session: self.session.clone() })
    }
}

/// This process's membership of a [`Group`]; dropping it leaves the group (in the background).
#[derive(Debug)]
pub struct Member {
    id: String,
    node: EphemeralNode,
}

impl Member {
    /// The member id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The member's node, `/groups/<name>/<id>`.
    pub fn path(&self) -> &str {
        self.node.path()
    }

    /// Whether the member's node is in ZooKeeper under the current session (false while it is
    /// being created again, after session expiry for instance).
    pub fn is_present(&self) -> bool {
        self.node.status().is_active()
    }

    /// Waits until the member's node is in ZooKeeper.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`.
    pub async fn wait_present(&self, timeout: Duration) -> Result<()> {
        Ok(self.node.wait_active(timeout).await?)
    }

    /// Leaves the group: deletes the member's node.
    ///
    /// # Errors
    /// The ZooKeeper error if the node could not be deleted; it then still goes when the
    /// ZooKeeper session ends.
    pub async fn leave(self) -> Result<()> {
        tracing::info!(path = %self.node.path(), "leaving group");
        Ok(self.node.delete().await?)
    }
}

/// The members of a group, followed as they join and leave; see [`Group::observe`].
///
/// The members seen last stay while ZooKeeper is unreachable; after session expiry the observer
/// reads again on the new session. Dropping it stops following.
#[derive(Debug)]
pub struct GroupObserver {
    rx: watch::Receiver<Members>,
    task: tokio::task::JoinHandle<()>,
    _session: Session,
}

impl GroupObserver {
    /// The members read last.
    pub fn members(&self) -> Members {
        self.rx.borrow().clone()
    }

    /// A watch of the members.
    pub fn watch(&self) -> watch::Receiver<Members> {
        self.rx.clone()
    }

    /// Waits until the members differ from the ones last returned by this method (or, the
    /// first time, from the ones when the observer was made), and returns them.
    ///
    /// # Errors
    /// [`Error::SessionClosed`] once the session is closed.
    pub async fn changed(&mut self) -> Result<Members> {
        self.rx.changed().await.map_err(|_| Error::SessionClosed)?;
        Ok(self.rx.borrow_and_update().clone())
    }

    /// Waits until `pred` holds for the members, and returns them.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`; [`Error::SessionClosed`].
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Members) -> bool,
    ) -> Result<Members> {
        match tokio::time::timeout(timeout, self.rx.wait_for(|m| pred(m))).await {
            Ok(Ok(members)) => Ok(members.clone()),
            Ok(Err(_)) => Err(Error::SessionClosed),
            Err(_) => Err(Error::Timeout { what: "group members to match".into(), after: timeout }),
        }
    }
}

impl Drop for GroupObserver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every member of `dir` with its data (none if the group does not exist).
pub(crate) async fn read_members(live: &LiveClient, dir: &str) -> Result<Members> {
    let names = match live.client.get_children(dir).await {
        Ok((names, _)) => names,
        Err(ZkError::NoNode) => return Ok(Members::new()),
        Err(e) => return Err(Error::zk("get_children", dir, e)),
    };
    read_data(live, dir, names).await
}

/// The data of each of `names` under `dir` (members gone meanwhile are left out).
async fn read_data(live: &LiveClient, dir: &str, names: Vec<String>) -> Result<Members> {
    let mut members = Members::new();
    for name in names {
        let path = registry::join(dir, &name);
        match live.client.get_data(&path).await {
            Ok((data, _)) => {
                members.insert(name, data);
            }
            Err(ZkError::NoNode) => {}
            Err(e) => return Err(Error::zk("get_data", path, e)),
        }
    }
    Ok(members)
}

/// The observer's loop: each time the children change, read every member's data and publish.
async fn follow(
    shared: Arc<SessionCore>,
    dir: String,
    mut children: NodeWatch<Vec<String>>,
    tx: watch::Sender<Members>,
) {
    let mut backoff = shared.backoff();
    let mut event = children.get();
    loop {
        let names = match &event {
            NodeEvent::Present { value, .. } => Some(value.clone()),
            NodeEvent::Absent => Some(Vec::new()),
            _ => None,
        };
        if let Some(names) = names {
            let read = match shared.live_now() {
                Ok(live) => read_data(&live, &dir, names).await,
                Err(e) => Err(e.into()),
            };
            match read {
                Ok(members) => {
                    backoff.reset();
                    tx.send_if_modified(|current| {
                        let differs = *current != members;
                        if differs {
                            tracing::debug!(%dir, members = members.len(), "group members changed");
                            *current = members;
                        }
                        differs
                    });
                }
                Err(e) => {
                    tracing::debug!(%dir, error = %e, "cannot read the group's members yet");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = tx.closed() => return,
                    }
                    continue;
                }
            }
        }
        event = tokio::select! {
            next = children.changed() => match next {
                Ok(next) => next,
                Err(_) => return,
            },
            _ = tx.closed() => return,
        };
    }
}
