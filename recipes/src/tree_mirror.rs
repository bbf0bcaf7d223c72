//! [`Mirror`]: the tree a [`crate::TreeCache`] publishes and how it changes, shared by its two
//! loops (`tree_recursive.rs`, one persistent recursive watch; `tree_follow.rs`, one-shot
//! watches on every node): each change is made in place, published once, and told as
//! [`TreeEvent`]s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use zookeeper_client::{Client, Error as ZkError};

use crate::retry::Failed;
use crate::tree::{CachedNode, Tree, TreeEvent};

/// The published tree of one cache, its event channel and its read counter.
pub(crate) struct Mirror {
    pub(crate) root: String,
    pub(crate) tx: watch::Sender<Tree>,
    pub(crate) events: broadcast::Sender<TreeEvent>,
    /// Reads (`get_data`, `get_children`, `exists`) the cache issued.
    pub(crate) reads: Arc<AtomicU64>,
}

impl Mirror {
    /// Whether the tree holds `path`.
    pub(crate) fn contains(&self, path: &str) -> bool {
        self.tx.borrow().contains_key(path)
    }

    /// The cached direct children of `path`.
    pub(crate) fn children_of(&self, path: &str) -> Vec<String> {
        self.tx.borrow().keys().filter(|k| parent_of(k) == Some(path)).cloned().collect()
    }

    /// Counts one read request.
    pub(crate) fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// A node's data and stat, read without a watch. `None`: no node.
    pub(crate) async fn read_node(&self, client: &Client, path: &str) -> Result<Option<CachedNode>, Failed> {
        self.count_read();
        match client.get_data(path).await {
            Ok((data, stat)) => Ok(Some(CachedNode { data, stat })),
            Err(ZkError::NoNode) => Ok(None),
            Err(e) => Err(Failed::new("get_data", path, e)),
        }
    }

    /// Replaces one node (not its children).
    pub(crate) fn replace_node(&self, path: &str, node: CachedNode) {
        let mut events = Vec::new();
        self.tx.send_if_modified(|tree| {
            upsert(tree, path, node, &mut events);
            !events.is_empty()
        });
        self.send(events);
    }

    /// Makes the subtree at `top` equal to `new`, sending what changed.
    pub(crate) fn replace_subtree(&self, top: &str, new: Tree) {
        let mut events = Vec::new();
        self.tx.send_if_modified(|tree| {
            let gone: Vec<String> =
                in_subtree(tree, top).filter(|k| !new.contains_key(*k)).cloned().collect();
            for path in gone.into_iter().rev() {
                if let Some(node) = tree.remove(&path) {
                    events.push(TreeEvent::Removed { path, node });
                }
            }
            for (path, node) in new {
                upsert(tree, &path, node, &mut events);
            }
            !events.is_empty()
        });
        self.send(events);
    }

    fn send(&self, events: Vec<TreeEvent>) {
        for event in events {
            tracing::trace!(root = %self.root, ?event, "tree changed");
            let _ = self.events.send(event);
        }
    }
}

/// Sets `path` to `node`, recording an `Added` or `Updated` event if it changed.
fn upsert(tree: &mut Tree, path: &str, node: CachedNode, events: &mut Vec<TreeEvent>) {
    match tree.insert(path.to_owned(), node.clone()) {
        None => events.push(TreeEvent::Added { path: path.to_owned(), node }),
        Some(old) if old != node => events.push(TreeEvent::Updated { path: path.to_owned(), old, node }),
        Some(_) => {}
    }
}

/// The paths of `tree` at or under `top`, in order.
pub(crate) fn in_subtree<'a>(tree: &'a Tree, top: &'a str) -> impl Iterator<Item = &'a String> + 'a {
    tree.range(top.to_owned()..)
        .map(|(k, _)| k)
        .take_while(move |k| k.starts_with(top))
        .filter(move |k| k.as_str() == top || top == "/" || k[top.len()..].starts_with('/'))
}

/// The parent of an absolute path (`None` for `/`).
fn parent_of(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(data: &str) -> CachedNode {
        let stat = registry::Stat {
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 0,
            num_children: 0,
        };
        CachedNode { data: data.as_bytes().to_vec(), stat }
    }

    #[test]
    fn subtrees_and_parents_are_cut_at_slashes() {
        let tree: Tree =
            ["/a", "/a-b", "/a/x", "/a/x/y", "/ab", "/b"].iter().map(|p| (p.to_string(), node(p))).collect();
        let under: Vec<&String> = in_subtree(&tree, "/a").collect();
        assert_eq!(under, ["/a", "/a/x", "/a/x/y"]);
        assert_eq!(in_subtree(&tree, "/").count(), 6);
        assert_eq!(parent_of("/a/x"), Some("/a"));
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/"), None);
        let mut tree = tree;
        let mut events = Vec::new();
        upsert(&mut tree, "/b", node("/b"), &mut events);
        assert!(events.is_empty(), "no event for the same node");
        upsert(&mut tree, "/b", node("new"), &mut events);
        upsert(&mut tree, "/c", node("c"), &mut events);
        assert!(matches!(&events[..], [TreeEvent::Updated { .. }, TreeEvent::Added { .. }]));
    }
}
