//! Group membership against a real ZooKeeper: joins, leaves, a crash and session expiry, seen
//! by an observer.

// The registry's test support names the registry by its own name.
extern crate registry as zkmesh_registry;

/// The registry suite's test support (one copy for both crates).
#[path = "../../registry/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use local_zk::expire_session;
use registry::SessionState;
use zkmesh_recipes::{Error, Group, Members};

const WAIT: Duration = Duration::from_secs(20);

fn ids(members: &Members) -> Vec<&str> {
    members.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn observers_see_joins_leaves_crashes_and_members_surviving_expiry() {
    let connect = chroot("group");
    let sessions = [session(&connect).await, session(&connect).await, session(&connect).await];
    let watcher = session(&connect).await;
    let mut observer = Group::new(&watcher, "workers").expect("group").observe().await.expect("observe");
    assert!(observer.members().is_empty(), "no group yet");

    let mut members = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let group = Group::new(s, "workers").expect("group");
        members
            .push(group.join(&format!("w{i}"), format!("10.0.0.{i}:9000").as_bytes()).await.expect("join"));
    }
    let seen = observer.wait_for(WAIT, |m| m.len() == 3).await.expect("3 members");
    assert_eq!(seen.get("w1").map(Vec::as_slice), Some(&b"10.0.0.1:9000"[..]));
    let raw = raw(&connect).await;
    let (_, stat) = raw.get_data("/groups/workers/w0").await.expect("member node");
    assert_eq!(stat.ephemeral_owner, sessions[0].session_id().expect("live"), "ephemeral, of its member");

    // An id in use is refused; a bad one too.
    let taken = Group::new(&watcher, "workers").expect("group").join("w0", b"impostor").await;
    assert!(matches!(taken, Err(Error::InvalidArgument { .. })), "{taken:?}");
    assert!(matches!(
        Group::new(&watcher, "workers").expect("group").join("a/b", b"").await,
        Err(Error::InvalidName { .. })
    ));

    // A leave, then a crash (the session ends without a word).
    members.remove(1).leave().await.expect("leave");
    observer.wait_for(WAIT, |m| ids(m) == ["w0", "w2"]).await.expect("w1 left");
    sessions[0].close().await;
    observer.wait_for(WAIT, |m| ids(m) == ["w2"]).await.expect("w0 gone with its session");

    // A member whose session expires is announced again under the new one.
    let mut events = sessions[2].events();
    let old_owner = sessions[2].session_id().expect("live");
    expire_session(&connect, &sessions[2].session_info().expect("live")).await.expect("expire");
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    members[1].wait_present(WAIT).await.expect("back");
    eventually(WAIT, "w2 owned by its new session", || async {
        let owner = raw.get_data("/groups/workers/w2").await.map(|(_, stat)| stat.ephemeral_owner);
        matches!(owner, Ok(owner) if owner != old_owner && Some(owner) == sessions[2].session_id())
    })
    .await;
    observer.wait_for(WAIT, |m| ids(m) == ["w2"]).await.expect("w2 still a member");

    // The observer's own session expires: it keeps following.
    let mut events = watcher.events();
    expire_session(&connect, &watcher.session_info().expect("live")).await.expect("expire");
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    let late = Group::new(&sessions[1], "workers").expect("group").join("w9", b"late").await.expect("join");
    let seen = observer.wait_for(WAIT, |m| ids(m) == ["w2", "w9"]).await.expect("w9 seen after expiry");
    assert_eq!(seen["w9"], b"late");
    drop(late);
    observer.wait_for(WAIT, |m| ids(m) == ["w2"]).await.expect("a dropped member leaves");
}
