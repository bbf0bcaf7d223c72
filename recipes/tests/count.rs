//! The shared count against a real ZooKeeper: compare-and-set races, the watch, Curator's bytes.

// The registry's test support names the registry by its own name.
extern crate registry as zkmesh_registry;

/// The registry suite's test support (one copy for both crates).
#[path = "../../registry/tests/common/mod.rs"]
mod common;
/// A Curator program of `tests/fixtures`, compiled and run.
mod java;

use std::time::Duration;

use common::*;
use tokio::time::timeout;
use zkmesh_recipes::{Error, SharedCount, VersionedCount};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_set_races_lose_no_increment() {
    let connect = chroot("count-race");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let count = SharedCount::start(&session(&connect).await, "hits", 0).await.expect("count");
        tasks.push(tokio::spawn(async move {
            let mut won = 0;
            while won < 25 {
                let seen = count.refresh().await.expect("read");
                if count.try_set(seen, seen.value + 1).await.expect("try_set") {
                    won += 1;
                }
            }
        }));
    }
    for task in tasks {
        timeout(WAIT, task).await.expect("in time").expect("incrementer");
    }
    let raw = raw(&connect).await;
    let (data, stat) = raw.get_data("/counts/hits").await.expect("count node");
    assert_eq!(data, 100i32.to_be_bytes(), "4 big-endian bytes, as Curator writes them");
    assert_eq!(stat.version, 100, "one write per won race");
    // A stale version is refused whatever the value.
    let count = SharedCount::start(&session(&connect).await, "hits", 7).await.expect("count");
    assert_eq!(count.versioned(), VersionedCount { value: 100, version: 100 }, "the seed does not overwrite");
    assert!(!count.try_set(VersionedCount { value: 100, version: 99 }, 0).await.expect("try_set"));
    assert_eq!(count.add(-1).await.expect("add"), 99);
}

#[tokio::test]
async fn every_holder_sees_a_change_through_its_watch() {
    let connect = chroot("count-watch");
    let writer = SharedCount::start(&session(&connect).await, "limit", 3).await.expect("count");
    let mut reader = SharedCount::start(&session(&connect).await, "limit", 9).await.expect("count");
    assert_eq!(reader.count(), 3);
    writer.set(10).await.expect("set");
    let seen = timeout(WAIT, reader.changed()).await.expect("in time").expect("changed");
    assert_eq!(seen.value, 10);
    let raw = raw(&connect).await;
    raw.set_data("/counts/limit", &42i32.to_be_bytes(), None).await.expect("a foreign write");
    let seen = timeout(WAIT, reader.changed()).await.expect("in time").expect("changed");
    assert_eq!(seen, VersionedCount { value: 42, version: 2 });
    let mut rx = writer.watch();
    timeout(WAIT, rx.wait_for(|c| c.value == 42)).await.expect("writer sees it").expect("watch");

    // Something that is not Curator's count is refused, naming the node.
    raw.create(
        "/bad",
        b"forty-two",
        &zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all()),
    )
    .await
    .expect("create");
    let err = SharedCount::at_path(&session(&connect).await, "/bad", 0).await.expect_err("bad data");
    assert!(matches!(&err, Error::InvalidData { path, .. } if path == "/bad"), "{err}");
    assert!(matches!(
        SharedCount::start(&session(&connect).await, "a/b", 0).await,
        Err(Error::InvalidName { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_curator_shared_count_and_zkmesh_increment_one_count_without_losing_any() {
    let connect = chroot("count-curator");
    // Curator 5.4's SharedCount creates its node, not the parents.
    let raw = raw(&connect).await;
    raw.create(
        "/counts",
        b"",
        &zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all()),
    )
    .await
    .expect("parent");
    let mut java = java::JavaHolder::start("CountIncrementer", &[&connect, "/counts/shared", "5"]).await;
    let count = SharedCount::start(&session(&connect).await, "shared", 9).await.expect("count");
    assert_eq!(count.count(), 5, "Curator's seed, read as Curator wrote it");
    java.send("add 40").await;
    let java_adds = tokio::spawn(async move {
        let line = java.line().await;
        (java, line)
    });
    for _ in 0..40 {
        count.add(1).await.expect("add");
    }
    let (mut java, line) = timeout(WAIT * 3, java_adds).await.expect("java adds in time").expect("java");
    assert!(line.starts_with("ADDED "), "java said {line}");
    assert_eq!(count.refresh().await.expect("read").value, 85, "5 + 40 + 40");
    // Curator sees zkmesh's writes through its own watch.
    count.set(1000).await.expect("set");
    let mut seen = String::new();
    for _ in 0..100 {
        java.send("get").await;
        seen = java.line().await;
        if seen.starts_with("COUNT 1000 ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.starts_with("COUNT 1000 "), "Curator reads {seen}");
    java.quit().await;
}
