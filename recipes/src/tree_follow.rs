//! The loop behind [`crate::TreeCache`]: one-shot watches on every node, a read when one
//! fires, a whole read of the subtree after session expiry or a failed read.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::oneshot;
use zookeeper_client::{Error as ZkError, EventType, OneshotWatcher};

use registry::{LiveClient, SessionCore};

use crate::error::{Error, Result};
use crate::retry::Failed;
use crate::tree::{CachedNode, Tree};
use crate::tree_mirror::Mirror;

/// Which one-shot watch fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// A node's data (or its deletion).
    Data,
    /// A node's children list.
    Children,
    /// The creation of the missing root.
    Exists,
}

/// A pending watch: resolves to its path, kind and event.
type Fired = Pin<Box<dyn Future<Output = (String, Kind, EventType)> + Send>>;

/// Follows the subtree at the mirror's root into it. `ready` gets the outcome of the first
/// whole read.
pub(crate) async fn follow(
    shared: Arc<SessionCore>,
    mirror: Arc<Mirror>,
    ready: oneshot::Sender<Result<()>>,
) {
    let live = match shared.live_now() {
        Ok(live) => live,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let root = mirror.root.clone();
    let mut follower =
        Follower { shared, root, mirror, live, watches: FuturesUnordered::new(), armed: HashSet::new() };
    if let Err(Failed { op, path, error }) = follower.resync().await {
        let _ = ready.send(Err(Error::zk(op, path, error)));
        return;
    }
    let _ = ready.send(Ok(()));
    follower.run().await;
}

struct Follower {
    shared: Arc<SessionCore>,
    root: String,
    mirror: Arc<Mirror>,
    live: LiveClient,
    watches: FuturesUnordered<Fired>,
    /// The watches set and not fired yet (a read of an armed node sets no second one).
    armed: HashSet<(String, Kind)>,
}

impl Follower {
    async fn run(&mut self) {
        loop {
            let fired = tokio::select! {
                Some(fired) = self.watches.next() => fired,
                _ = self.shared.closed() => return,
                _ = self.mirror.tx.closed() => return,
            };
            let Err(Failed { path, error, .. }) = self.apply(fired).await else { continue };
            tracing::debug!(%path, %error, "tree cache lost track; reading the whole tree again");
            if self.recover(error).await.is_err() {
                return;
            }
        }
    }

    /// Handles one fired watch.
    async fn apply(&mut self, (path, kind, event): (String, Kind, EventType)) -> Result<(), Failed> {
        self.armed.remove(&(path.clone(), kind));
        match (kind, event) {
            (_, EventType::Session) => Err(Failed::new("watch", path, ZkError::SessionExpired)),
            (Kind::Children, EventType::NodeDeleted) => Ok(()),
            (Kind::Children, _) => self.refresh_children(&path).await,
            (Kind::Data | Kind::Exists, _) => self.refresh_node(&path).await,
        }
    }

    /// Waits for a usable session (the next one after expiry) and reads the whole tree again,
    /// until that works. `Err`: the session is closed.
    async fn recover(&mut self, mut error: ZkError) -> Result<(), ()> {
        let mut backoff = self.shared.backoff();
        loop {
            self.live = self.shared.retry_after(&self.live, &mut backoff, &error).await.map_err(|_| ())?;
            match self.resync().await {
                Ok(()) => return Ok(()),
                Err(failed) => error = failed.error,
            }
        }
    }

    /// Drops every watch and reads the whole subtree again, watching it.
    async fn resync(&mut self) -> Result<(), Failed> {
        self.watches = FuturesUnordered::new();
        self.armed.clear();
        let root = self.root.clone();
        let tree = self.walk(&root).await?;
        self.mirror.replace_subtree(&root, tree);
        Ok(())
    }

    /// Reads a node whose data watch fired (or the root, created).
    async fn refresh_node(&mut self, path: &str) -> Result<(), Failed> {
        let known = self.mirror.contains(path);
        if !known {
            let tree = self.walk(path).await?;
            self.mirror.replace_subtree(path, tree);
            return Ok(());
        }
        match self.read_data(path).await? {
            Some(node) => self.mirror.replace_node(path, node),
            None => {
                self.mirror.replace_subtree(path, Tree::new());
                if path == self.root {
                    // Watch for the root to come back.
                    let tree = self.walk(path).await?;
                    self.mirror.replace_subtree(path, tree);
                }
            }
        }
        Ok(())
    }

    /// Reads the children of a node whose children watch fired: new ones are read whole, gone
    /// ones are removed with everything under them.
    async fn refresh_children(&mut self, path: &str) -> Result<(), Failed> {
        if !self.mirror.contains(path) {
            return Ok(());
        }
        let Some(names) = self.read_children(path).await? else { return Ok(()) };
        let listed: HashSet<String> = names.iter().map(|n| registry::join(path, n)).collect();
        let cached = self.mirror.children_of(path);
        for gone in cached.iter().filter(|c| !listed.contains(*c)) {
            self.mirror.replace_subtree(gone, Tree::new());
        }
        for new in listed.iter().filter(|l| !cached.contains(l)) {
            let tree = self.walk(new).await?;
            self.mirror.replace_subtree(new, tree);
        }
        Ok(())
    }

    /// Reads the subtree at `top`, watching every node in it (the root's creation, if the
    /// root is missing). Nodes that vanish meanwhile are left out (their parent's watch fires).
    async fn walk(&mut self, top: &str) -> Result<Tree, Failed> {
        let mut tree = Tree::new();
        let mut stack = vec![top.to_owned()];
        while let Some(path) = stack.pop() {
            let Some(node) = self.read_data(&path).await? else {
                if path == self.root && self.arm_exists(&path).await? {
                    stack.push(path);
                }
                continue;
            };
            tree.insert(path.clone(), node);
            if let Some(children) = self.read_children(&path).await? {
                stack.extend(children.iter().map(|c| registry::join(&path, c)));
            }
        }
        Ok(tree)
    }

    /// Watches the missing root for creation. `true`: it exists after all; read it.
    async fn arm_exists(&mut self, path: &str) -> Result<bool, Failed> {
        self.mirror.count_read();
        match self.live.client.check_and_watch_stat(path).await {
            Ok((Some(_), _)) => Ok(true),
            Ok((None, watcher)) => {
                self.arm(path, Kind::Exists, watcher);
                Ok(false)
            }
            Err(e) => Err(Failed::new("check_and_watch_stat", path, e)),
        }
    }

    /// A node's data, watched unless a data watch is armed on it already. `None`: no node.
    async fn read_data(&mut self, path: &str) -> Result<Option<CachedNode>, Failed> {
        self.mirror.count_read();
        let client = &self.live.client;
        if self.armed.contains(&(path.to_owned(), Kind::Data)) {
            return match client.get_data(path).await {
                Ok((data, stat)) => Ok(Some(CachedNode { data, stat })),
                Err(ZkError::NoNode) => Ok(None),
                Err(e) => Err(Failed::new("get_data", path, e)),
            };
        }
        match client.get_and_watch_data(path).await {
            Ok((data, stat, watcher)) => {
                self.arm(path, Kind::Data, watcher);
                Ok(Some(CachedNode { data, stat }))
            }
            Err(ZkError::NoNode) => Ok(None),
            Err(e) => Err(Failed::new("get_and_watch_data", path, e)),
        }
    }

    /// A node's children, watched unless a children watch is armed on it already. `None`: no
    /// node.
    async fn read_children(&mut self, path: &str) -> Result<Option<Vec<String>>, Failed> {
        self.mirror.count_read();
        let client = &self.live.client;
        if self.armed.contains(&(path.to_owned(), Kind::Children)) {
            return match client.get_children(path).await {
                Ok((children, _)) => Ok(Some(children)),
                Err(ZkError::NoNode) => Ok(None),
                Err(e) => Err(Failed::new("get_children", path, e)),
            };
        }
        match client.get_and_watch_children(path).await {
            Ok((children, _, watcher)) => {
                self.arm(path, Kind::Children, watcher);
                Ok(Some(children))
            }
            Err(ZkError::NoNode) => Ok(None),
            Err(e) => Err(Failed::new("get_and_watch_children", path, e)),
        }
    }

    fn arm(&mut self, path: &str, kind: Kind, watcher: OneshotWatcher) {
        self.armed.insert((path.to_owned(), kind));
        let path = path.to_owned();
        self.watches.push(Box::pin(async move { (path, kind, registry::watch_event(watcher).await) }));
    }
}
