//! The config center against a real ZooKeeper (one per test binary, a chroot per test):
//! watchers, refused documents, compare-and-set, history and rollback, session expiry, absent
//! nodes, layering, size and name limits.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde::{Deserialize, Serialize};
use zkmesh_config::{ConfigCenter, Error, Expect, Layer, Source};
use zookeeper_client::{Acls, CreateMode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
struct Db {
    host: String,
    port: u16,
    pool: Pool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
struct Pool {
    min: u32,
    max: u32,
}

fn db(n: u16) -> Db {
    Db { host: format!("db-{n}"), port: 5000 + n, pool: Pool { min: 1, max: u32::from(n) + 1 } }
}

fn pool_in_order(db: &Db) -> Result<(), String> {
    if db.pool.min > db.pool.max {
        return Err(format!("pool.min {} > pool.max {}", db.pool.min, db.pool.max));
    }
    Ok(())
}

/// Runs `f` with a bound, failing the test when it takes longer.
async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.unwrap_or_else(|_| panic!("not within {WAIT:?}: {what}"))
}

#[tokio::test]
async fn a_publish_reaches_ten_watchers_on_separate_sessions() {
    let connect = chroot("ten");
    let publisher = center(&connect).await;
    let first = publisher.publish("shop", "db", &db(1), Expect::Absent).await.expect("publish");
    assert_eq!((first.path.as_str(), first.version, first.previous), ("/config/shop/db", 0, None));

    let mut watchers = Vec::new();
    for _ in 0..10 {
        let center = center(&connect).await;
        watchers.push(center.watch::<Db>("shop", "db").await.expect("watch"));
    }
    for w in &watchers {
        assert_eq!(*w.load(), db(1));
        assert_eq!((w.version(), w.source(), w.is_stale()), (Some(0), Source::ZooKeeper, false));
    }

    let second = publisher.publish("shop", "db", &db(2), Expect::Version(0)).await.expect("publish");
    assert_eq!((second.version, second.previous), (1, Some(0)));
    for w in &mut watchers {
        let value = within("the watcher wakes", w.changed()).await.expect("changed");
        assert_eq!(*value, db(2));
        assert_eq!(*w.load(), db(2));
        assert_eq!(w.version(), Some(1));
        assert!(w.last_error().is_none());
    }
}

#[tokio::test]
async fn a_bad_document_leaves_every_watcher_on_the_last_good_value() {
    let connect = chroot("badtoml");
    let center = center(&connect).await;
    center.publish("shop", "db", &db(1), Expect::Absent).await.expect("publish");
    let mut watchers = Vec::new();
    for _ in 0..3 {
        watchers.push(common::center(&connect).await.watch::<Db>("shop", "db").await.expect("watch"));
    }

    let first_accepted: Vec<_> = watchers.iter().map(|w| w.status().accepted_at).collect();

    // A writer that does not check (another language, a hand edit) writes broken TOML.
    let raw = raw(&connect).await;
    let broken = "host = \"h\"\nport = 1\n[pool\nmin = 1\n";
    raw.set_data("/config/shop/db", broken.as_bytes(), Some(0)).await.expect("set_data");
    for w in &mut watchers {
        w.wait_for(WAIT, |_, s| s.error.is_some()).await.expect("refused");
        match w.last_error().expect("error") {
            Error::ConfigParse { path, version, line, column, message } => {
                assert_eq!((path.as_str(), version), ("/config/shop/db", Some(1)));
                assert_eq!((line, column), (Some(3), Some(6)), "{message}");
            }
            other => panic!("expected ConfigParse, got {other:?}"),
        }
        assert_eq!(*w.load(), db(1), "the last good value stays");
        assert_eq!(w.version(), Some(0));
    }

    // Valid TOML of the wrong type: refused too, pointing at the value.
    raw.set_data("/config/shop/db", b"host = \"h\"\nport = \"high\"\n", Some(1)).await.expect("set_data");
    for w in &mut watchers {
        let value = w
            .wait_for(WAIT, |_, s| matches!(&s.error, Some(Error::ConfigParse { version: Some(2), .. })))
            .await
            .expect("refused");
        assert_eq!(*value, db(1));
        let error = w.last_error().expect("error");
        assert!(
            matches!(&error, Error::ConfigParse { line: Some(2), column: Some(8), message, .. } if message.contains("port")),
            "{error:?}"
        );
        assert!(error.to_string().contains("/config/shop/db (version 2) at line 2, column 8"), "{error}");
    }

    // The checked publish refuses the same text before writing anything.
    let err = center.publish_toml("shop", "db", broken, Expect::Any).await.expect_err("not TOML");
    assert!(matches!(err, Error::ConfigParse { version: None, line: Some(3), .. }), "{err:?}");
    let (_, stat) = raw.get_data("/config/shop/db").await.expect("get");
    assert_eq!(stat.version, 2, "nothing written");

    // Refusals left the time of the value in use alone.
    for (w, first) in watchers.iter().zip(&first_accepted) {
        assert_eq!(w.status().accepted_at, *first, "nothing was swapped in");
    }

    // A good document clears the error, and is timed from its swap.
    let before = std::time::Instant::now();
    center.publish("shop", "db", &db(3), Expect::Version(2)).await.expect("publish");
    for w in &mut watchers {
        let value = w.wait_for(WAIT, |_, s| s.version == Some(3)).await.expect("accepted");
        assert_eq!(*value, db(3));
        assert!(w.last_error().is_none(), "cleared");
        let at = w.status().accepted_at;
        assert!(before < at && at <= std::time::Instant::now(), "accepted_at is the swap's time");
    }
}

#[tokio::test]
async fn a_validator_refusal_keeps_the_last_good_value_and_stops_publishers() {
    let connect = chroot("validator");
    let center = center(&connect).await;
    let spec = center.config::<Db>("shop", "db").expect("spec").validator(pool_in_order);
    spec.publish(&db(1), Expect::Absent).await.expect("publish");
    spec.publish(&db(2), Expect::Version(0)).await.expect("publish");
    let mut watchers = Vec::new();
    for _ in 0..3 {
        let c = common::center(&connect).await;
        watchers.push(
            c.config::<Db>("shop", "db")
                .expect("spec")
                .validator(pool_in_order)
                .watch()
                .await
                .expect("watch"),
        );
    }

    // A writer that does not check writes a document the validator refuses.
    let inverted = Db { pool: Pool { min: 9, max: 2 }, ..db(3) };
    let raw = raw(&connect).await;
    let text = toml::to_string(&inverted).expect("toml");
    raw.set_data("/config/shop/db", text.as_bytes(), Some(1)).await.expect("set_data");
    for w in &mut watchers {
        let value = w.wait_for(WAIT, |_, s| s.error.is_some()).await.expect("refused");
        assert_eq!(*value, db(2), "the last good value stays");
        assert_eq!(w.version(), Some(1));
        let error = w.last_error().expect("error");
        assert!(
            matches!(&error, Error::Validation { path, version: Some(2), reason, layer: zkmesh_config::Layer::Document }
                if path == "/config/shop/db" && reason == "pool.min 9 > pool.max 2"),
            "{error:?}"
        );
    }

    // A publisher with the same validator cannot push it, nor roll back to it.
    let err = spec.publish(&inverted, Expect::Any).await.expect_err("refused");
    assert!(matches!(&err, Error::Validation { version: None, .. }), "{err:?}");
    let (_, stat) = raw.get_data("/config/shop/db").await.expect("get");
    assert_eq!(stat.version, 2, "nothing written");

    let rolled = spec.rollback(0, Expect::Version(2)).await.expect("rolling back to a good version");
    assert_eq!(rolled.version, 3);
    for w in &mut watchers {
        let value = w.wait_for(WAIT, |_, s| s.version == Some(3)).await.expect("rolled back");
        assert_eq!(*value, db(1));
        assert!(w.last_error().is_none());
    }
    let err = spec.rollback(2, Expect::Any).await.expect_err("the refused document is in the history");
    assert!(matches!(&err, Error::Validation { .. }), "{err:?}");
    assert_eq!(center.current("shop", "db").await.expect("read").map(|(_, v)| v), Some(3), "nothing written");
}

#[tokio::test]
async fn compare_and_set_conflicts_name_both_versions() {
    let connect = chroot("cas");
    let center = center(&connect).await;
    center.publish("shop", "db", &db(1), Expect::Absent).await.expect("create");

    let conflict = |r: zkmesh_config::Result<zkmesh_config::Published>| match r {
        Err(Error::VersionConflict { path, expected, actual }) => {
            assert_eq!(path, "/config/shop/db");
            (expected, actual)
        }
        other => panic!("expected a conflict, got {other:?}"),
    };
    assert_eq!(
        conflict(center.publish("shop", "db", &db(2), Expect::Absent).await),
        (Expect::Absent, Some(0))
    );
    assert_eq!(
        conflict(center.publish("shop", "db", &db(2), Expect::Version(5)).await),
        (Expect::Version(5), Some(0))
    );
    let err = center.publish("shop", "db", &db(2), Expect::Version(5)).await.expect_err("conflict");
    assert_eq!(err.to_string(), "version conflict on /config/shop/db: expected version 5, found version 0");
    center.publish("shop", "db", &db(2), Expect::Version(0)).await.expect("right version");
    assert_eq!(
        conflict(center.publish("shop", "db", &db(3), Expect::Version(0)).await),
        (Expect::Version(0), Some(1))
    );
    match center.publish("shop", "nothing", &db(3), Expect::Version(0)).await {
        Err(Error::VersionConflict { expected: Expect::Version(0), actual: None, .. }) => {}
        other => panic!("expected a conflict on a missing node, got {other:?}"),
    }

    // Two publishers race on the same version: exactly one wins.
    let other = common::center(&connect).await;
    let (four, five) = (db(4), db(5));
    let (a, b) = tokio::join!(
        center.publish("shop", "db", &four, Expect::Version(1)),
        other.publish("shop", "db", &five, Expect::Version(1)),
    );
    let (won, lost) = match (a, b) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("exactly one must win: {other:?}"),
    };
    assert_eq!(won.version, 2);
    assert!(matches!(lost, Error::VersionConflict { actual: Some(2), .. }), "{lost:?}");
    let (_, version) = center.current("shop", "db").await.expect("read").expect("exists");
    assert_eq!(version, 2);
}

#[tokio::test]
async fn history_and_rollback_round_trip() {
    let connect = chroot("history");
    let center = center(&connect).await;
    let docs = [
        "# zero\nhost = \"a\"\nport = 1\n[pool]\nmin = 1\nmax = 1\n",
        "# one\nhost = \"b\"\nport = 2\n[pool]\nmin = 1\nmax = 2\n",
        "# two\nhost = \"c\"\nport = 3\n[pool]\nmin = 1\nmax = 3\n",
    ];
    for (v, doc) in docs.iter().enumerate() {
        let expected = if v == 0 { Expect::Absent } else { Expect::Version(v as i32 - 1) };
        let published = center.publish_toml("shop", "db", doc, expected).await.expect("publish");
        assert_eq!(published.version, v as i32);
    }
    let mut config = common::center(&connect).await.watch::<Db>("shop", "db").await.expect("watch");
    assert_eq!(config.load().host, "c");

    let history = center.history("shop", "db").await.expect("history");
    let listed: Vec<(i32, usize)> = history.iter().map(|e| (e.version, e.size)).collect();
    assert_eq!(listed, [(1, docs[1].len()), (0, docs[0].len())], "newest first, the documents replaced");
    assert_eq!(history[0].path, "/config/shop/db/history/v-0000000001");
    assert!(history[0].replaced_at >= history[1].replaced_at);
    assert_eq!(center.history_document("shop", "db", 0).await.expect("read"), docs[0], "byte for byte");

    let rolled = center.rollback("shop", "db", 0, Expect::Version(2)).await.expect("rollback");
    assert_eq!((rolled.version, rolled.previous), (3, Some(2)));
    assert_eq!(center.current("shop", "db").await.expect("read"), Some((docs[0].to_owned(), 3)));
    let value = config.wait_for(WAIT, |_, s| s.version == Some(3)).await.expect("rolled back");
    assert_eq!(value.host, "a");
    let versions: Vec<i32> =
        center.history("shop", "db").await.expect("history").iter().map(|e| e.version).collect();
    assert_eq!(versions, [2, 1, 0]);
    assert_eq!(center.history_document("shop", "db", 2).await.expect("read"), docs[2]);

    let err = center.rollback("shop", "db", 1, Expect::Version(2)).await.expect_err("stale");
    assert!(matches!(err, Error::VersionConflict { actual: Some(3), .. }), "{err:?}");
    let err = center.rollback("shop", "db", 42, Expect::Any).await.expect_err("not in history");
    assert!(matches!(err, Error::NoSuchVersion { version: 42, .. }), "{err:?}");
}

#[tokio::test]
async fn history_is_bounded() {
    let connect = chroot("bounded");
    let center = ConfigCenter::builder().history_limit(3).build(session(&connect).await).expect("center");
    for n in 0..8 {
        center.publish("shop", "db", &db(n), Expect::Any).await.expect("publish");
    }
    let versions: Vec<i32> =
        center.history("shop", "db").await.expect("history").iter().map(|e| e.version).collect();
    assert_eq!(versions, [6, 5, 4]);
    let raw = raw(&connect).await;
    let mut children = raw.list_children("/config/shop/db/history").await.expect("children");
    children.sort();
    assert_eq!(
        children,
        ["v-0000000004", "v-0000000005", "v-0000000006", "v-0000000007"],
        "three replaced documents and the current one"
    );
    let doc = center.history_document("shop", "db", 6).await.expect("read");
    assert_eq!(toml::from_str::<Db>(&doc).expect("parse"), db(6));
}

#[tokio::test]
async fn without_history_a_publish_keeps_the_same_checks() {
    let connect = chroot("nohistory");
    let center = ConfigCenter::builder().history_limit(0).build(session(&connect).await).expect("center");
    let watcher = common::center(&connect).await;
    let mut config =
        watcher.config::<Db>("shop", "db").expect("spec").defaults(db(0)).watch().await.expect("watch");
    assert_eq!(*config.load(), db(0));
    let first = center.publish("shop", "db", &db(1), Expect::Absent).await.expect("create");
    assert_eq!((first.version, first.previous), (0, None));
    let second = center.publish("shop", "db", &db(2), Expect::Version(0)).await.expect("cas");
    assert_eq!((second.version, second.previous), (1, Some(0)));
    let third = center.publish("shop", "db", &db(3), Expect::Any).await.expect("any");
    assert_eq!((third.version, third.previous), (2, Some(1)));
    let value = config.wait_for(WAIT, |_, s| s.version == Some(2)).await.expect("seen");
    assert_eq!(*value, db(3));

    let conflict = |r: zkmesh_config::Result<zkmesh_config::Published>| match r {
        Err(Error::VersionConflict { expected, actual, .. }) => (expected, actual),
        other => panic!("expected a conflict, got {other:?}"),
    };
    assert_eq!(
        conflict(center.publish("shop", "db", &db(4), Expect::Version(0)).await),
        (Expect::Version(0), Some(2))
    );
    assert_eq!(
        conflict(center.publish("shop", "db", &db(4), Expect::Absent).await),
        (Expect::Absent, Some(2))
    );
    assert_eq!(
        conflict(center.publish("shop", "none", &db(4), Expect::Version(0)).await),
        (Expect::Version(0), None)
    );
    let created =
        center.publish("other", "db", &db(5), Expect::Any).await.expect("creates the namespace too");
    assert_eq!(created.version, 0);
    let raw = raw(&connect).await;
    assert!(raw.check_stat("/config/shop/db/history").await.expect("stat").is_none(), "no history kept");
    assert!(center.history("shop", "db").await.expect("history").is_empty());
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Counter {
    n: u32,
}

#[tokio::test]
async fn session_expiry_in_the_middle_of_updates_loses_no_final_value() {
    let connect = chroot("expiry");
    let publisher = center(&connect).await;
    publisher.publish("app", "counter", &Counter { n: 0 }, Expect::Absent).await.expect("create");
    let mut watchers = Vec::new();
    for _ in 0..3 {
        let center = common::center(&connect).await;
        let config = center.watch::<Counter>("app", "counter").await.expect("watch");
        watchers.push((center, config));
    }

    // The publisher runs until the expiries are done and 20 more updates are out.
    let expired = Arc::new(AtomicBool::new(false));
    let publishing = tokio::spawn({
        let expired = expired.clone();
        async move {
            let (mut n, mut after) = (0u32, 0);
            while after < 20 {
                n += 1;
                let deadline = tokio::time::Instant::now() + WAIT;
                let published = loop {
                    match publisher.publish("app", "counter", &Counter { n }, Expect::Any).await {
                        Ok(p) => break p,
                        Err(e) if e.is_retryable() && tokio::time::Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => panic!("publish {n}: {e}"),
                    }
                };
                if expired.load(Ordering::SeqCst) {
                    after += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                if after == 20 {
                    return (n, published.version);
                }
            }
            unreachable!("the loop returns")
        }
    });

    for (center, config) in &mut watchers {
        config.wait_for(WAIT, |v, _| v.n >= 5).await.expect("updates flow");
        let info = center.session().session_info().expect("live session");
        local_zk::expire_session(&connect, &info).await.expect("expire");
    }
    expired.store(true, Ordering::SeqCst);
    let (last, version) = within("the publisher", publishing).await.expect("publisher task");

    for (center, config) in &mut watchers {
        let value = config
            .wait_for(WAIT, |v, s| v.n == last && s.version == Some(version))
            .await
            .expect("final value");
        assert_eq!(*value, Counter { n: last });
        assert!(center.session().generation() >= 2, "the session was really replaced");
        assert!(config.last_error().is_none());
    }
}

#[tokio::test]
async fn an_absent_node_serves_defaults_until_it_is_created() {
    let connect = chroot("absent");
    let center = center(&connect).await;
    let defaults = Db { host: "localhost".into(), port: 5432, pool: Pool { min: 1, max: 4 } };
    // Reverting to the defaults on deletion is the opt-out (see the next test for the default).
    let spec =
        center.config::<Db>("shop", "db").expect("spec").defaults(defaults.clone()).keep_when_deleted(false);
    let mut config = spec.watch().await.expect("watch");
    assert_eq!(*config.load(), defaults);
    assert_eq!((config.version(), config.source(), config.is_stale()), (None, Source::Defaults, false));

    // Without defaults, a type with required fields has no value to serve.
    let err = center.watch::<Db>("shop", "db").await.expect_err("nothing to serve");
    assert!(
        matches!(&err, Error::ConfigParse { version: None, message, .. } if message.contains("missing field")),
        "{err:?}"
    );

    let other = common::center(&connect).await;
    other.publish_toml("shop", "db", "port = 7000\n", Expect::Absent).await.expect("create");
    let value = within("the creation", config.changed()).await.expect("changed");
    assert_eq!(*value, Db { port: 7000, ..defaults.clone() }, "the document over the defaults");
    assert_eq!((config.version(), config.source()), (Some(0), Source::ZooKeeper));

    // Deleted (with its history and status nodes): back to the defaults.
    assert!(other.delete("shop", "db").await.expect("delete"), "there was a document");
    let value = within("the deletion", config.changed()).await.expect("changed");
    assert_eq!(*value, defaults);
    assert_eq!((config.version(), config.source()), (None, Source::Defaults));
    assert!(!other.delete("shop", "db").await.expect("delete"), "nothing left to delete");
    // The watcher's status node did not bring the document back; it comes back with it.
    other.publish_toml("shop", "db", "port = 7001\n", Expect::Absent).await.expect("created again");
    let statuses = other.wait_for_version("shop", "db", 0, WAIT).await.expect("the status is back");
    assert_eq!(statuses.len(), 1, "{statuses:?}");
}

#[tokio::test]
async fn layers_apply_in_order_file_defaults_then_zookeeper_then_environment() {
    let connect = chroot("layers");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("db.toml");
    std::fs::write(&file, "host = \"file-host\"\nport = 1111\n[pool]\nmin = 1\nmax = 2\n").expect("write");
    // Unique to this test; nothing else reads it.
    std::env::set_var("CC_LAYERS_TEST__POOL__MAX", "99");
    std::env::set_var("CC_LAYERS_TEST__HOST", "env-host");

    let center = center(&connect).await;
    center
        .publish_toml("shop", "db", "host = \"zk-host\"\nport = 2222\n", Expect::Absent)
        .await
        .expect("publish");
    let spec =
        center.config::<Db>("shop", "db").expect("spec").defaults_file(&file).env_prefix("CC_LAYERS_TEST");
    let mut config = spec.watch().await.expect("watch");
    let want = Db { host: "env-host".into(), port: 2222, pool: Pool { min: 1, max: 99 } };
    assert_eq!(
        *config.load(),
        want,
        "min from the file, port from ZooKeeper, host and max from the environment"
    );

    center
        .publish_toml("shop", "db", "port = 3333\n[pool]\nmin = 5\nmax = 30\n", Expect::Version(0))
        .await
        .expect("publish");
    let value = config.wait_for(WAIT, |_, s| s.version == Some(1)).await.expect("update");
    assert_eq!(*value, Db { host: "env-host".into(), port: 3333, pool: Pool { min: 5, max: 99 } });

    // Without the environment layer (a publisher's check), the document sits on the file.
    let checked = spec.check("port = 4444\n").await.expect("check");
    assert_eq!(checked, Db { host: "file-host".into(), port: 4444, pool: Pool { min: 1, max: 2 } });
}

#[tokio::test]
async fn an_oversized_document_is_refused_before_any_write() {
    let connect = chroot("size");
    let raw = raw(&connect).await;
    let small =
        ConfigCenter::builder().max_document_size(1000).build(session(&connect).await).expect("center");
    let doc = format!("blob = \"{}\"\n", "x".repeat(2000));
    let err = small.publish_toml("shop", "big", &doc, Expect::Any).await.expect_err("too large");
    assert!(
        matches!(&err, Error::TooLarge { path, size, limit: 1000 } if path == "/config/shop/big" && *size == doc.len()),
        "{err:?}"
    );
    assert!(raw.check_stat("/config").await.expect("stat").is_none(), "nothing written, not even a parent");

    let center = center(&connect).await;
    let huge = format!("blob = \"{}\"\n", "x".repeat(1_000_000));
    let err = center.publish_toml("shop", "big", &huge, Expect::Any).await.expect_err("over the default");
    assert!(matches!(err, Error::TooLarge { limit: 1_000_000, .. }), "{err:?}");
    assert!(raw.check_stat("/config").await.expect("stat").is_none(), "nothing written");

    // Two documents just under the limit: too large for one request together, published anyway
    // with the replaced one in the history.
    let first = format!("blob = \"{}\"\n", "a".repeat(990_000));
    let second = format!("blob = \"{}\"\n", "b".repeat(990_000));
    center.publish_toml("shop", "big", &first, Expect::Absent).await.expect("first");
    let published = center.publish_toml("shop", "big", &second, Expect::Version(0)).await.expect("second");
    assert_eq!(published.version, 1);
    assert_eq!(center.current("shop", "big").await.expect("read").map(|(_, v)| v), Some(1));
    assert_eq!(center.history_document("shop", "big", 0).await.expect("history"), first);
    let err = center.publish_toml("shop", "big", &first, Expect::Version(0)).await.expect_err("stale");
    assert!(matches!(err, Error::VersionConflict { actual: Some(1), .. }), "{err:?}");
}

#[tokio::test]
async fn bad_names_are_refused_before_any_write() {
    let connect = chroot("names");
    let center = center(&connect).await;
    center.publish("shop-ok", "db", &db(1), Expect::Any).await.expect("a valid name");
    for (ns, name) in [("shop/eu", "db"), ("shop", ".."), ("", "db"), ("shop", "d b"), ("shop", "é")] {
        let err = center.publish(ns, name, &db(1), Expect::Any).await.expect_err("bad name");
        assert!(matches!(err, Error::InvalidName { .. }), "{ns:?}/{name:?}: {err:?}");
        let err = center.watch::<Db>(ns, name).await.expect_err("bad name");
        assert!(matches!(err, Error::InvalidName { .. }), "{ns:?}/{name:?}: {err:?}");
    }
    let raw = raw(&connect).await;
    let mut children = raw.list_children("/config").await.expect("children");
    children.sort();
    assert_eq!(children, ["shop-ok"], "only the valid name was written");
    let long = "x".repeat(256);
    let err = center.publish_toml("shop", &long, "", Expect::Any).await.expect_err("too long");
    assert!(matches!(err, Error::InvalidName { kind: "name", .. }), "{err:?}");
}

#[tokio::test]
async fn a_change_made_by_a_foreign_writer_with_a_raw_create_is_seen() {
    // The layout is the contract: a plain create of the node (as kazoo or Curator would do) is
    // read, and the next publish builds the history node by itself.
    let connect = chroot("foreign");
    let raw = raw(&connect).await;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    raw.mkdir("/config/shop", &persistent).await.expect("mkdir");
    raw.create("/config/shop/db", toml::to_string(&db(1)).expect("toml").as_bytes(), &persistent)
        .await
        .expect("create");
    let center = center(&connect).await;
    let mut config = center.watch::<Db>("shop", "db").await.expect("watch");
    assert_eq!(*config.load(), db(1));
    center.publish("shop", "db", &db(2), Expect::Version(0)).await.expect("publish");
    assert_eq!(*config.wait_for(WAIT, |_, s| s.version == Some(1)).await.expect("update"), db(2));
    let doc = center.history_document("shop", "db", 0).await.expect("archived");
    assert_eq!(toml::from_str::<Db>(&doc).expect("parse"), db(1));
}

#[tokio::test]
async fn every_history_entry_holds_its_version_whoever_wrote_in_between() {
    // The publisher remembers the version it wrote and writes the next one in one transaction;
    // writes by others in between (a raw set_data, a delete and re-create by another center up
    // to the same version) must not make it archive anything but the document of each version.
    let connect = chroot("interleaved");
    let raw = raw(&connect).await;
    let a = center(&connect).await;
    let b = common::center(&connect).await;
    let doc = |who: &str, n: i32| format!("who = \"{who}\"\nn = {n}\n");
    for n in 0..3 {
        a.publish_toml("shop", "db", &doc("a", n), Expect::Any).await.expect("publish");
    }
    // A client that keeps no history writes version 3.
    let stat = raw.set_data("/config/shop/db", doc("raw", 3).as_bytes(), Some(2)).await.expect("raw write");
    assert_eq!(stat.version, 3);
    let published = a.publish_toml("shop", "db", &doc("a", 4), Expect::Any).await.expect("publish");
    assert_eq!((published.version, published.previous), (4, Some(3)));
    for n in 0..=4 {
        let who = if n == 3 { "raw" } else { "a" };
        assert_eq!(a.history_document("shop", "db", n).await.expect("entry"), doc(who, n), "version {n}");
    }
    let err = a.publish_toml("shop", "db", &doc("a", 9), Expect::Version(3)).await.expect_err("stale");
    assert!(matches!(err, Error::VersionConflict { actual: Some(4), .. }), "{err:?}");

    // Deleted with its history, created again by another center and written up to version 4.
    for name in raw.list_children("/config/shop/db/history").await.expect("children") {
        raw.delete(&format!("/config/shop/db/history/{name}"), None).await.expect("delete entry");
    }
    raw.delete("/config/shop/db/history", None).await.expect("delete history");
    raw.delete("/config/shop/db", None).await.expect("delete");
    for n in 0..=4 {
        b.publish_toml("shop", "db", &doc("b", n), Expect::Any).await.expect("publish");
    }
    // `a` wrote version 4 last and still remembers it: same version, another incarnation.
    let published = a.publish_toml("shop", "db", &doc("a", 5), Expect::Version(4)).await.expect("publish");
    assert_eq!(published.version, 5);
    for n in 0..=5 {
        let who = if n == 5 { "a" } else { "b" };
        assert_eq!(a.history_document("shop", "db", n).await.expect("entry"), doc(who, n), "version {n}");
    }
    let listed: Vec<i32> =
        a.history("shop", "db").await.expect("history").iter().map(|e| e.version).collect();
    assert_eq!(listed, [4, 3, 2, 1, 0], "the documents replaced, newest first");
    assert_eq!(a.current("shop", "db").await.expect("read"), Some((doc("a", 5), 5)));
}

#[tokio::test]
async fn the_watch_follows_while_a_clone_lives_and_stops_with_the_last_one() {
    let connect = chroot("dropped");
    let center = center(&connect).await;
    center.publish("shop", "db", &db(1), Expect::Absent).await.expect("publish");
    let config = center.watch::<Db>("shop", "db").await.expect("watch");
    let mut clone = config.clone();
    drop(config);
    center.publish("shop", "db", &db(2), Expect::Any).await.expect("publish");
    assert_eq!(*clone.wait_for(WAIT, |_, s| s.version == Some(1)).await.expect("followed"), db(2));
    drop(clone);
    // Stopping is asynchronous (a task sees the last handle go): give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reads = center.session().reads_issued();
    let other = common::center(&connect).await;
    let mut witness = other.watch::<Db>("shop", "db").await.expect("watch");
    for n in 3..5 {
        other.publish("shop", "db", &db(n), Expect::Any).await.expect("publish");
        witness.wait_for(WAIT, |_, s| s.version == Some(i32::from(n) - 1)).await.expect("seen");
    }
    assert_eq!(center.session().reads_issued(), reads, "no read after the last handle was dropped");
}

#[tokio::test]
async fn a_refused_document_wakes_status_changed_and_not_changed() {
    let connect = chroot("status");
    let center = center(&connect).await;
    center.publish("shop", "db", &db(1), Expect::Absent).await.expect("publish");
    let mut config = common::center(&connect).await.watch::<Db>("shop", "db").await.expect("watch");
    let mut statuses = config.statuses();

    let raw = raw(&connect).await;
    raw.set_data("/config/shop/db", b"host = \"h\"\nport = \"high\"\n", Some(0)).await.expect("set_data");
    let status = within("the refusal", config.status_changed()).await.expect("status");
    assert!(matches!(&status.error, Some(Error::ConfigParse { version: Some(1), .. })), "{status:?}");
    assert_eq!((status.version, status.accepted), (Some(0), 1), "the last good value stays");
    within("the refusal, on the receiver", statuses.changed()).await.expect("statuses");
    assert!(statuses.borrow_and_update().error.is_some());
    assert_eq!(*config.load(), db(1));

    // changed() did not take the refusal for a value: it returns the next accepted one.
    center.publish("shop", "db", &db(2), Expect::Version(1)).await.expect("publish");
    let value = within("the next value", config.changed()).await.expect("changed");
    assert_eq!(*value, db(2));
    let status = within("the acceptance", config.status_changed()).await.expect("status");
    assert_eq!((status.version, status.accepted), (Some(2), 2));
    assert!(status.error.is_none(), "cleared by the accepted document");
}

/// Deletes `/config/shop/db` with its history and the watchers' status nodes, in one
/// transaction, as an operator (or a wipe) would.
async fn delete_document(raw: &zookeeper_client::Client) {
    for _ in 0..20 {
        let mut nodes = vec!["/config/shop/db".to_owned()];
        for dir in ["history", "status"] {
            let dir = format!("/config/shop/db/{dir}");
            if let Ok(children) = raw.list_children(&dir).await {
                nodes.push(dir.clone());
                nodes.extend(children.iter().map(|c| format!("{dir}/{c}")));
            }
        }
        let mut writer = raw.new_multi_writer();
        for node in nodes.iter().rev() {
            writer.add_delete(node, None).expect("delete op");
        }
        if writer.commit().await.is_ok() {
            return;
        }
    }
    panic!("/config/shop/db not deleted");
}

#[tokio::test]
async fn a_deleted_document_keeps_the_last_good_value_and_its_cache() {
    let connect = chroot("deleted");
    let dir = tempfile::tempdir().expect("tempdir");
    let center =
        ConfigCenter::builder().cache_dir(dir.path()).build(session(&connect).await).expect("center");
    let spec = center.config::<Db>("shop", "db").expect("spec").defaults(db(0));
    spec.publish(&db(1), Expect::Absent).await.expect("publish");
    spec.publish(&db(2), Expect::Version(0)).await.expect("publish");
    let mut config = spec.watch().await.expect("watch");
    assert_eq!(*config.load(), db(2));
    assert!(!config.status().absent);
    let file = center.cache_file("shop", "db").expect("name").expect("cache dir set");
    eventually(WAIT, "the cache file is written", || async { file.exists() }).await;

    let raw = raw(&connect).await;
    delete_document(&raw).await;
    let status = within("the deletion", config.status_changed()).await.expect("status");
    assert!(status.absent, "{status:?}");
    assert_eq!((status.version, status.source, status.accepted), (Some(1), Source::ZooKeeper, 1));
    assert_eq!(*config.load(), db(2), "the last good value stays");

    // A process starting now (ZooKeeper answers: no document) starts from the cache file.
    let restarted = spec.watch().await.expect("watch");
    assert_eq!(*restarted.load(), db(2), "the cache file was kept");
    let status = restarted.status();
    assert_eq!(
        (status.version, status.source, status.absent, status.stale),
        (Some(1), Source::Cache, true, false)
    );

    // Created again: read as usual, by both.
    let other = common::center(&connect).await;
    other.publish("shop", "db", &db(3), Expect::Absent).await.expect("create again");
    let value = within("the new document", config.changed()).await.expect("changed");
    assert_eq!(*value, db(3));
    let status = config.status();
    assert_eq!((status.version, status.source, status.absent), (Some(0), Source::ZooKeeper, false));
    let mut restarted = restarted;
    assert_eq!(*within("the new document", restarted.changed()).await.expect("changed"), db(3));
}

#[tokio::test]
async fn a_foreign_document_too_large_to_archive_is_replaced_and_the_history_says_so() {
    // A plain setData of a document ZooKeeper accepts but that cannot travel in a second request
    // with its history entry's path and a version check (ZooKeeper's jute.maxbuffer is 0xfffff =
    // 1,048,575 bytes by default; here a setData of up to about 1,048,530 bytes passes, and the
    // archive transaction of one over about 1,048,440 bytes makes the server drop the connection).
    let connect = chroot("huge");
    let center = center(&connect).await;
    center.publish_toml("shop", "db", "small = 0\n", Expect::Absent).await.expect("create");
    let raw = raw(&connect).await;
    let big = format!("blob = \"{}\"\n", "x".repeat(1_048_500 - 10));
    assert_eq!(big.len(), 1_048_500);
    raw.set_data("/config/shop/db", big.as_bytes(), Some(0)).await.expect("ZooKeeper takes it");

    let published =
        within("the publish", center.publish_toml("shop", "db", "small = 2\n", Expect::Version(1)))
            .await
            .expect("replaces the large document");
    assert_eq!((published.version, published.previous), (2, Some(1)));
    assert_eq!(center.current("shop", "db").await.expect("read"), Some(("small = 2\n".to_owned(), 2)));

    // The history says what happened to version 1.
    let history = center.history("shop", "db").await.expect("history");
    let listed: Vec<(i32, usize)> = history.iter().map(|e| (e.version, e.size)).collect();
    assert_eq!(listed, [(1, 1_048_500), (0, 10)], "newest first");
    let err = match center.history_document("shop", "db", 1).await {
        Err(e) => e,
        Ok(doc) => panic!("version 1 archived whole ({} bytes)", doc.len()),
    };
    assert!(matches!(&err, Error::NotArchived { version: 1, size: 1_048_500, .. }), "{err:?}");
    assert!(err.to_string().contains("1048500 bytes"), "{err}");
    let err = center
        .rollback("shop", "db", 1, Expect::Any)
        .await
        .map(|p| p.version)
        .expect_err("nothing to roll back to");
    assert!(matches!(&err, Error::NotArchived { .. }), "{err:?}");
    let (entry, _) = raw.get_data("/config/shop/db/history/v-0000000001").await.expect("entry");
    let entry = String::from_utf8(entry).expect("UTF-8");
    assert!(entry.starts_with("!zkmesh not archived\n"), "{entry}");
    assert_eq!(center.history_document("shop", "db", 0).await.expect("archived"), "small = 0\n");
    assert_eq!(
        center.current("shop", "db").await.expect("read").map(|(_, v)| v),
        Some(2),
        "nothing rolled back"
    );
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Greeting {
    message: String,
    #[serde(default)]
    level: u32,
}

#[tokio::test]
async fn a_key_the_type_does_not_have_is_refused_at_publish_and_on_watch() {
    let connect = chroot("unknown");
    let center = center(&connect).await;
    let hello = Greeting { message: "hello".into(), level: 1 };
    let spec = center.config::<Greeting>("app", "greeting").expect("spec").defaults(hello.clone());
    spec.publish_toml("message = \"hi\"\n", Expect::Absent).await.expect("publish");
    let mut config = spec.watch().await.expect("watch");
    let hi = Greeting { message: "hi".into(), level: 1 };
    assert_eq!(*config.load(), hi);

    // The publisher refuses a typo before writing.
    let typo = "message = \"hi\"\nmesage = \"typo\"\n";
    let err = spec.publish_toml(typo, Expect::Any).await.expect_err("unknown key");
    assert!(
        matches!(&err, Error::ConfigParse { version: None, line: Some(2), column: Some(1), message, .. }
            if message == "unknown field `mesage`, expected `message` or `level`"),
        "{err:?}"
    );
    assert_eq!(
        center.current("app", "greeting").await.expect("read").map(|(_, v)| v),
        Some(0),
        "nothing written"
    );

    // Watchers refuse it from a writer that does not check: the last good value stays.
    let raw = raw(&connect).await;
    raw.set_data("/config/app/greeting", b"mesage = \"typo\"\n", Some(0)).await.expect("set_data");
    let status = within("the refusal", config.status_changed()).await.expect("status");
    assert!(
        matches!(&status.error, Some(Error::ConfigParse { version: Some(1), line: Some(1), column: Some(1), message, .. })
            if message == "unknown field `mesage`, expected `message` or `level`"),
        "{status:?}"
    );
    assert_eq!(*config.load(), hi, "the last good value stays");

    // The opt-out, for a document several types read a part of.
    let shared = spec.clone().allow_unknown_keys(true).watch().await.expect("watch");
    assert_eq!(*shared.load(), hello, "the key is ignored: the defaults");
    assert!(shared.last_error().is_none());
    spec.clone().allow_unknown_keys(true).publish_toml(typo, Expect::Version(1)).await.expect("allowed");
}

#[tokio::test]
async fn environment_overrides_are_named_when_refused_or_ignored() {
    let connect = chroot("env");
    let center = center(&connect).await;
    let spec = center.config::<Db>("shop", "db").expect("spec").validator(pool_in_order);
    spec.publish(&db(1), Expect::Absent).await.expect("publish");

    // An override the validator refuses is blamed on its variable, not on the document.
    let vars = [("SHOP_DB__POOL__MIN", "9"), ("SHOP_DB__HOST", "env-host")];
    let err = spec.clone().env_vars("SHOP_DB", vars).watch().await.expect_err("refused");
    assert!(
        matches!(&err, Error::Validation { version: Some(0), layer: Layer::Environment { vars }, .. }
            if vars == &["SHOP_DB__POOL__MIN"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("$SHOP_DB__POOL__MIN"), "{err}");

    // One underscore: not an override; named, and the value stays the document's.
    let vars = [("SHOP_DB_PORT", "1"), ("SHOP_DB__HOST", "env-host")];
    let spec = spec.env_vars("SHOP_DB", vars);
    assert_eq!(spec.ignored_env_vars(), ["SHOP_DB_PORT"]);
    let config = spec.watch().await.expect("watch");
    assert_eq!(*config.load(), Db { host: "env-host".into(), ..db(1) });

    // A key the type does not have is refused as an unknown key, at the variable.
    let err = spec.env_vars("SHOP_DB", [("SHOP_DB__PROT", "1")]).watch().await.expect_err("unknown key");
    assert!(
        matches!(&err, Error::ConfigParse { path, message, .. }
            if path == "$SHOP_DB__PROT" && message.starts_with("unknown field `prot`")),
        "{err:?}"
    );
}
