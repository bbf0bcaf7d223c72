//! The tree cache against a real ZooKeeper: after a churn of creates, updates and deletes (and
//! a session expiry in the middle of it) the cache equals ZooKeeper's subtree, and its events
//! tell every change.

// The registry's test support names the registry by its own name.
extern crate registry as zkmesh_registry;

/// The registry suite's test support (one copy for both crates).
#[path = "../../registry/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use local_zk::expire_session;
use local_zk::support::{subtree as zk_subtree, Subtree as Shape};
use registry::SessionState;
use tokio::sync::broadcast::error::TryRecvError;
use zkmesh_recipes::{TreeCache, TreeEvent};
use zookeeper_client::{Acls, CreateMode, Error as ZkError};

const WAIT: Duration = Duration::from_secs(20);

fn shape_of(tree: &zkmesh_recipes::Tree) -> Shape {
    tree.iter().map(|(p, n)| (p.clone(), (n.data.clone(), n.stat.version, n.stat.czxid))).collect()
}

/// A small deterministic pseudo-random sequence (xorshift).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One random create, update or delete under `/tree` (three levels of names `a`..`d`).
async fn churn_once(raw: &zookeeper_client::Client, dice: &mut Dice, step: usize) {
    let names = ["a", "b", "c", "d"];
    let depth = 1 + dice.roll(3);
    let path: String = (0..depth).map(|_| format!("/{}", names[dice.roll(names.len())])).collect();
    let path = format!("/tree{path}");
    let data = format!("v{step}");
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    match dice.roll(3) {
        0 => match raw.create(&path, data.as_bytes(), &persistent).await {
            Ok(_) | Err(ZkError::NodeExists) | Err(ZkError::NoNode) => {}
            Err(e) => panic!("create {path}: {e}"),
        },
        1 => match raw.set_data(&path, data.as_bytes(), None).await {
            Ok(_) | Err(ZkError::NoNode) => {}
            Err(e) => panic!("set {path}: {e}"),
        },
        _ => match raw.delete(&path, None).await {
            Ok(()) | Err(ZkError::NoNode) | Err(ZkError::NotEmpty) => {}
            Err(e) => panic!("delete {path}: {e}"),
        },
    }
}

#[tokio::test]
async fn the_cache_equals_zookeeper_after_churn_and_expiry_and_its_events_tell_every_change() {
    churn_and_expiry("tree-cache", false).await;
}

#[tokio::test]
async fn the_one_shot_cache_equals_zookeeper_after_churn_and_expiry_and_its_events_tell_every_change() {
    churn_and_expiry("tree-cache-one-shot", true).await;
}

/// The persistent watch applies changes with no children read: a deletion costs no read, a
/// creation or a data change one read of that node's data (the one-shot loop reads the
/// parent's children list again for each creation and deletion).
#[tokio::test]
async fn the_persistent_cache_reads_only_the_data_of_created_and_changed_nodes() {
    let connect = chroot("tree-cache-reads");
    let raw = raw(&connect).await;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    raw.create("/tree", b"root", &persistent).await.expect("root");
    raw.create("/tree/a", b"a", &persistent).await.expect("a");
    let s = session(&connect).await;
    let cache = TreeCache::start(&s, "/tree").await.expect("start");
    assert_eq!(cache.tree().len(), 2);
    let before = cache.reads_issued();
    for i in 0..10 {
        raw.create(&format!("/tree/a/n{i}"), b"x", &persistent).await.expect("create");
    }
    cache.wait_for(WAIT, |t| t.len() == 12).await.expect("the creations are seen");
    assert_eq!(cache.reads_issued() - before, 10, "one data read per created node, no children list");
    for i in 0..5 {
        raw.delete(&format!("/tree/a/n{i}"), None).await.expect("delete");
    }
    raw.set_data("/tree/a", b"changed", None).await.expect("set");
    let tree = cache
        .wait_for(WAIT, |t| t.len() == 7 && t["/tree/a"].data == b"changed")
        .await
        .expect("the deletions and the change are seen");
    assert_eq!(cache.reads_issued() - before, 11, "deletions cost no read, a data change one");
    assert_eq!(shape_of(&tree), zk_subtree(&raw, "/tree").await);
}

/// Churns a subtree under a tree cache (persistent, or `one_shot`), expiring its session
/// midway; the cache ends equal to ZooKeeper and its events tell every change.
async fn churn_and_expiry(name: &str, one_shot: bool) {
    let connect = chroot(name);
    let raw = raw(&connect).await;
    let s = session(&connect).await;
    let cache = if one_shot {
        TreeCache::start_one_shot(&s, "/tree").await
    } else {
        TreeCache::start(&s, "/tree").await
    };
    let cache = cache.expect("start");
    assert!(cache.tree().is_empty(), "no root yet");
    let mut events = cache.events();
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    raw.create("/tree", b"root", &persistent).await.expect("root");
    cache.wait_for(WAIT, |t| t.contains_key("/tree")).await.expect("the root appears");

    let mut dice = Dice(0x5eed_1234_abcd_0001);
    for step in 0..120 {
        churn_once(&raw, &mut dice, step).await;
        if step == 60 {
            let mut states = s.events();
            expire_session(&connect, &s.session_info().expect("live")).await.expect("expire");
            // Changes the cache cannot see while its session is gone.
            for more in 0..10 {
                churn_once(&raw, &mut dice, 1000 + more).await;
            }
            expect_state(&mut states, SessionState::Reconnected, WAIT).await;
        }
    }
    let expected = zk_subtree(&raw, "/tree").await;
    assert!(expected.len() > 5, "the churn left a tree: {expected:?}");
    let tree = cache.wait_for(WAIT, |t| shape_of(t) == expected).await.expect("the cache equals ZooKeeper");

    // Folding the events onto an empty tree gives the cache.
    let mut folded = zkmesh_recipes::Tree::new();
    let (mut added, mut updated, mut removed) = (0, 0, 0);
    loop {
        match events.try_recv() {
            Ok(TreeEvent::Added { path, node }) => {
                added += 1;
                assert!(folded.insert(path.clone(), node).is_none(), "added twice: {path}");
            }
            Ok(TreeEvent::Updated { path, old, node }) => {
                updated += 1;
                assert_eq!(
                    folded.insert(path.clone(), node),
                    Some(old),
                    "update of {path} from what was there"
                );
            }
            Ok(TreeEvent::Removed { path, node }) => {
                removed += 1;
                assert_eq!(folded.remove(&path), Some(node), "removed what was there: {path}");
            }
            Ok(other) => panic!("an event of a new kind: {other:?}"),
            Err(TryRecvError::Empty) => break,
            Err(e) => panic!("events: {e}"),
        }
    }
    assert_eq!(folded, tree, "the events tell every change");
    assert!(added > 0 && updated > 0 && removed > 0, "{added} added, {updated} updated, {removed} removed");

    // The root goes and comes back.
    let mut stack = vec!["/tree".to_owned()];
    let mut all = Vec::new();
    while let Some(p) = stack.pop() {
        for c in raw.list_children(&p).await.unwrap_or_default() {
            stack.push(format!("{p}/{c}"));
        }
        all.push(p);
    }
    for p in all.iter().rev() {
        raw.delete(p, None).await.expect("delete");
    }
    cache.wait_for(WAIT, |t| t.is_empty()).await.expect("emptied");
    raw.create("/tree", b"again", &persistent).await.expect("root");
    let tree = cache.wait_for(WAIT, |t| !t.is_empty()).await.expect("back");
    assert_eq!(tree["/tree"].data, b"again");
}
