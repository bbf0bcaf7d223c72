//! The coordination recipes against a real ZooKeeper, several sessions per test: locks under
//! contention and session loss, read/write ordering, election failover and observation, queue,
//! barrier and id sequence.

// The registry's test support names the registry by its own name.
extern crate registry as zkmesh_registry;

/// The registry suite's test support (one copy for both crates).
#[path = "../../registry/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::StreamExt;
use local_zk::expire_session;
use registry::Session;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use zkmesh_recipes::{
    DistributedQueue, DoubleBarrier, Error, IdGenerator, LeaderElection, LeaderObserver, Lock, ReadWriteLock,
};

const WAIT: Duration = Duration::from_secs(20);
/// How long something that must not happen is given to happen anyway.
const NOT_WITHIN: Duration = Duration::from_millis(400);

async fn sessions(connect: &str, n: usize) -> Vec<Session> {
    futures::future::join_all((0..n).map(|_| session(connect))).await
}

/// The children of `path` (sorted), or none.
async fn children_of(raw: &zookeeper_client::Client, path: &str) -> Vec<String> {
    match raw.list_children(path).await {
        Ok(mut children) => {
            children.sort();
            children
        }
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => panic!("list {path}: {e}"),
    }
}

/// Waits (bounded) until `path` has `n` children.
async fn wait_children(raw: &zookeeper_client::Client, path: &str, n: usize) {
    eventually(WAIT, &format!("{n} children under {path}"), || async {
        children_of(raw, path).await.len() == n
    })
    .await;
}

/// The sequence number at the end of a node name.
fn seq(name: &str) -> u64 {
    let digits = name.bytes().rev().take_while(u8::is_ascii_digit).count();
    name[name.len() - digits..].parse().expect("sequence number")
}

/// A four-letter command's answer from the server at `hosts`.
async fn four_letter(hosts: &str, cmd: &str) -> String {
    let host = hosts.split('/').next().expect("host");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect for a four-letter command");
    stream.write_all(cmd.as_bytes()).await.expect("send");
    let mut out = String::new();
    timeout(WAIT, stream.read_to_string(&mut out)).await.expect("answer in time").expect("read");
    out
}

/// Data watches per path (`wchp`; server paths, chroot included). `wchp` does not list child
/// watches: [`mntr`]'s `zk_watch_count` counts both.
async fn watches_by_path(hosts: &str) -> HashMap<String, usize> {
    let mut watches = HashMap::new();
    let mut current = None;
    for line in four_letter(hosts, "wchp").await.lines() {
        if line.starts_with('/') {
            current = Some(line.trim().to_owned());
            watches.entry(line.trim().to_owned()).or_insert(0);
        } else if let (Some(path), false) = (&current, line.trim().is_empty()) {
            *watches.entry(path.clone()).or_insert(0) += 1;
        }
    }
    watches
}

/// A value of the server's `mntr` report (watch counts need a server of the test's own).
async fn mntr(hosts: &str, key: &str) -> u64 {
    let out = four_letter(hosts, "mntr").await;
    let line = out.lines().find(|l| l.split('\t').next() == Some(key)).unwrap_or_else(|| panic!("no {key}"));
    line.split('\t').nth(1).and_then(|v| v.trim().parse::<f64>().ok()).expect("a number") as u64
}

/// Whether `task` is still running `NOT_WITHIN` from now (a bounded "still waiting" check).
async fn still_pending<T>(task: &tokio::task::JoinHandle<T>) -> bool {
    tokio::time::sleep(NOT_WITHIN).await;
    !task.is_finished()
}

// === Lock ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_excludes_8_contending_sessions() {
    const ROUNDS: u64 = 5;
    let connect = chroot("mutex");
    let sessions = sessions(&connect, 8).await;
    // A read-modify-write guarded only by the lock: lost updates if two holders overlap.
    let counter = Arc::new(AtomicU64::new(0));
    let inside = Arc::new(AtomicU32::new(0));
    let most_inside = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = sessions
        .iter()
        .map(|s| {
            let lock = Lock::new(s, "counter").expect("lock");
            let (counter, inside, most_inside) = (counter.clone(), inside.clone(), most_inside.clone());
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let guard =
                        timeout(WAIT, lock.acquire()).await.expect("acquired in time").expect("acquire");
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most_inside.fetch_max(now, Ordering::SeqCst);
                    let value = counter.load(Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    counter.store(value + 1, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    assert!(guard.is_held());
                    guard.release().await.expect("release");
                }
            })
        })
        .collect();
    for task in tasks {
        timeout(WAIT, task).await.expect("contender done in time").expect("contender");
    }
    assert_eq!(most_inside.load(Ordering::SeqCst), 1, "two holders at once");
    assert_eq!(counter.load(Ordering::SeqCst), 8 * ROUNDS, "lost updates");
    let raw = raw(&connect).await;
    assert!(children_of(&raw, "/locks/counter").await.is_empty(), "every lock node deleted");
}

#[tokio::test]
async fn waiters_watch_only_their_predecessor_and_are_served_in_order() {
    // A server of its own: its watch counts are this test's alone.
    let zk = local_zk::LocalZooKeeper::start().await.expect("start ZooKeeper");
    let hosts = zk.connect_string();
    let connect = format!("{hosts}/herd");
    let all = sessions(&connect, 5).await;
    let raw = raw(&connect).await;
    let holder = Lock::new(&all[0], "herd").expect("lock").acquire().await.expect("acquire");
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for s in &all[1..] {
        let lock = Lock::new(s, "herd").expect("lock");
        let order = order.clone();
        waiters.push(tokio::spawn(async move {
            let guard = timeout(WAIT, lock.acquire()).await.expect("in time").expect("acquire");
            order.lock().expect("order").push(seq(guard.path()));
            guard.release().await.expect("release");
        }));
        // One at a time, so the line's order is the spawn order.
        wait_children(&raw, "/locks/herd", waiters.len() + 1).await;
    }
    let mut by_seq = children_of(&raw, "/locks/herd").await;
    by_seq.sort_by_key(|n| seq(n));
    // The holder watches its own node (to learn of its loss); each waiter watches only the
    // node just before its own; nobody watches the directory (5 watches in all, child
    // watches included) or the last node.
    let dir = "/herd/locks/herd";
    let counts = |watches: &HashMap<String, usize>| -> Vec<usize> {
        by_seq.iter().map(|n| watches.get(&format!("{dir}/{n}")).copied().unwrap_or(0)).collect()
    };
    eventually(WAIT, "every waiter watching", || async {
        counts(&watches_by_path(&hosts).await) == [2, 1, 1, 1, 0]
    })
    .await;
    assert_eq!(mntr(&hosts, "zk_watch_count").await, 5, "no other watch, on the directory or elsewhere");

    holder.release().await.expect("release");
    for w in waiters {
        timeout(WAIT, w).await.expect("waiter done").expect("waiter");
    }
    let order = order.lock().expect("order").clone();
    let expected: Vec<u64> = by_seq[1..].iter().map(|n| seq(n)).collect();
    assert_eq!(order, expected, "first come, first served");
    assert!(mntr(&hosts, "zk_max_node_deleted_watch_count").await <= 2, "a release wakes its successor only");
    for s in &all {
        s.close().await;
    }
}

#[tokio::test]
async fn try_acquire_and_timeout_give_up_their_place_and_follow_curators_layout() {
    let connect = chroot("trylock");
    let all = sessions(&connect, 2).await;
    let raw = raw(&connect).await;
    assert!(matches!(Lock::new(&all[0], "a/b"), Err(Error::InvalidName { kind: "lock", .. })));

    let mine = Lock::new(&all[0], "jobs").expect("lock").with_data(b"host-a");
    let theirs = Lock::new(&all[1], "jobs").expect("lock");
    let guard = mine.try_acquire().await.expect("try").expect("free lock taken at once");
    let nodes = children_of(&raw, "/locks/jobs").await;
    assert_eq!(nodes.len(), 1);
    let name = &nodes[0];
    // Curator's InterProcessMutex: _c_<uuid>-lock-<10 digits>
    assert!(name.starts_with("_c_") && name.len() == 3 + 36 + 1 + 5 + 10, "{name}");
    assert_eq!(&name[39..45], "-lock-", "{name}");
    assert_eq!(guard.path(), format!("/locks/jobs/{name}"));
    let (data, stat) = raw.get_data(guard.path()).await.expect("get");
    assert_eq!(data, b"host-a");
    assert_eq!(stat.ephemeral_owner, all[0].session_id().expect("live"), "ephemeral, ours");

    assert!(theirs.try_acquire().await.expect("try").is_none(), "held: try fails");
    let err = theirs.acquire_timeout(Duration::from_millis(300)).await.expect_err("held: times out");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // A cancelled acquire gives its place up too.
    assert!(timeout(Duration::from_millis(300), theirs.acquire()).await.is_err());
    eventually(WAIT, "only the holder's node is left", || async {
        children_of(&raw, "/locks/jobs").await == [name.clone()]
    })
    .await;

    guard.release().await.expect("release");
    let next = theirs.try_acquire().await.expect("try").expect("free again");
    assert!(next.is_held());
    drop(next);
    eventually(WAIT, "a dropped guard releases", || async {
        children_of(&raw, "/locks/jobs").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_bad_recipe_name_is_refused_naming_the_recipe_not_a_service() {
    let session = session(&chroot("badname")).await;
    let err = Lock::new(&session, "nightly report").expect_err("a space");
    match &err {
        Error::InvalidName { kind: "lock", name, reason } => {
            assert_eq!(name, "nightly report");
            assert!(reason.contains("' '"), "{reason}");
        }
        other => panic!("not InvalidName {{ kind: \"lock\", .. }}: {other:?}"),
    }
    let message = err.to_string();
    assert!(message.starts_with("invalid lock name \"nightly report\""), "{message}");
    assert!(!message.contains("service"), "{message}");
    assert!(!err.is_retryable());

    let kind = |r: Result<(), Error>| match r {
        Err(Error::InvalidName { kind, .. }) => kind,
        other => panic!("not InvalidName: {other:?}"),
    };
    assert_eq!(kind(ReadWriteLock::new(&session, "").map(drop)), "read/write lock");
    assert_eq!(kind(LeaderElection::new(&session, "..", b"me").map(drop)), "election");
    assert_eq!(kind(LeaderObserver::new(&session, "a/b").await.map(drop)), "election");
    assert_eq!(kind(DistributedQueue::new(&session, "jobs?").map(drop)), "queue");
    assert_eq!(kind(DoubleBarrier::new(&session, &"x".repeat(256), 2).map(drop)), "barrier");
    assert_eq!(kind(IdGenerator::new(&session, "orders/eu").map(drop)), "id sequence");
    session.close().await;
}

#[tokio::test]
async fn lock_holder_is_told_of_session_loss() {
    let connect = chroot("locklost");
    let all = sessions(&connect, 2).await;
    let raw = raw(&connect).await;
    let guard = Lock::new(&all[0], "lost").expect("lock").acquire().await.expect("acquire");
    let mut held = guard.held_watch();
    assert!(*held.borrow() && guard.is_held());
    let other = Lock::new(&all[1], "lost").expect("lock");
    let waiter =
        tokio::spawn(async move { timeout(WAIT, other.acquire()).await.expect("in time").expect("acquire") });
    wait_children(&raw, "/locks/lost", 2).await;

    let mut events = all[0].events();
    expire_session(&connect, &all[0].session_info().expect("live")).await.expect("expire");
    timeout(WAIT, guard.lost()).await.expect("the holder is told");
    assert!(!guard.is_held());
    timeout(WAIT, held.wait_for(|h| !*h)).await.expect("watch flips").expect("watch");
    let next = timeout(WAIT, waiter).await.expect("the waiter gets the lock").expect("waiter");
    assert!(next.is_held());

    // Not re-acquired behind the holder's back after the new session comes.
    expect_state(&mut events, registry::SessionState::Lost, WAIT).await;
    expect_state(&mut events, registry::SessionState::Reconnected, WAIT).await;
    assert!(!guard.is_held());
    assert_eq!(children_of(&raw, "/locks/lost").await.len(), 1, "only the new holder's node");
    guard.release().await.expect("releasing a lost lock is fine");
    next.release().await.expect("release");
    let again = Lock::new(&all[0], "lost").expect("lock").acquire_timeout(WAIT).await.expect("acquire again");
    assert!(again.is_held());
}

#[tokio::test]
async fn a_waiter_whose_session_expires_queues_again_and_gets_the_lock() {
    let connect = chroot("waitexpire");
    let all = sessions(&connect, 2).await;
    let raw = raw(&connect).await;
    let holder = Lock::new(&all[0], "w").expect("lock").acquire().await.expect("acquire");
    let waiting = Lock::new(&all[1], "w").expect("lock");
    let waiter =
        tokio::spawn(
            async move { timeout(WAIT, waiting.acquire()).await.expect("in time").expect("acquire") },
        );
    wait_children(&raw, "/locks/w", 2).await;
    let old = all[1].session_id().expect("live");
    let mut events = all[1].events();
    expire_session(&connect, &all[1].session_info().expect("live")).await.expect("expire");
    expect_state(&mut events, registry::SessionState::Lost, WAIT).await;
    expect_state(&mut events, registry::SessionState::Reconnected, WAIT).await;
    let new = all[1].session_id().expect("live");
    assert_ne!(old, new);
    eventually(WAIT, "the waiter queued again under its new session", || async {
        let nodes = children_of(&raw, "/locks/w").await;
        let mut owners = Vec::new();
        for n in &nodes {
            if let Ok(Some(stat)) = raw.check_stat(&format!("/locks/w/{n}")).await {
                owners.push(stat.ephemeral_owner);
            }
        }
        nodes.len() == 2 && owners.contains(&new)
    })
    .await;
    assert!(!waiter.is_finished(), "still waiting for the holder");
    holder.release().await.expect("release");
    let guard = timeout(WAIT, waiter).await.expect("acquired").expect("waiter");
    let (_, stat) = raw.get_data(guard.path()).await.expect("get");
    assert_eq!(stat.ephemeral_owner, new);
}

// === Read/write lock ===

#[tokio::test]
async fn readers_share_a_writer_excludes_all_and_a_reader_behind_a_writer_waits() {
    let connect = chroot("rwlock");
    let all = sessions(&connect, 4).await;
    let raw = raw(&connect).await;
    let lock = |i: usize| ReadWriteLock::new(&all[i], "table").expect("rwlock");
    let dir = "/locks/table";

    let r1 = timeout(WAIT, lock(0).read()).await.expect("in time").expect("read");
    let r2 = timeout(WAIT, lock(1).read()).await.expect("readers overlap").expect("read");
    assert!(r1.is_held() && r2.is_held());
    let names = children_of(&raw, dir).await;
    assert!(names.iter().all(|n| n.starts_with("_c_") && n.contains("-__READ__")), "{names:?}");

    assert!(lock(2).try_write().await.expect("try").is_none(), "readers hold: no writer");
    let writing = lock(2);
    let writer =
        tokio::spawn(async move { timeout(WAIT, writing.write()).await.expect("in time").expect("write") });
    wait_children(&raw, dir, 3).await;
    assert!(children_of(&raw, dir).await.iter().any(|n| n.contains("-__WRIT__")));
    assert!(still_pending(&writer).await, "a writer waits for the readers");

    assert!(lock(3).try_read().await.expect("try").is_none(), "a reader behind a waiting writer waits");
    let reading = lock(3);
    let late_reader =
        tokio::spawn(async move { timeout(WAIT, reading.read()).await.expect("in time").expect("read") });
    wait_children(&raw, dir, 4).await;

    r1.release().await.expect("release");
    assert!(still_pending(&writer).await, "one reader still holds");
    r2.release().await.expect("release");
    let w = timeout(WAIT, writer).await.expect("the writer gets in").expect("writer");
    assert!(w.is_held());
    assert!(lock(0).try_read().await.expect("try").is_none(), "a writer excludes readers");
    assert!(lock(1).try_write().await.expect("try").is_none(), "a writer excludes writers");
    assert!(still_pending(&late_reader).await, "the reader behind the writer still waits");
    w.release().await.expect("release");
    let r3 = timeout(WAIT, late_reader).await.expect("the late reader gets in").expect("reader");
    assert!(r3.is_held());
    let r4 = lock(0).try_read().await.expect("try").expect("readers share again");
    drop((r3, r4));
    eventually(WAIT, "all lock nodes gone", || async { children_of(&raw, dir).await.is_empty() }).await;
}

// === Election ===

/// The next leader identity an observer's stream yielded.
async fn next_seen(seen: &mut tokio::sync::mpsc::UnboundedReceiver<Option<String>>) -> Option<String> {
    timeout(WAIT, seen.recv()).await.expect("observer saw a change").expect("stream")
}

#[tokio::test]
async fn election_fails_over_on_expiry_and_observers_see_each_leader() {
    let connect = chroot("election");
    let all = sessions(&connect, 4).await;
    let raw = raw(&connect).await;
    let dir = "/election/scheduler";
    let election =
        |i: usize, id: &str| LeaderElection::new(&all[i], "scheduler", id.as_bytes()).expect("election");
    let (ea, eb, ec) = (election(0, "a"), election(1, "b"), election(2, "c"));

    let la = timeout(WAIT, ea.elect()).await.expect("in time").expect("elect");
    assert!(la.is_leader());
    assert!(la.path().contains("-latch-"), "{}", la.path());
    let (data, _) = raw.get_data(la.path()).await.expect("get");
    assert_eq!(data, b"a", "the identity is the node's data");

    // A non-candidate observes; its stream starts with the current leader.
    let observer = LeaderObserver::new(&all[3], "scheduler").await.expect("observe");
    assert_eq!(observer.leader().map(|l| l.identity), Some(b"a".to_vec()));
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let collector = tokio::spawn(observer.for_each(move |leader| {
        let _ = seen_tx.send(leader.map(|l| String::from_utf8_lossy(&l.identity).into_owned()));
        async {}
    }));
    assert_eq!(next_seen(&mut seen).await.as_deref(), Some("a"));

    let b_task =
        tokio::spawn(async move { (timeout(WAIT, eb.elect()).await.expect("in time").expect("elect"), eb) });
    wait_children(&raw, dir, 2).await;
    let c_task =
        tokio::spawn(async move { (timeout(WAIT, ec.elect()).await.expect("in time").expect("elect"), ec) });
    wait_children(&raw, dir, 3).await;
    assert!(still_pending(&b_task).await && !c_task.is_finished(), "one leader at a time");

    // The leader's session expires: it is told, b (next in line) takes over, c keeps waiting.
    expire_session(&connect, &all[0].session_info().expect("live")).await.expect("expire");
    timeout(WAIT, la.lost()).await.expect("the old leader is told");
    assert!(!la.is_leader());
    let (lb, _eb) = timeout(WAIT, b_task).await.expect("b leads").expect("b");
    assert!(lb.is_leader());
    assert_eq!(next_seen(&mut seen).await.as_deref(), Some("b"));
    assert!(!c_task.is_finished());

    // a runs again after its loss (a new candidacy, at the end of the line).
    all[0].wait_connected(WAIT).await.expect("a reconnects");
    let a_again =
        tokio::spawn(async move { timeout(WAIT, ea.elect()).await.expect("in time").expect("elect") });
    wait_children(&raw, dir, 3).await;

    lb.resign().await.expect("resign");
    let (lc, _ec) = timeout(WAIT, c_task).await.expect("c leads").expect("c");
    assert_eq!(next_seen(&mut seen).await.as_deref(), Some("c"));
    lc.resign().await.expect("resign");
    let la2 = timeout(WAIT, a_again).await.expect("a leads again").expect("a");
    assert!(la2.is_leader());
    assert_eq!(next_seen(&mut seen).await.as_deref(), Some("a"));
    la2.resign().await.expect("resign");
    assert_eq!(next_seen(&mut seen).await, None, "nobody stands");
    collector.abort();
}

#[tokio::test]
async fn leadership_watch_flips_on_session_loss_and_the_candidate_can_run_again() {
    let connect = chroot("leaderlost");
    let all = sessions(&connect, 2).await;
    let election = LeaderElection::new(&all[0], "solo", b"me").expect("election");
    let leadership = timeout(WAIT, election.elect()).await.expect("in time").expect("elect");
    let mut watch = leadership.watch();
    assert!(*watch.borrow());
    let mut observer = election.observe().await.expect("observe");
    let first = observer.leader().expect("a leader");
    assert_eq!(first.identity, b"me");
    assert_eq!(first.session_id, all[0].session_id().expect("live"));

    expire_session(&connect, &all[0].session_info().expect("live")).await.expect("expire");
    timeout(WAIT, watch.wait_for(|leads| !*leads)).await.expect("the watch flips").expect("watch");
    timeout(WAIT, leadership.lost()).await.expect("lost resolves");
    assert!(!leadership.is_leader());
    let none = observer.wait_for(WAIT, |l| l.is_none()).await.expect("the observer sees nobody lead");
    assert_eq!(none, None);

    let again = timeout(WAIT, election.elect()).await.expect("in time").expect("elect again");
    assert!(again.is_leader());
    let back = observer.wait_for(WAIT, |l| l.is_some()).await.expect("observer").expect("a leader");
    assert_eq!(back.identity, b"me");
    assert_ne!(back.path, first.path, "a new candidacy");
    assert_eq!(back.session_id, all[0].session_id().expect("live"), "under the new session");
    // Another observer on another session agrees.
    let other = LeaderObserver::new(&all[1], "solo").await.expect("observe");
    assert_eq!(other.leader().map(|l| l.path), Some(back.path));
}

// === Queue ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_items_are_taken_exactly_once_by_4_takers() {
    const ITEMS: usize = 200;
    let connect = chroot("queue");
    let all = sessions(&connect, 5).await;
    let taken = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicU64::new(0));
    let takers: Vec<_> = all[1..]
        .iter()
        .map(|s| {
            let queue = DistributedQueue::new(s, "work").expect("queue");
            let (taken, count) = (taken.clone(), count.clone());
            tokio::spawn(async move {
                let mut mine = 0;
                while count.load(Ordering::SeqCst) < ITEMS as u64 {
                    match queue.take_timeout(Duration::from_millis(300)).await {
                        Ok(item) => {
                            count.fetch_add(1, Ordering::SeqCst);
                            taken.lock().expect("taken").push(String::from_utf8(item).expect("utf8"));
                            mine += 1;
                        }
                        Err(Error::Timeout { .. }) => {}
                        Err(e) => panic!("take: {e}"),
                    }
                }
                mine
            })
        })
        .collect();
    let producer = DistributedQueue::new(&all[0], "work").expect("queue");
    for i in 0..ITEMS {
        producer.put(format!("item-{i:03}").as_bytes()).await.expect("put");
    }
    let mut per_taker = Vec::new();
    for t in takers {
        per_taker.push(timeout(WAIT, t).await.expect("takers done in time").expect("taker"));
    }
    let taken = taken.lock().expect("taken").clone();
    let unique: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), ITEMS, "no item taken twice (per taker: {per_taker:?})");
    let expected: BTreeSet<String> = (0..ITEMS).map(|i| format!("item-{i:03}")).collect();
    assert_eq!(unique, expected.iter().collect(), "no item lost, none duplicated");
    assert_eq!(producer.len().await.expect("len"), 0);
}

#[tokio::test]
async fn queue_is_fifo_and_take_blocks_until_an_item_arrives() {
    let connect = chroot("fifo");
    let all = sessions(&connect, 2).await;
    let producer = DistributedQueue::new(&all[0], "jobs").expect("queue");
    let consumer = DistributedQueue::new(&all[1], "jobs").expect("queue");
    assert_eq!(consumer.try_take().await.expect("try"), None, "no queue yet");
    for item in ["a", "b", "c"] {
        producer.put(item.as_bytes()).await.expect("put");
    }
    assert_eq!(consumer.len().await.expect("len"), 3);
    for item in ["a", "b", "c"] {
        assert_eq!(consumer.try_take().await.expect("try").as_deref(), Some(item.as_bytes()), "FIFO");
    }
    assert_eq!(consumer.try_take().await.expect("try"), None);
    let err = consumer.take_timeout(Duration::from_millis(200)).await.expect_err("empty");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");

    let blocked =
        tokio::spawn(async move { timeout(WAIT, consumer.take()).await.expect("in time").expect("take") });
    assert!(still_pending(&blocked).await, "take waits for an item");
    producer.put(b"d").await.expect("put");
    assert_eq!(timeout(WAIT, blocked).await.expect("taken").expect("task"), b"d");
    let raw = raw(&connect).await;
    assert!(children_of(&raw, "/queues/jobs").await.is_empty());
}

#[tokio::test]
async fn idle_takers_line_up_and_only_the_first_watches_the_queue() {
    let zk = local_zk::LocalZooKeeper::start().await.expect("start ZooKeeper");
    let hosts = zk.connect_string();
    let connect = format!("{hosts}/takers");
    let all = sessions(&connect, 4).await;
    let raw = raw(&connect).await;
    let dir = "/queues/idle";
    let producer = DistributedQueue::new(&all[0], "idle").expect("queue");
    producer.put(b"warm-up").await.expect("put");
    assert_eq!(producer.try_take().await.expect("try").as_deref(), Some(&b"warm-up"[..]));
    let mut takers = Vec::new();
    for s in &all[1..] {
        let queue = DistributedQueue::new(s, "idle").expect("queue");
        takers.push(tokio::spawn(async move {
            timeout(WAIT, queue.take()).await.expect("in time").expect("take")
        }));
        wait_children(&raw, dir, takers.len()).await;
    }
    let mut line = children_of(&raw, dir).await;
    assert!(line.iter().all(|n| n.contains("-taker-")), "{line:?}");
    line.sort_by_key(|n| seq(n));
    let server_dir = format!("/takers{dir}");
    let counts = |watches: &HashMap<String, usize>| -> Vec<usize> {
        line.iter().map(|n| watches.get(&format!("{server_dir}/{n}")).copied().unwrap_or(0)).collect()
    };
    // Taker 2 watches taker 1, taker 3 watches taker 2, and taker 1 alone watches the queue's
    // children: 3 watches in all.
    eventually(WAIT, "takers watching", || async {
        counts(&watches_by_path(&hosts).await) == [1, 1, 0] && mntr(&hosts, "zk_watch_count").await == 3
    })
    .await;

    for item in ["x", "y", "z"] {
        producer.put(item.as_bytes()).await.expect("put");
    }
    let mut got = Vec::new();
    for t in takers {
        got.push(String::from_utf8(timeout(WAIT, t).await.expect("taken").expect("task")).expect("utf8"));
    }
    got.sort();
    assert_eq!(got, ["x", "y", "z"], "each taker got one item");
    assert_eq!(
        mntr(&hosts, "zk_max_node_children_watch_count").await,
        1,
        "a change of the queue wakes one taker"
    );
    eventually(WAIT, "the line is gone", || async { children_of(&raw, dir).await.is_empty() }).await;
    for s in &all {
        s.close().await;
    }
}

// === Barrier ===

#[tokio::test]
async fn double_barrier_releases_exactly_at_n_and_leaves_together() {
    const N: usize = 4;
    let connect = chroot("barrier");
    let all = sessions(&connect, N).await;
    let raw = raw(&connect).await;
    let dir = "/barriers/start";
    let barrier = |i: usize| DoubleBarrier::new(&all[i], "start", N).expect("barrier");
    assert!(DoubleBarrier::new(&all[0], "start", 0).is_err());

    let mut entering = Vec::new();
    for i in 0..N - 1 {
        let b = barrier(i);
        entering.push(tokio::spawn(async move {
            timeout(WAIT, b.enter()).await.expect("in time").expect("enter")
        }));
    }
    wait_children(&raw, dir, N - 1).await;
    tokio::time::sleep(NOT_WITHIN).await;
    assert!(entering.iter().all(|t| !t.is_finished()), "N-1 entered: everyone still waits");
    assert!(raw.check_stat(&format!("{dir}/ready")).await.expect("stat").is_none());
    let (size, _) = raw.get_data(dir).await.expect("barrier node");
    assert_eq!(size, N.to_string().as_bytes(), "the size is the barrier node's data");
    let err = DoubleBarrier::new(&all[0], "start", N + 1)
        .expect("barrier")
        .enter()
        .await
        .expect_err("size differs");
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");

    let last = timeout(WAIT, barrier(N - 1).enter()).await.expect("the Nth enters").expect("enter");
    let mut members = vec![last];
    for t in entering {
        members.push(timeout(WAIT, t).await.expect("released").expect("task"));
    }
    assert_eq!(members.len(), N);

    // Leaving: nobody is out before everybody has left.
    let last = members.remove(0);
    let leaving: Vec<_> = members
        .into_iter()
        .map(|m| {
            tokio::spawn(async move { timeout(WAIT, m.leave()).await.expect("in time").expect("leave") })
        })
        .collect();
    tokio::time::sleep(NOT_WITHIN).await;
    assert!(leaving.iter().all(|t| !t.is_finished()), "one member has not left yet");
    timeout(WAIT, last.leave()).await.expect("the last leaves").expect("leave");
    for t in leaving {
        timeout(WAIT, t).await.expect("left together").expect("task");
    }
    assert!(children_of(&raw, dir).await.is_empty(), "members and ready gone");
}

// === Ids ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_unique_and_increasing_across_concurrent_sessions() {
    let connect = chroot("ids");
    let all = sessions(&connect, 4).await;
    assert!(IdGenerator::new(&all[0], "").is_err());
    let tasks: Vec<_> = all
        .iter()
        .map(|s| {
            let ids = IdGenerator::new(s, "orders").expect("ids");
            tokio::spawn(async move {
                let mut got = Vec::new();
                for round in 0..20 {
                    if round % 10 == 5 {
                        let batch = ids.next_ids(10).await.expect("batch");
                        assert_eq!(batch.len(), 10);
                        got.extend(batch);
                    } else {
                        got.push(ids.next_id().await.expect("id"));
                    }
                }
                got
            })
        })
        .collect();
    let mut every = Vec::new();
    for t in tasks {
        let got = timeout(WAIT, t).await.expect("in time").expect("task");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "increasing within a session: {got:?}");
        every.extend(got);
    }
    let unique: BTreeSet<u64> = every.iter().copied().collect();
    assert_eq!(unique.len(), every.len(), "unique across sessions");
    assert_eq!(every.len(), 4 * (18 + 2 * 10));
    let later = IdGenerator::new(&all[0], "orders").expect("ids").next_id().await.expect("id");
    assert!(unique.iter().all(|id| *id < later), "an id taken later is greater than all before");
    let raw = raw(&connect).await;
    assert!(children_of(&raw, "/ids/orders").await.is_empty(), "id nodes cleaned up");
}
