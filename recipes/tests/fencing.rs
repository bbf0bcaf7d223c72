//! Fencing tokens against a real ZooKeeper: every later holder of a lock (or leader of an
//! election) carries a greater token, across releases, session expiry and a re-made directory.

// The registry's test support names the registry by its own name.
extern crate registry as zkmesh_registry;

/// The registry suite's test support (one copy for both crates).
#[path = "../../registry/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use local_zk::expire_session;
use tokio::time::timeout;
use zkmesh_recipes::{LeaderElection, Lock, ReadWriteLock};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn lock_tokens_increase_across_holders_expiry_and_a_remade_directory() {
    let connect = chroot("fencing-lock");
    let (a, b) = (session(&connect).await, session(&connect).await);
    let raw = raw(&connect).await;
    let (lock_a, lock_b) = (Lock::new(&a, "ledger").expect("lock"), Lock::new(&b, "ledger").expect("lock"));
    let mut tokens = Vec::new();
    for round in 0..3 {
        let lock = if round % 2 == 0 { &lock_a } else { &lock_b };
        let guard = timeout(WAIT, lock.acquire()).await.expect("in time").expect("acquire");
        let (_, stat) = raw.get_data(guard.path()).await.expect("lock node");
        assert_eq!(guard.fencing_token(), stat.czxid as u64, "the token is the node's czxid");
        tokens.push(guard.fencing_token());
        guard.release().await.expect("release");
    }

    // The holder that paused: `a` holds, its session expires, `b` takes over with a greater
    // token; `a`'s late write carries the smaller one and a fenced store refuses it.
    let stale = timeout(WAIT, lock_a.acquire()).await.expect("in time").expect("acquire");
    let waiter = tokio::spawn({
        let lock_b = lock_b.clone();
        async move { timeout(WAIT, lock_b.acquire()).await.expect("in time").expect("acquire") }
    });
    expire_session(&connect, &a.session_info().expect("live")).await.expect("expire");
    let fresh = timeout(WAIT, waiter).await.expect("b takes over").expect("waiter");
    let mut store = FencedStore::default();
    assert!(store.write(fresh.fencing_token()));
    assert!(!store.write(stale.fencing_token()), "the paused holder's write is refused");
    tokens.push(stale.fencing_token());
    tokens.push(fresh.fencing_token());
    fresh.release().await.expect("release");
    drop(stale);

    // Deleting the directory resets the sequence numbers, not the tokens.
    eventually(WAIT, "lock directory emptied", || async {
        raw.list_children("/locks/ledger").await.map(|c| c.is_empty()).unwrap_or(true)
    })
    .await;
    raw.delete("/locks/ledger", None).await.expect("delete the directory");
    let again = timeout(WAIT, lock_b.acquire()).await.expect("in time").expect("acquire");
    assert!(again.path().ends_with("-lock-0000000000"), "sequence restarted: {}", again.path());
    tokens.push(again.fencing_token());
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {tokens:?}");
}

#[tokio::test]
async fn a_writer_token_exceeds_every_reader_before_it() {
    let connect = chroot("fencing-rw");
    let s = session(&connect).await;
    let rw = ReadWriteLock::new(&s, "table").expect("rwlock");
    let r1 = rw.read().await.expect("read");
    let r2 = rw.read().await.expect("read");
    let writer = tokio::spawn({
        let rw = rw.clone();
        async move { timeout(WAIT, rw.write()).await.expect("in time").expect("write") }
    });
    let readers = [r1.fencing_token(), r2.fencing_token()];
    r1.release().await.expect("release");
    r2.release().await.expect("release");
    let w = timeout(WAIT, writer).await.expect("writer in").expect("writer");
    assert!(readers.iter().all(|r| *r < w.fencing_token()), "{readers:?} < {}", w.fencing_token());
}

#[tokio::test]
async fn leadership_tokens_increase_across_leaders() {
    let connect = chroot("fencing-election");
    let all = [session(&connect).await, session(&connect).await, session(&connect).await];
    let mut last = 0;
    for (i, s) in all.iter().enumerate() {
        let election = LeaderElection::new(s, "primary", format!("node-{i}").as_bytes()).expect("election");
        let leadership = timeout(WAIT, election.elect()).await.expect("in time").expect("elect");
        assert!(leadership.fencing_token() > last, "leader {i}: {} after {last}", leadership.fencing_token());
        last = leadership.fencing_token();
        if i == 1 {
            // This one does not resign: its session expires under it.
            expire_session(&connect, &s.session_info().expect("live")).await.expect("expire");
            timeout(WAIT, leadership.lost()).await.expect("lost");
        } else {
            leadership.resign().await.expect("resign");
        }
    }
}

/// Storage that accepts a write only with a token at least as high as any it has seen.
#[derive(Default)]
struct FencedStore {
    highest: u64,
}

impl FencedStore {
    fn write(&mut self, token: u64) -> bool {
        if token < self.highest {
            return false;
        }
        self.highest = token;
        true
    }
}
