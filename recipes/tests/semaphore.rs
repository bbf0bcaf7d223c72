//! The semaphore against a real ZooKeeper: the limit under contention, across session expiry,
//! and shared with Apache Curator's `InterProcessSemaphoreV2` running in a JVM.

// The registry's test support names the registry by its own name.
extern crate registry as zkmesh_registry;

/// The registry suite's test support (one copy for both crates).
#[path = "../../registry/tests/common/mod.rs"]
mod common;
/// A Curator program of `tests/fixtures`, compiled and run.
mod java;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use java::JavaHolder;
use local_zk::expire_session;
use tokio::time::timeout;
use zkmesh_recipes::{Error, Semaphore};

const WAIT: Duration = Duration::from_secs(30);
/// How long something that must not happen is given to happen anyway.
const NOT_WITHIN: Duration = Duration::from_millis(400);

/// Counts holders inside a critical section and remembers the most seen at once.
#[derive(Default)]
struct Occupancy {
    inside: AtomicUsize,
    most: AtomicUsize,
}

impl Occupancy {
    fn enter(&self) {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_sessions_never_hold_more_than_two_leases() {
    let connect = chroot("semaphore-limit");
    let raw = raw(&connect).await;
    assert!(matches!(Semaphore::new(&session(&connect).await, "x", 0), Err(Error::InvalidArgument { .. })));
    let occupancy = Arc::new(Occupancy::default());
    let mut tasks = Vec::new();
    for i in 0..6 {
        let semaphore = Semaphore::new(&session(&connect).await, "pool", 2).expect("semaphore");
        let occupancy = occupancy.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let lease = semaphore.acquire_timeout(WAIT).await.unwrap_or_else(|e| panic!("{i}: {e}"));
                occupancy.enter();
                tokio::time::sleep(Duration::from_millis(20)).await;
                occupancy.leave();
                lease.release().await.expect("release");
            }
        }));
    }
    for task in tasks {
        timeout(WAIT * 2, task).await.expect("done in time").expect("holder");
    }
    let most = occupancy.most.load(Ordering::SeqCst);
    assert!((1..=2).contains(&most), "at most 2 holders at once, saw {most}");
    let leases = raw.list_children("/semaphores/pool/leases").await.expect("leases");
    assert!(leases.is_empty(), "every lease node deleted: {leases:?}");
    let locks = raw.list_children("/semaphores/pool/locks").await.expect("locks");
    assert!(locks.is_empty(), "every internal lock node deleted: {locks:?}");
}

#[tokio::test]
async fn a_full_semaphore_times_out_and_a_lease_lost_to_expiry_frees_its_place() {
    let connect = chroot("semaphore-expiry");
    let (a, b) = (session(&connect).await, session(&connect).await);
    let raw = raw(&connect).await;
    let (sa, sb) = (Semaphore::new(&a, "one", 1).expect("sem"), Semaphore::new(&b, "one", 1).expect("sem"));
    let lease = sa.acquire().await.expect("acquire");
    let name = lease.path().rsplit('/').next().expect("name").to_owned();
    assert!(name.starts_with("_c_") && name.contains("-lease-"), "Curator's lease name: {name}");
    assert!(sb.try_acquire().await.expect("try").is_none(), "no second lease");
    let err = sb.acquire_timeout(Duration::from_millis(300)).await.expect_err("full");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(sb.participants().await.expect("participants"), [name], "the timed-out node is gone");

    let waiter = tokio::spawn({
        let sb = sb.clone();
        async move { timeout(WAIT, sb.acquire()).await.expect("in time").expect("acquire") }
    });
    eventually(WAIT, "the waiter's lease node", || async {
        raw.list_children("/semaphores/one/leases").await.map(|c| c.len() == 2).unwrap_or(false)
    })
    .await;
    let mut events = a.events();
    expire_session(&connect, &a.session_info().expect("live")).await.expect("expire");
    timeout(WAIT, lease.lost()).await.expect("the holder is told");
    let theirs = timeout(WAIT, waiter).await.expect("the waiter gets the lease").expect("waiter");
    assert!(theirs.is_held() && !lease.is_held());
    // The expired holder does not get its lease back behind anybody's back.
    expect_state(&mut events, registry::SessionState::Reconnected, WAIT).await;
    assert_eq!(sb.participants().await.expect("participants").len(), 1);
    drop(lease);
    drop(theirs);
    eventually(WAIT, "the dropped lease deleted", || async {
        raw.list_children("/semaphores/one/leases").await.map(|c| c.is_empty()).unwrap_or(false)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_curator_process_and_zkmesh_share_one_semaphore() {
    let connect = chroot("semaphore-curator");
    let s = session(&connect).await;
    let semaphore = Semaphore::new(&s, "shared", 2).expect("semaphore").with_data(b"rust");
    let mut java = JavaHolder::start("SemaphoreHolder", &[&connect, "/semaphores/shared", "2"]).await;

    // zkmesh holds both leases: the Java process waits.
    let (l1, l2) = (semaphore.acquire().await.expect("1"), semaphore.acquire().await.expect("2"));
    java.send("acquire 30000").await;
    let answer = tokio::spawn(async move {
        let line = java.line().await;
        (java, line)
    });
    tokio::time::sleep(NOT_WITHIN).await;
    assert!(!answer.is_finished(), "Java got a third lease of two");
    l1.release().await.expect("release");
    let (mut java, line) = timeout(WAIT, answer).await.expect("java acquires").expect("java");
    let name = line.strip_prefix("ACQUIRED ").unwrap_or_else(|| panic!("java said {line}"));
    assert!(name.starts_with("_c_") && name.contains("-lease-"), "Curator's name: {name}");
    assert!(semaphore.participants().await.expect("participants").contains(&name.to_owned()));
    // Java holds one and zkmesh one: zkmesh cannot take another until Java lets go.
    assert!(semaphore.try_acquire().await.expect("try").is_none(), "a third lease of two");
    java.send("release").await;
    assert_eq!(java.line().await, "RELEASED");
    let l3 = semaphore.acquire_timeout(WAIT).await.expect("zkmesh gets the lease Java freed");

    // Contention: Java and 3 zkmesh holders, each counting holders in /inside while it holds.
    l2.release().await.expect("release");
    l3.release().await.expect("release");
    let raw = raw(&connect).await;
    raw.create(
        "/inside",
        b"",
        &zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all()),
    )
    .await
    .expect("inside dir");
    java.send("loop 6 40 /inside").await;
    let java_loop = tokio::spawn(async move {
        let line = java.line().await;
        (java, line)
    });
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let semaphore = Semaphore::new(&session(&connect).await, "shared", 2).expect("semaphore");
        let raw = raw.clone();
        tasks.push(tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..6 {
                let lease = semaphore.acquire_timeout(WAIT).await.expect("lease");
                let (_, me) = raw
                    .create(
                        "/inside/rust-",
                        b"",
                        &zookeeper_client::CreateMode::EphemeralSequential
                            .with_acls(zookeeper_client::Acls::anyone_all()),
                    )
                    .await
                    .expect("inside");
                most = most.max(raw.list_children("/inside").await.expect("inside").len());
                tokio::time::sleep(Duration::from_millis(40)).await;
                raw.delete(&format!("/inside/rust-{me}"), None).await.expect("leave");
                lease.release().await.expect("release");
            }
            most
        }));
    }
    for task in tasks {
        let most = timeout(WAIT * 2, task).await.expect("in time").expect("holder");
        assert!(most <= 2, "a zkmesh holder saw {most} holders at once");
    }
    let (java, line) = timeout(WAIT * 2, java_loop).await.expect("java loops in time").expect("java");
    let most: usize =
        line.strip_prefix("LOOPED ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    assert!((1..=2).contains(&most), "the Java holder saw {most} holders at once");
    java.quit().await;
}
