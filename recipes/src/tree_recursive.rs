//! The loop behind [`crate::TreeCache`] on ZooKeeper 3.6+: one persistent recursive watch
//! ([`registry::TreeWatch`]) on the root instead of two one-shot watches per node.
//!
//! A deletion costs no read (the event names the node), a creation or a data change one
//! `get_data` of that node (the event does not carry the data), and no children list is ever
//! read again: a created node's children are created after it and have events of their own.
//! The whole subtree is read only when the watch is armed, at start and after every gap
//! (reconnection, new session, a read that failed). Then the events the read's answers
//! queued are folded into it before anything is published (see [`registry::TreeWatch`] for
//! why that is exact): a node whose last queued event is a deletion is dropped, one whose last
//! event is a creation or a data change is read again, so nothing older than the read is
//! published after it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::join_all;
use tokio::sync::oneshot;
use zookeeper_client::{Client, Error as ZkError};

use registry::{LiveClient, SessionCore, TreeWatch, TreeWatchEvent};

use crate::error::{Error, Result};
use crate::retry::Failed;
use crate::tree::Tree;
use crate::tree_mirror::{in_subtree, Mirror};

/// How following with the persistent watch ended.
pub(crate) enum Outcome {
    /// The session closed, the cache was dropped, or its first read failed (told to `ready`).
    Done,
    /// The server refuses persistent watches: follow with one-shot watches.
    Refused,
}

/// Follows the mirror's subtree with one persistent recursive watch. `ready` (if still there)
/// gets the outcome of the first whole read.
pub(crate) async fn follow(
    shared: Arc<SessionCore>,
    mirror: &Mirror,
    ready: &mut Option<oneshot::Sender<Result<()>>>,
) -> Outcome {
    let mut watch = match TreeWatch::new(shared, &mirror.root) {
        Ok(watch) => watch,
        Err(e) => return answer(ready, Err(e.into())),
    };
    let mut client: Option<Client> = None;
    loop {
        let event = tokio::select! {
            event = watch.next() => event,
            _ = mirror.tx.closed() => return Outcome::Done,
        };
        let applied = match event {
            Ok(TreeWatchEvent::Armed(LiveClient { client: live, .. })) => {
                let synced = resync(mirror, &mut watch, &live).await;
                client = Some(live);
                synced
            }
            Ok(change) => match &client {
                Some(client) => apply(mirror, client, change).await,
                None => Ok(()),
            },
            Err(e) if TreeWatch::is_refusal(&e) => return Outcome::Refused,
            Err(_) => return Outcome::Done,
        };
        match applied {
            Ok(()) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
            }
            Err(Failed { op, path, error }) if ready.is_some() => {
                return answer(ready, Err(Error::zk(op, path, error)));
            }
            Err(Failed { path, error, .. }) => {
                tracing::debug!(%path, %error, "tree cache lost track; reading the whole tree again");
                watch.resync();
            }
        }
    }
}

fn answer(ready: &mut Option<oneshot::Sender<Result<()>>>, outcome: Result<()>) -> Outcome {
    if let Some(ready) = ready.take() {
        let _ = ready.send(outcome);
    }
    Outcome::Done
}

/// Applies one change reported by the watch.
async fn apply(mirror: &Mirror, client: &Client, change: TreeWatchEvent) -> Result<(), Failed> {
    match change {
        TreeWatchEvent::Deleted(path) => mirror.replace_subtree(&path, Tree::new()),
        TreeWatchEvent::Created(path) | TreeWatchEvent::DataChanged(path) => {
            // `None`: deleted since; its deletion's event follows.
            if let Some(node) = mirror.read_node(client, &path).await? {
                mirror.replace_node(&path, node);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Reads the whole subtree on `client` (the watch was just armed on it), folds in the events
/// queued by the read's answers, and publishes the result once.
async fn resync(mirror: &Mirror, watch: &mut TreeWatch, client: &Client) -> Result<(), Failed> {
    let mut tree = walk(mirror, client).await?;
    // The last queued event of each node says where it stands (see the module docs).
    let mut last: HashMap<String, bool> = HashMap::new();
    while let Some(event) = watch.try_next() {
        match event {
            TreeWatchEvent::Deleted(path) => last.insert(path, false),
            TreeWatchEvent::Created(path) | TreeWatchEvent::DataChanged(path) => last.insert(path, true),
            _ => None,
        };
    }
    let (present, gone): (Vec<_>, Vec<_>) = last.into_iter().partition(|(_, present)| *present);
    for (path, _) in gone {
        let under: Vec<String> = in_subtree(&tree, &path).cloned().collect();
        for path in under {
            tree.remove(&path);
        }
    }
    let reads = present.iter().map(|(path, _)| mirror.read_node(client, path));
    for ((path, _), read) in present.iter().zip(join_all(reads).await) {
        match read? {
            Some(node) => tree.insert(path.clone(), node),
            None => tree.remove(path),
        };
    }
    mirror.replace_subtree(&mirror.root, tree);
    Ok(())
}

/// Reads the subtree at the mirror's root, a level at a time (every read of a level in
/// flight at once), without watches. Nodes that vanish meanwhile are left out.
async fn walk(mirror: &Mirror, client: &Client) -> Result<Tree, Failed> {
    let mut tree = Tree::new();
    let mut level = vec![mirror.root.clone()];
    while !level.is_empty() {
        let reads = level.iter().map(|path| async move {
            let node = mirror.read_node(client, path).await?;
            mirror.count_read();
            let children = match client.list_children(path).await {
                Ok(children) => children,
                Err(ZkError::NoNode) => Vec::new(),
                Err(e) => return Err(Failed::new("get_children", path.clone(), e)),
            };
            Ok((node, children))
        });
        let mut next = Vec::new();
        for (path, read) in level.iter().zip(join_all(reads).await) {
            let (node, children) = read?;
            let Some(node) = node else { continue };
            tree.insert(path.clone(), node);
            next.extend(children.iter().map(|c| registry::join(path, c)));
        }
        level = next;
    }
    Ok(tree)
}
