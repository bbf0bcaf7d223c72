//! The local cache against a real ZooKeeper that is down at start (a server of its own per
//! test, stopped and restarted).

mod common;

use std::time::Duration;

use common::*;
use local_zk::LocalZooKeeper;
use registry::Session;
use serde::{Deserialize, Serialize};
use zkmesh_config::{ConfigCenter, Error, Expect, Source};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
struct Flags {
    name: String,
    level: u32,
}

fn flags(level: u32) -> Flags {
    Flags { name: format!("level-{level}"), level }
}

/// Publishes `flags(1)`, watches it until the cache file is written, and closes the session.
async fn seed_cache(connect: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let center = ConfigCenter::builder().cache_dir(dir).build(session(connect).await).expect("center");
    center.publish("app", "flags", &flags(1), Expect::Absent).await.expect("publish");
    let config = center.watch::<Flags>("app", "flags").await.expect("watch");
    assert_eq!(*config.load(), flags(1));
    let file = center.cache_file("app", "flags").expect("name").expect("cache dir set");
    eventually(WAIT, "the cache file is written", || async { file.exists() }).await;
    center.session().close().await;
    file
}

/// A config center on a session that keeps trying in the background, waiting 300 ms for
/// ZooKeeper at start.
fn lazy_center(connect: &str, dir: &std::path::Path) -> ConfigCenter {
    let session =
        Session::builder().session_timeout(Duration::from_secs(4)).connect_lazy(connect).expect("lazy");
    ConfigCenter::builder()
        .cache_dir(dir)
        .startup_timeout(Duration::from_millis(300))
        .build(session)
        .expect("center")
}

#[tokio::test]
async fn the_cache_serves_while_zookeeper_is_down_at_start_then_zookeeper_takes_over() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let connect = zk.connect_string();
    let dir = tempfile::tempdir().expect("tempdir");
    seed_cache(&connect, dir.path()).await;
    zk.stop().await.expect("stop");

    let center = lazy_center(&connect, dir.path());
    let mut config = center.watch::<Flags>("app", "flags").await.expect("served from the cache");
    assert_eq!(*config.load(), flags(1));
    assert_eq!((config.source(), config.version(), config.is_stale()), (Source::Cache, Some(0), true));

    zk.restart().await.expect("restart");
    let value = config.wait_for(WAIT, |_, s| !s.stale).await.expect("ZooKeeper answers");
    assert_eq!(*value, flags(1));
    assert_eq!((config.source(), config.version()), (Source::ZooKeeper, Some(0)));

    let publisher = ConfigCenter::builder().build(session(&connect).await).expect("center");
    publisher.publish("app", "flags", &flags(2), Expect::Version(0)).await.expect("publish");
    let value = config.wait_for(WAIT, |_, s| s.version == Some(1)).await.expect("new version");
    assert_eq!(*value, flags(2));
}

#[tokio::test]
async fn a_corrupt_cache_is_reported_and_ignored() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let connect = zk.connect_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = seed_cache(&connect, dir.path()).await;
    zk.stop().await.expect("stop");
    let text = std::fs::read_to_string(&file).expect("read cache");
    std::fs::write(&file, &text[..text.len() - 10]).expect("truncate the cache");

    let center = lazy_center(&connect, dir.path());
    // No defaults: nothing can be served.
    let err = center.watch::<Flags>("app", "flags").await.expect_err("no value");
    assert!(matches!(&err, Error::Unavailable { path, .. } if path == "/config/app/flags"), "{err:?}");

    // With defaults: the defaults, stale, and the cache error reported.
    let spec = center.config::<Flags>("app", "flags").expect("spec").defaults(flags(0));
    let mut config = spec.watch().await.expect("served from the defaults");
    assert_eq!(*config.load(), flags(0));
    assert_eq!((config.source(), config.version(), config.is_stale()), (Source::Defaults, None, true));
    let error = config.last_error().expect("the corrupt cache is reported");
    assert!(matches!(&error, Error::CorruptCache { file: f, .. } if *f == file), "{error:?}");

    zk.restart().await.expect("restart");
    let value = config.wait_for(WAIT, |_, s| !s.stale).await.expect("ZooKeeper answers");
    assert_eq!(*value, flags(1));
    assert_eq!((config.source(), config.version()), (Source::ZooKeeper, Some(0)));
    assert!(config.last_error().is_none(), "cleared by the accepted document");
    eventually(WAIT, "the cache is repaired", || async {
        std::fs::read_to_string(&file).map(|t| t == text).unwrap_or(false)
    })
    .await;
}

#[tokio::test]
async fn environments_sharing_a_cache_dir_never_read_each_others_documents() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let prod = format!("{}/prod", zk.connect_string());
    let staging = format!("{}/staging", zk.connect_string());
    let dir = tempfile::tempdir().expect("tempdir");
    let prod_file = seed_cache(&prod, dir.path()).await;
    zk.stop().await.expect("stop");

    // Staging boots while ZooKeeper is down, with the same cache directory.
    let center = lazy_center(&staging, dir.path());
    let staging_file = center.cache_file("app", "flags").expect("name").expect("cache dir set");
    assert_ne!(staging_file, prod_file, "a file per environment");
    let err = center.watch::<Flags>("app", "flags").await.expect_err("prod's document is not staging's");
    assert!(matches!(&err, Error::Unavailable { .. }), "{err:?}");
    let spec = center.config::<Flags>("app", "flags").expect("spec").defaults(flags(0));
    let config = spec.watch().await.expect("served from the defaults");
    assert_eq!(*config.load(), flags(0));
    assert_eq!((config.source(), config.is_stale()), (Source::Defaults, true));

    // Prod's file copied into staging's folder: refused, naming both environments.
    std::fs::create_dir_all(staging_file.parent().expect("dir")).expect("mkdir");
    std::fs::copy(&prod_file, &staging_file).expect("copy");
    let config = spec.watch().await.expect("served from the defaults");
    assert_eq!(*config.load(), flags(0));
    let error = config.last_error().expect("the foreign file is reported");
    assert!(
        matches!(&error, Error::ForeignCache { written_for, expected, .. }
            if written_for.ends_with("/prod") && expected.ends_with("/staging")),
        "{error:?}"
    );
}
