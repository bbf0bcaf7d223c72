//! ZooKeeper down: a consumer keeps its list through an outage and re-syncs after it, and a
//! consumer that starts while ZooKeeper is down boots from the disk snapshot.

mod common;

use std::time::Duration;

use common::*;
use local_zk::LocalZooKeeper;
use zkmesh_registry::{ProviderSource, Registry, SessionState, SubscribeOptions};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn outage_keeps_the_list_and_resyncs_after_restart_then_snapshot_boots_a_consumer() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let connect = zk.connect_string();
    let snapshots = tempfile::tempdir().expect("tempdir");

    let provider = Registry::builder()
        .session_timeout(Duration::from_secs(10))
        .connect(&connect)
        .await
        .expect("provider");
    let consumer = Registry::builder()
        .session_timeout(Duration::from_secs(10))
        .snapshot_dir(snapshots.path())
        .connect(&connect)
        .await
        .expect("consumer");
    let _a = provider.register(&url("http://10.1.0.1:80/svc")).await.expect("register");
    let _b = provider.register(&url("http://10.1.0.2:80/svc")).await.expect("register");
    let sub = consumer.subscribe("svc").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 2).await.expect("both seen");
    eventually(WAIT, "the snapshot file holds both", || async {
        zkmesh_registry::load_snapshot(
            snapshots.path(),
            &zkmesh_registry::Environment::of(&connect).expect("env"),
            "svc",
        )
        .ok()
        .flatten()
        .is_some_and(|s| s.nodes.len() == 2)
    })
    .await;

    // ZooKeeper stops: the consumer keeps serving both addresses.
    let mut events = consumer.session().events();
    zk.stop().await.expect("stop");
    expect_state(&mut events, SessionState::Suspended, WAIT).await;
    for _ in 0..100 {
        assert!(sub.select().is_some());
    }
    assert_eq!(sub.current().len(), 2);
    // A provider registering now is accepted as pending (failback) and retried.
    let late =
        provider.register(&url("http://10.1.0.4:80/svc")).await.expect("accepted while ZooKeeper is down");
    assert!(matches!(late.status(), zkmesh_registry::EphemeralStatus::Pending { .. }), "{:?}", late.status());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sub.current().len(), 2, "still both while ZooKeeper is down");
    assert!(!late.status().is_active());

    // It comes back: the same session resumes, and new changes flow again.
    zk.restart().await.expect("restart");
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    late.wait_registered(WAIT).await.expect("the pending registration goes through");
    let _c = provider.register(&url("http://10.1.0.3:80/svc")).await.expect("register after restart");
    sub.wait_for(WAIT, |s| s.len() == 4).await.expect("re-synced");
    eventually(WAIT, "the snapshot holds four", || async {
        zkmesh_registry::load_snapshot(
            snapshots.path(),
            &zkmesh_registry::Environment::of(&connect).expect("env"),
            "svc",
        )
        .ok()
        .flatten()
        .is_some_and(|s| s.nodes.len() == 4)
    })
    .await;

    // A new consumer starting while ZooKeeper is down boots from the snapshot, marked stale.
    zk.stop().await.expect("stop again");
    let booted =
        Registry::builder().snapshot_dir(snapshots.path()).connect_lazy(&connect).expect("lazy registry");
    let started = std::time::Instant::now();
    let sub2 = booted
        .subscribe_with("svc", SubscribeOptions::default().startup_timeout(Duration::from_millis(300)))
        .await
        .expect("subscribe while ZooKeeper is down");
    assert!(started.elapsed() < Duration::from_secs(5), "does not wait for ZooKeeper");
    let set = sub2.current();
    assert_eq!(set.source(), ProviderSource::DiskSnapshot);
    assert!(set.is_stale());
    assert_eq!(set.len(), 4);
    assert!(sub2.select().is_some(), "serves the snapshot");

    // ZooKeeper answers: its list replaces the snapshot.
    zk.restart().await.expect("restart");
    let set =
        sub2.wait_for(WAIT, |s| s.source() == ProviderSource::ZooKeeper).await.expect("fresh from ZooKeeper");
    assert!(!set.is_stale());
    assert_eq!(set.len(), 4);
}

#[tokio::test]
async fn a_corrupt_snapshot_is_reported_and_ignored() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let connect = zk.connect_string();
    zk.stop().await.expect("stop");
    let snapshots = tempfile::tempdir().expect("tempdir");
    let file = zkmesh_registry::snapshot_path(
        snapshots.path(),
        &zkmesh_registry::Environment::of(&connect).expect("env"),
        "svc",
    );
    std::fs::create_dir_all(file.parent().expect("parent")).expect("dir");
    std::fs::write(file, b"# zkmesh provider snapshot v2\nservice=svc\n").expect("write");
    let booted =
        Registry::builder().snapshot_dir(snapshots.path()).connect_lazy(&connect).expect("lazy registry");
    let sub = booted
        .subscribe_with(
            "svc",
            SubscribeOptions::default().startup_timeout(Duration::from_millis(200)).register_consumer(false),
        )
        .await
        .expect("subscribe still works");
    assert!(
        matches!(sub.snapshot_error(), Some(zkmesh_registry::Error::CorruptSnapshot { .. })),
        "{:?}",
        sub.snapshot_error()
    );
    assert!(sub.current().is_empty());
    assert_eq!(sub.current().source(), ProviderSource::Empty);
}

#[tokio::test]
async fn environments_sharing_a_snapshot_dir_never_boot_from_each_other() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let (prod, staging) =
        (format!("{}/prod", zk.connect_string()), format!("{}/staging", zk.connect_string()));
    let snapshots = tempfile::tempdir().expect("tempdir");
    let provider = Registry::builder().connect(&prod).await.expect("prod provider");
    let _p = provider.register(&url("http://10.9.0.1:80/db")).await.expect("register");
    let consumer =
        Registry::builder().snapshot_dir(snapshots.path()).connect(&prod).await.expect("prod consumer");
    let sub = consumer.subscribe("db").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("seen");
    let prod_env = zkmesh_registry::Environment::of(&prod).expect("env");
    eventually(WAIT, "prod's snapshot is written", || async {
        zkmesh_registry::load_snapshot(snapshots.path(), &prod_env, "db")
            .ok()
            .flatten()
            .is_some_and(|s| s.nodes.len() == 1)
    })
    .await;

    zk.stop().await.expect("stop");
    let booted =
        Registry::builder().snapshot_dir(snapshots.path()).connect_lazy(&staging).expect("lazy staging");
    let staged = booted
        .subscribe_with(
            "db",
            SubscribeOptions::default().startup_timeout(Duration::from_millis(300)).register_consumer(false),
        )
        .await
        .expect("subscribe while ZooKeeper is down");
    assert_eq!(staged.current().len(), 0, "staging must not boot from prod's providers");
    assert_eq!(staged.current().source(), ProviderSource::Empty);
    assert!(staged.select().is_none());
}

#[tokio::test]
async fn a_list_emptied_gracefully_is_saved_empty_so_a_cold_boot_serves_nobody() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let connect = zk.connect_string();
    let snapshots = tempfile::tempdir().expect("tempdir");
    let env = zkmesh_registry::Environment::of(&connect).expect("env");
    let provider = Registry::builder().connect(&connect).await.expect("provider");
    let registration = provider.register(&url("http://10.9.0.2:80/gone")).await.expect("register");
    let consumer =
        Registry::builder().snapshot_dir(snapshots.path()).connect(&connect).await.expect("consumer");
    let sub = consumer.subscribe("gone").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("seen");

    registration.deregister().await.expect("deregister");
    eventually(WAIT, "the snapshot records the empty list", || async {
        zkmesh_registry::load_snapshot(snapshots.path(), &env, "gone")
            .ok()
            .flatten()
            .is_some_and(|s| s.nodes.is_empty())
    })
    .await;
    assert_eq!(sub.current().len(), 1, "empty protection still serves the last provider in memory");
    assert!(sub.current().is_empty_protected());

    zk.stop().await.expect("stop");
    let booted = Registry::builder().snapshot_dir(snapshots.path()).connect_lazy(&connect).expect("lazy");
    let cold = booted
        .subscribe_with(
            "gone",
            SubscribeOptions::default().startup_timeout(Duration::from_millis(300)).register_consumer(false),
        )
        .await
        .expect("subscribe while ZooKeeper is down");
    assert_eq!(cold.current().len(), 0, "a departed provider is not served after a cold boot");
}

#[tokio::test]
async fn a_provider_disabled_by_rules_stays_out_after_a_boot_from_disk() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let connect = zk.connect_string();
    let snapshots = tempfile::tempdir().expect("tempdir");
    let env = zkmesh_registry::Environment::of(&connect).expect("env");
    let provider = Registry::builder().connect(&connect).await.expect("provider");
    let _a = provider.register(&url("http://10.8.0.1:80/ruled")).await.expect("register");
    let _b = provider.register(&url("http://10.8.0.2:80/ruled")).await.expect("register");
    let consumer =
        Registry::builder().snapshot_dir(snapshots.path()).connect(&connect).await.expect("consumer");
    let sub = consumer.subscribe("ruled").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 2).await.expect("both seen");

    // Another client disables one provider with a plain create (no `zkmesh rules put`).
    let text = "# out for the kernel patch\n[[override]]\naddress = \"10.8.0.1:80\"\ndisabled = true\n";
    let raw = local_zk::support::raw(&connect).await;
    let options = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.create("/services/ruled/rules", text.as_bytes(), &options).await.expect("create rules");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("the disabled provider out");
    eventually(WAIT, "the snapshot holds the rules document", || async {
        zkmesh_registry::load_snapshot(snapshots.path(), &env, "ruled")
            .ok()
            .flatten()
            .and_then(|s| s.rules)
            .is_some_and(|r| r.text == text && r.version == 0)
    })
    .await;

    zk.stop().await.expect("stop");
    let booted = Registry::builder().snapshot_dir(snapshots.path()).connect_lazy(&connect).expect("lazy");
    let cold = booted
        .subscribe_with(
            "ruled",
            SubscribeOptions::default().startup_timeout(Duration::from_millis(300)).register_consumer(false),
        )
        .await
        .expect("subscribe while ZooKeeper is down");
    let set = cold.current();
    assert_eq!(set.source(), ProviderSource::DiskSnapshot);
    assert_eq!(addresses(&set), ["10.8.0.2:80"], "the disabled provider stays out after a boot from disk");
    assert_eq!(cold.rules_version(), Some(0), "the rules of the snapshot are in force");
    assert_eq!(set.candidates().len(), 2, "both saved providers are candidates; the rules took one out");
    for _ in 0..50 {
        let picked = cold.select().expect("a provider");
        assert_eq!(picked.address(), "10.8.0.2:80");
    }

    // Once ZooKeeper answers, what it says wins: the rules node deleted meanwhile means no rules.
    zk.restart().await.expect("restart");
    raw_delete(&connect, "/services/ruled/rules").await;
    cold.wait_for(WAIT, |s| s.source() == ProviderSource::ZooKeeper && s.len() == 2)
        .await
        .expect("ZooKeeper's answer (no rules) replaces the snapshot's rules");
    assert_eq!(cold.rules_version(), None);
}

async fn raw_delete(connect: &str, path: &str) {
    let raw = local_zk::support::raw(connect).await;
    raw.delete(path, None).await.expect("delete the rules node");
}
