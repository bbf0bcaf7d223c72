//! A subtree mirrored in memory, with add/update/remove events (Curator's `CuratorCache`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot, watch};

use registry::{Session, SessionCore, Stat};

use crate::error::{Error, Result};
use crate::tree_mirror::Mirror;
use crate::tree_recursive::Outcome;

/// How many events a [`TreeCache::events`] receiver may fall behind before it lags.
const EVENT_BUFFER: usize = 4096;

/// One node of a cached tree: its data and its stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedNode {
    /// The node's data.
    pub data: Vec<u8>,
    /// The node's stat as of its last data read: `version`, `mzxid` and `czxid` are current,
    /// the children counters (`num_children`, `cversion`, `pzxid`) are not kept up to date (the
    /// children themselves are), as in Curator's `CuratorCache`.
    pub stat: Stat,
}

/// The cached tree: absolute path (within the session's chroot) → node.
pub type Tree = BTreeMap<String, CachedNode>;

/// A change of a [`TreeCache`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeEvent {
    /// A node appeared.
    Added {
        /// Its path.
        path: String,
        /// What it holds.
        node: CachedNode,
    },
    /// A node's data (or stat) changed.
    Updated {
        /// Its path.
        path: String,
        /// What it held before.
        old: CachedNode,
        /// What it holds now.
        node: CachedNode,
    },
    /// A node went.
    Removed {
        /// Its path.
        path: String,
        /// What it held last.
        node: CachedNode,
    },
}

impl TreeEvent {
    /// The path of the node the event is about.
    pub fn path(&self) -> &str {
        match self {
            TreeEvent::Added { path, .. }
            | TreeEvent::Updated { path, .. }
            | TreeEvent::Removed { path, .. } => path,
        }
    }
}

/// A whole subtree of ZooKeeper mirrored in memory, like Curator's `CuratorCache`.
///
/// On ZooKeeper 3.6+ the cache keeps one persistent recursive watch on its root: a deleted
/// node costs no read, a created or changed node one read of its data, and no children list is
/// read again. The whole subtree is read when the watch is armed and after every gap
/// (reconnection, session expiry, a failed read), with the events that arrived meanwhile
/// folded in, so nothing older than that read is applied after it ([`registry::TreeWatch`]).
///
/// On a server that refuses persistent watches (before 3.6, said once in a log line), or with
/// [`TreeCache::start_one_shot`], it is push-then-pull: every cached node carries a one-shot
/// data watch and a one-shot children watch, set by the read itself; when one fires the node
/// (or its children list) is read and watched again, and new children are read whole. After
/// session expiry, or a failed read, the cache reads the whole subtree again.
///
/// Either way the tree is changed in place and each change is sent as a [`TreeEvent`]; the
/// final state is never lost, though changes that came and went while the cache could not see
/// them are not replayed. A missing root is watched for creation.
///
/// [`TreeCache::tree`] is the tree now; [`TreeCache::watch`] a watch of it; [`TreeCache::events`]
/// the changes one by one (a receiver more than 4096 events behind lags; the tree stays whole).
/// The tree seen last stays while ZooKeeper is unreachable. Dropping the cache stops it.
///
/// ```no_run
/// # async fn demo(session: registry::Session) -> zkmesh_recipes::Result<()> {
/// let cache = zkmesh_recipes::TreeCache::start(&session, "/config/app").await?;
/// let mut events = cache.events();
/// while let Ok(event) = events.recv().await {
///     println!("{event:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TreeCache {
    root: String,
    rx: watch::Receiver<Tree>,
    events: broadcast::Sender<TreeEvent>,
    reads: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    _session: Session,
}

impl TreeCache {
    /// Mirrors the subtree at `root`, and returns once it was read whole: with one persistent
    /// recursive watch, or one-shot watches on a server that refuses it.
    ///
    /// # Errors
    /// An invalid path; a ZooKeeper error from the first read (connection loss when ZooKeeper
    /// is unreachable now: [`Error::is_retryable`]); [`Error::SessionClosed`].
    pub async fn start(session: &Session, root: &str) -> Result<TreeCache> {
        Self::start_with(session, root, true).await
    }

    /// Mirrors the subtree at `root` with one-shot watches on every node, as on a server
    /// without persistent watches (a read per change), and returns once it was read whole.
    ///
    /// # Errors
    /// As [`TreeCache::start`].
    pub async fn start_one_shot(session: &Session, root: &str) -> Result<TreeCache> {
        Self::start_with(session, root, false).await
    }

    async fn start_with(session: &Session, root: &str, persistent: bool) -> Result<TreeCache> {
        registry::validate_path(root)?;
        session.core().live_now()?;
        let (tx, rx) = watch::channel(Tree::new());
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let reads = Arc::new(AtomicU64::new(0));
        let mirror = Mirror { root: root.to_owned(), tx, events: events.clone(), reads: reads.clone() };
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(follow(session.core(), Arc::new(mirror), ready_tx, persistent));
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(Error::SessionClosed),
        }
        Ok(TreeCache { root: root.to_owned(), rx, events, reads, task, _session: session.clone() })
    }

    /// Read requests (`get_data`, `get_children`, `exists`) the cache issued so far.
    pub fn reads_issued(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The root of the cached subtree.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The cached node at `path`, if any.
    pub fn get(&self, path: &str) -> Option<CachedNode> {
        self.rx.borrow().get(path).cloned()
    }

    /// The whole cached tree now (a copy).
    pub fn tree(&self) -> Tree {
        self.rx.borrow().clone()
    }

    /// A watch of the tree (it changes once per applied change).
    pub fn watch(&self) -> watch::Receiver<Tree> {
        self.rx.clone()
    }

    /// The changes from now on, one by one.
    pub fn events(&self) -> broadcast::Receiver<TreeEvent> {
        self.events.subscribe()
    }

    /// Waits until `pred` holds for the tree, and returns a copy of it.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`; [`Error::SessionClosed`].
    pub async fn wait_for(&self, timeout: Duration, mut pred: impl FnMut(&Tree) -> bool) -> Result<Tree> {
        let mut rx = self.rx.clone();
        let waited = tokio::time::timeout(timeout, async {
            rx.wait_for(|t| pred(t)).await.map(|tree| tree.clone()).map_err(|_| Error::SessionClosed)
        })
        .await;
        match waited {
            Ok(tree) => tree,
            Err(_) => {
                Err(Error::Timeout { what: format!("the tree at {} to match", self.root), after: timeout })
            }
        }
    }
}

/// The cache's task: the persistent watch, or one-shot watches when asked for or refused.
async fn follow(
    shared: Arc<SessionCore>,
    mirror: Arc<Mirror>,
    ready: oneshot::Sender<Result<()>>,
    persistent: bool,
) {
    let mut ready = Some(ready);
    if persistent {
        match crate::tree_recursive::follow(shared.clone(), &mirror, &mut ready).await {
            Outcome::Done => return,
            Outcome::Refused => {
                tracing::info!(root = %mirror.root, "tree cache: following with one-shot watches")
            }
        }
    }
    // Told already, when the refusal came after the first read.
    let ready = ready.unwrap_or_else(|| oneshot::channel().0);
    crate::tree_follow::follow(shared, mirror, ready).await
}

impl Drop for TreeCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}
