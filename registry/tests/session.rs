//! The logical session against a real ZooKeeper: states, ephemerals replayed after expiry,
//! disconnections survived, nodes of dead and foreign sessions, push-then-pull watches.

mod common;

use std::time::Duration;

use common::*;
use local_zk::{expire_session, LocalZooKeeper};
use zkmesh_registry::{EphemeralStatus, NodeEvent, Session, SessionState};
use zookeeper_client::{Acl, Acls, AuthId, CreateMode, Permission};

const WAIT: Duration = Duration::from_secs(20);

async fn owner_of(raw: &zookeeper_client::Client, path: &str) -> Option<i64> {
    raw.check_stat(path).await.expect("check_stat").map(|s| s.ephemeral_owner)
}

#[tokio::test]
async fn connects_creates_chroot_and_reports_connected() {
    let connect = chroot("connect");
    let session = session(&connect).await;
    assert_eq!(session.state(), SessionState::Connected);
    assert_eq!(session.generation(), 1);
    session.ensure_path("/a/b/c").await.expect("ensure_path");
    session.ensure_path("/a/b/c").await.expect("ensure_path is idempotent");
    let raw = raw(shared_zk()).await;
    let root = connect.split_once('/').map(|(_, r)| format!("/{r}")).expect("chroot");
    assert!(
        raw.check_stat(&format!("{root}/a/b/c")).await.expect("stat").is_some(),
        "path made under the chroot"
    );
    session.close().await;
    assert_eq!(session.state(), SessionState::Closed);
}

#[tokio::test]
async fn connect_to_nothing_fails_with_a_clear_error() {
    // A port nothing listens on (bound then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let err = Session::builder()
        .connect_timeout(Duration::from_secs(60))
        .connect(&format!("127.0.0.1:{port}"))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, zkmesh_registry::Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("connection refused at 127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn ephemeral_deleted_by_someone_else_is_recreated() {
    let connect = chroot("redelete");
    let session = session(&connect).await;
    let node = session.create_ephemeral("/services/s/providers/p1", b"x").await.expect("create");
    assert!(node.status().is_active());
    let raw = raw(&connect).await;
    let ours = session.session_id().expect("live");
    assert_eq!(owner_of(&raw, node.path()).await, Some(ours));
    raw.delete(node.path(), None).await.expect("someone deletes it");
    eventually(WAIT, "the node is back", || async { owner_of(&raw, node.path()).await == Some(ours) }).await;
    let (data, _) = raw.get_data(node.path()).await.expect("get");
    assert_eq!(data, b"x");
    node.delete().await.expect("delete");
    assert_eq!(owner_of(&raw, "/services/s/providers/p1").await, None, "deleted for good");
}

/// How many requests the server has received from session `sid` (`cons`, a four-letter word).
async fn requests_received(connect: &str, sid: i64) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = connect.split(['/', ',']).next().expect("host:port");
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect for `cons`");
    stream.write_all(b"cons").await.expect("send `cons`");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read `cons`");
    let line = answer.lines().find(|l| l.contains(&format!("sid=0x{sid:x},"))).expect("our connection");
    let recved = line.split("recved=").nth(1).and_then(|r| r.split(',').next()).expect("recved=");
    recved.parse().expect("a count")
}

/// A write of an ephemeral's data (a config watcher's status node is written at every change)
/// costs that write alone: the keeper's watch fires only when the node is deleted, so it is not
/// woken to set it again.
#[tokio::test]
async fn writing_an_ephemeral_does_not_wake_its_keeper() {
    let connect = chroot("rewrite");
    let session = session(&connect).await;
    let node = session.create_ephemeral("/e/status", b"0").await.expect("create");
    let sid = session.session_id().expect("live");
    let client = session.client().expect("live");
    // The keeper sets its watch after a short delay; a deletion is noticed from then on.
    let raw = raw(&connect).await;
    raw.delete(node.path(), None).await.expect("someone deletes it");
    eventually(WAIT, "the node is back", || async { owner_of(&raw, node.path()).await == Some(sid) }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let before = requests_received(&connect, sid).await;
    for i in 0..20 {
        client.set_data(node.path(), format!("{i}").as_bytes(), None).await.expect("write");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = requests_received(&connect, sid).await;
    // 20 writes, and at most a ping or two in the half second; a keeper woken by each write
    // would have sent 20 more.
    assert!(after - before <= 23, "{} requests for 20 writes", after - before);
    raw.delete(node.path(), None).await.expect("deleted again");
    eventually(WAIT, "the node is back again", || async { owner_of(&raw, node.path()).await == Some(sid) })
        .await;
    let (data, _) = raw.get_data(node.path()).await.expect("get");
    assert_eq!(data, b"0", "re-created with the data it was registered with");
}

#[tokio::test]
async fn dropping_the_handle_deletes_the_node() {
    let connect = chroot("drop");
    let session = session(&connect).await;
    let node = session.create_ephemeral("/e/dropped", b"").await.expect("create");
    let raw = raw(&connect).await;
    assert!(owner_of(&raw, "/e/dropped").await.is_some());
    drop(node);
    eventually(WAIT, "the node is deleted", || async { owner_of(&raw, "/e/dropped").await.is_none() }).await;
    assert!(session.state().is_connected(), "the session lives on");
}

#[tokio::test]
async fn injected_expiry_gives_lost_then_a_new_session_with_ephemerals_back() {
    let connect = chroot("expiry");
    let session = session(&connect).await;
    let nodes = [
        session.create_ephemeral("/services/a/providers/one", b"1").await.expect("create"),
        session.create_ephemeral("/services/b/providers/two", b"2").await.expect("create"),
    ];
    let old = session.session_id().expect("live");
    let mut events = session.events();

    expire_session(&connect, &session.session_info().expect("live")).await.expect("expire");
    let seen = expect_state(&mut events, SessionState::Lost, WAIT).await;
    assert_eq!(seen.last(), Some(&SessionState::Lost));
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;

    let new = session.session_id().expect("live again");
    assert_ne!(new, old, "a new ZooKeeper session");
    assert_eq!(session.generation(), 2);
    // Reconnected is announced only after the replay: the nodes are there already.
    let raw = raw(&connect).await;
    for node in &nodes {
        assert_eq!(
            owner_of(&raw, node.path()).await,
            Some(new),
            "{} re-created under the new session",
            node.path()
        );
        assert!(matches!(node.status(), EphemeralStatus::Active { session_id } if session_id == new));
    }
    let (data, _) = raw.get_data("/services/b/providers/two").await.expect("get");
    assert_eq!(data, b"2", "data replayed too");
}

#[tokio::test]
async fn a_node_held_by_a_foreign_session_is_left_alone_until_it_goes() {
    let connect = chroot("foreign");
    let other = raw(&connect).await;
    other.mkdir("/svc", &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.expect("mkdir");
    other
        .create("/svc/node", b"theirs", &CreateMode::Ephemeral.with_acls(Acls::anyone_all()))
        .await
        .expect("create");
    let foreign = other.session_id().0;

    let session = session(&connect).await;
    let node = session.create_ephemeral("/svc/node", b"ours").await.expect("create is accepted");
    assert!(
        matches!(node.status(), EphemeralStatus::Conflict { owner } if owner == foreign),
        "{:?}",
        node.status()
    );
    let check = raw(&connect).await;
    let (data, _) = check.get_data("/svc/node").await.expect("get");
    assert_eq!(data, b"theirs", "the other session's node is untouched");

    drop(other); // closes that session: its node goes, ours takes its place
    node.wait_active(WAIT).await.expect("ours once theirs is gone");
    let (data, stat) = check.get_data("/svc/node").await.expect("get");
    assert_eq!((data.as_slice(), stat.ephemeral_owner), (&b"ours"[..], session.session_id().expect("live")));
}

/// Somebody else's node that this session may not read (its ACL grants no READ): ZooKeeper
/// delivers no watch event of it to this session, so the keeper looks again now and then (not
/// in a tight loop), says whose it is, and takes the path once it goes.
#[tokio::test]
async fn a_foreign_node_this_session_may_not_read_is_looked_at_until_it_goes() {
    let connect = chroot("foreign-unreadable");
    let other = raw(&connect).await;
    other.mkdir("/svc", &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.expect("mkdir");
    let write_only = [Acl::new(Permission::WRITE | Permission::DELETE | Permission::ADMIN, AuthId::anyone())];
    other
        .create("/svc/node", b"theirs", &CreateMode::Ephemeral.with_acls(Acls::new(&write_only)))
        .await
        .expect("create");
    let foreign = other.session_id().0;

    let session = session(&connect).await;
    let node = session.create_ephemeral("/svc/node", b"ours").await.expect("create is accepted");
    eventually(WAIT, "the conflict is reported", || async {
        matches!(node.status(), EphemeralStatus::Conflict { owner } if owner == foreign)
    })
    .await;
    // A look (create, stat, children) every 2 s (the session's longest back-off), and pings.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sid = session.session_id().expect("live");
    let before = requests_received(&connect, sid).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let waiting = requests_received(&connect, sid).await - before;
    assert!(waiting <= 12, "{waiting} requests in 4 s while the foreign node stood");
    drop(other);
    node.wait_active(WAIT).await.expect("ours once theirs is gone");
    let check = raw(&connect).await;
    let (data, stat) = check.get_data("/svc/node").await.expect("get");
    assert_eq!((data.as_slice(), stat.ephemeral_owner), (&b"ours"[..], session.session_id().expect("live")));
}

#[tokio::test]
async fn a_second_ephemeral_at_the_same_path_is_refused() {
    let session = session(&chroot("dup")).await;
    let _node = session.create_ephemeral("/x", b"").await.expect("create");
    let err = session.create_ephemeral("/x", b"").await.expect_err("duplicate");
    assert!(matches!(err, zkmesh_registry::Error::InvalidPath { .. }), "{err:?}");
    let err = session.create_ephemeral("relative", b"").await.expect_err("bad path");
    assert!(matches!(err, zkmesh_registry::Error::InvalidPath { .. }), "{err:?}");
}

#[tokio::test]
async fn children_and_data_watches_follow_changes_and_survive_expiry() {
    let connect = chroot("watch");
    let session = session(&connect).await;
    let raw = raw(&connect).await;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());

    let mut kids = session.watch_children("/dir").expect("watch");
    let mut data = session.watch_data("/dir").expect("watch");
    kids.wait_for(WAIT, |e| *e == NodeEvent::Absent).await.expect("absent first");
    data.wait_for(WAIT, |e| *e == NodeEvent::Absent).await.expect("absent first");

    raw.create("/dir", b"v1", &persistent).await.expect("create");
    data.wait_for(WAIT, |e| matches!(e, NodeEvent::Present { value, .. } if value == b"v1"))
        .await
        .expect("created");
    raw.create("/dir/a", b"", &persistent).await.expect("create");
    raw.create("/dir/b", b"", &persistent).await.expect("create");
    kids.wait_for(WAIT, |e| children(e) == ["a", "b"]).await.expect("children seen");
    raw.set_data("/dir", b"v2", None).await.expect("set");
    data.wait_for(WAIT, |e| matches!(e, NodeEvent::Present { value, .. } if value == b"v2"))
        .await
        .expect("v2 seen");

    // Expire the session; changes made while it is being replaced are seen on the new one.
    let mut events = session.events();
    expire_session(&connect, &session.session_info().expect("live")).await.expect("expire");
    expect_state(&mut events, SessionState::Lost, WAIT).await;
    raw.delete("/dir/a", None).await.expect("delete");
    raw.set_data("/dir", b"v3", None).await.expect("set");
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    kids.wait_for(WAIT, |e| children(e) == ["b"]).await.expect("deletion seen after expiry");
    data.wait_for(WAIT, |e| matches!(e, NodeEvent::Present { value, .. } if value == b"v3"))
        .await
        .expect("v3");
    // And the re-armed watches keep working.
    raw.create("/dir/c", b"", &persistent).await.expect("create");
    kids.wait_for(WAIT, |e| children(e) == ["b", "c"]).await.expect("new child after expiry");
}

#[tokio::test]
async fn a_burst_of_changes_ends_in_the_final_state() {
    let connect = chroot("burst");
    let session = session(&connect).await;
    let raw = raw(&connect).await;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    raw.create("/burst", b"", &persistent).await.expect("create");
    let mut kids = session.watch_children("/burst").expect("watch");
    kids.wait_for(WAIT, |e| matches!(e, NodeEvent::Present { .. })).await.expect("read");
    let paths: Vec<String> = (0..200).map(|i| format!("/burst/n{i:03}")).collect();
    // Sent back to back without waiting: the watcher sees a burst.
    let futures: Vec<_> = paths.iter().map(|p| raw.create(p, b"", &persistent)).collect();
    for f in futures {
        f.await.expect("create");
    }
    let all = kids.wait_for(WAIT, |e| children(e).len() == 200).await.expect("all 200 seen");
    assert_eq!(children(&all).first().map(String::as_str), Some("n000"));
}

#[tokio::test]
async fn server_restart_suspends_then_reconnects_the_same_session() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let session = Session::builder()
        .session_timeout(Duration::from_secs(8))
        .connect(&zk.connect_string())
        .await
        .expect("connect");
    let node = session.create_ephemeral("/kept", b"").await.expect("create");
    let id = session.session_id().expect("live");
    let mut events = session.events();

    zk.stop().await.expect("stop");
    expect_state(&mut events, SessionState::Suspended, WAIT).await;
    zk.restart().await.expect("restart");
    let seen = expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    assert!(!seen.contains(&SessionState::Lost), "a short outage must not lose the session: {seen:?}");
    assert_eq!(session.session_id(), Some(id), "same ZooKeeper session");
    assert_eq!(session.generation(), 1);
    let raw = raw(&zk.connect_string()).await;
    assert_eq!(owner_of(&raw, node.path()).await, Some(id), "ephemeral intact");
}

#[tokio::test]
async fn an_outage_longer_than_the_session_replaces_our_leftover_node() {
    // ZooKeeper down for longer than the session timeout: the client gives the session up, and
    // when ZooKeeper comes back the old session's ephemeral is still there (the server expires
    // it only a session timeout later). The node is ours from a dead session: it is deleted and
    // re-created under the new session before Reconnected is announced.
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let session = Session::builder()
        .session_timeout(Duration::from_secs(2))
        .connect(&zk.connect_string())
        .await
        .expect("connect");
    let node = session.create_ephemeral("/leftover", b"").await.expect("create");
    let old = session.session_id().expect("live");
    let mut events = session.events();

    zk.kill().await.expect("kill");
    expect_state(&mut events, SessionState::Lost, WAIT).await;
    zk.restart().await.expect("restart");
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    let new = session.session_id().expect("live");
    assert_ne!(new, old);
    let raw = raw(&zk.connect_string()).await;
    assert_eq!(owner_of(&raw, node.path()).await, Some(new), "the leftover was replaced by ours");
    assert!(node.status().is_active());
}

#[tokio::test]
async fn lazy_session_waits_for_zookeeper_to_appear() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let connect = zk.connect_string();
    zk.stop().await.expect("stop");
    let session = Session::builder().connect_lazy(&connect).expect("lazy");
    assert_eq!(session.state(), SessionState::Connecting);
    assert!(session.client().is_none());
    let err = session.ensure_path("/x").await.expect_err("not connected");
    assert!(err.is_retryable(), "{err:?}");
    zk.restart().await.expect("restart");
    session.wait_connected(WAIT).await.expect("connects once ZooKeeper is up");
    session.ensure_path("/x").await.expect("works now");
}

#[tokio::test]
async fn a_detached_session_dies_like_a_crashed_process() {
    let connect = chroot("detached");
    let session = Session::builder()
        .session_timeout(Duration::from_secs(2))
        .detached(true)
        .connect(&connect)
        .await
        .expect("connect");
    let node = session.create_ephemeral("/crash/me", b"").await.expect("create");
    let raw = raw(&connect).await;
    session.close().await;
    drop(node);
    let closed_at = std::time::Instant::now();
    assert!(owner_of(&raw, "/crash/me").await.is_some(), "still there right after the 'crash'");
    eventually(WAIT, "gone once the session times out", || async {
        owner_of(&raw, "/crash/me").await.is_none()
    })
    .await;
    assert!(closed_at.elapsed() >= Duration::from_secs(1), "removed by expiry, not by a delete");
}
