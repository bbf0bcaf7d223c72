//! Config rollout against a real ZooKeeper (one per test binary, a chroot per test): history
//! with authors, fleet status, canary publish.

mod common;

use common::*;
use std::time::Duration;

use config_center::{Error, Expect, PublishMeta, WatcherState};

// === History with authors ===

#[tokio::test]
async fn the_history_keeps_who_published_each_version_and_why() {
    let connect = chroot("authors");
    let center = center(&connect).await;
    let alice = PublishMeta::new().author("alice").message("first pool\nwith a second line");
    center.publish_toml_with("shop", "db", "pool = 4\n", Expect::Absent, &alice).await.expect("publish 0");
    // A client that records nothing, then a plain setData by a foreign client.
    center.publish_toml("shop", "db", "pool = 6\n", Expect::Version(0)).await.expect("publish 1");
    let raw = raw(&connect).await;
    raw.set_data("/config/shop/db", b"pool = 7\n", Some(1)).await.expect("foreign write");
    let bob = PublishMeta::new().author("bob");
    center.publish_toml_with("shop", "db", "pool = 8\n", Expect::Version(2), &bob).await.expect("publish 3");

    let revisions = center.revisions("shop", "db").await.expect("revisions");
    let seen: Vec<_> = revisions
        .iter()
        .map(|e| (e.version, e.current, e.author.as_deref(), e.message.as_deref(), e.size))
        .collect();
    assert_eq!(
        seen,
        [
            (3, true, Some("bob"), None, 9),
            (2, false, None, None, 9),
            (1, false, None, None, 9),
            (0, false, Some("alice"), Some("first pool\nwith a second line"), 9),
        ],
        "the current version first; versions written without authors show as unknown"
    );
    let history = center.history("shop", "db").await.expect("history");
    assert_eq!(history.iter().map(|e| e.version).collect::<Vec<_>>(), [2, 1, 0], "history() as before");

    // The entry stays a TOML document for any reader, and zkmesh reads the document back whole.
    let (entry, _) = raw.get_data("/config/shop/db/history/v-0000000000").await.expect("entry");
    let entry = String::from_utf8(entry).expect("utf-8");
    assert!(entry.starts_with("#zkmesh-meta {"), "{entry}");
    assert_eq!(entry.parse::<toml::Table>().expect("TOML").get("pool"), Some(&toml::Value::Integer(4)));
    assert_eq!(center.history_document("shop", "db", 0).await.expect("read"), "pool = 4\n");
    let (current, _) = raw.get_data("/config/shop/db").await.expect("document");
    assert_eq!(current, b"pool = 8\n", "the document node carries no metadata");

    // A rollback records who and, by default, what it restored; the document is the old one.
    let carol = PublishMeta::new().author("carol");
    let rolled = center.rollback_with("shop", "db", 0, Expect::Version(3), &carol).await.expect("rollback");
    assert_eq!(
        center.current("shop", "db").await.expect("read"),
        Some(("pool = 4\n".to_owned(), rolled.version))
    );
    let newest = &center.revisions("shop", "db").await.expect("revisions")[0];
    assert_eq!(
        (newest.version, newest.author.as_deref(), newest.message.as_deref()),
        (4, Some("carol"), Some("rollback to version 0"))
    );

    let err = center
        .publish_toml_with(
            "shop",
            "db",
            "pool = 9\n",
            Expect::Any,
            &PublishMeta::new().author("x".repeat(300)),
        )
        .await
        .expect_err("author too long");
    assert!(matches!(err, Error::InvalidMeta { field: "author", .. }), "{err:?}");
    assert_eq!(center.current("shop", "db").await.expect("read").map(|c| c.1), Some(4), "nothing written");
}

#[tokio::test]
async fn a_document_that_starts_like_the_metadata_line_comes_back_whole() {
    let connect = chroot("metalike");
    let center = center(&connect).await;
    let odd = "#zkmesh-meta { author = \"mallory\" }\npool = 1\n";
    center.publish_toml("shop", "db", odd, Expect::Absent).await.expect("publish");
    center.publish_toml("shop", "db", "pool = 2\n", Expect::Any).await.expect("publish");
    assert_eq!(center.history_document("shop", "db", 0).await.expect("read"), odd);
    let history = center.history("shop", "db").await.expect("history");
    assert_eq!(history[0].author, None, "the document's own first line is no metadata");
}

// === Fleet status ===

fn named(connect: &str, instance: &str) -> impl std::future::Future<Output = config_center::ConfigCenter> {
    let (connect, instance) = (connect.to_owned(), instance.to_owned());
    async move {
        config_center::ConfigCenter::builder()
            .instance(instance)
            .status_delay(Duration::from_millis(5))
            .build(session(&connect).await)
            .expect("center")
    }
}

#[tokio::test]
async fn every_watcher_reports_the_version_it_runs_and_what_it_refused() {
    init_logging();
    let connect = chroot("status");
    let publisher = center(&connect).await;
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    let mut watchers = Vec::new();
    for i in 0..3 {
        let center = named(&connect, &format!("w-{i}")).await;
        let config = center.watch::<toml::Table>("shop", "db").await.expect("watch");
        watchers.push((center, config));
    }
    eventually(WAIT, "three status nodes", || async {
        publisher.status("shop", "db").await.expect("status").len() == 3
    })
    .await;
    let statuses = publisher.wait_for_version("shop", "db", 0, WAIT).await.expect("all on 0");
    let names: Vec<_> = statuses.iter().map(|s| s.instance.as_str()).collect();
    assert_eq!(names, ["w-0", "w-1", "w-2"]);
    assert!(statuses.iter().all(|s| s.pid == std::process::id() && s.error.is_none()), "{statuses:?}");

    // A document nobody accepts: every status says so, with the error and what was refused.
    publisher.publish_toml("shop", "db", "pool = [1,\n", Expect::Any).await.expect_err("not TOML");
    let raw = raw(&connect).await;
    raw.set_data("/config/shop/db", b"pool = [1,\n", None).await.expect("foreign write");
    let err = publisher
        .wait_for_version("shop", "db", 1, Duration::from_secs(2))
        .await
        .expect_err("nobody runs version 1");
    let Error::WaitTimedOut { watchers: seen, .. } = &err else { panic!("{err:?}") };
    assert_eq!(seen.len(), 3, "{err}");
    for status in seen {
        assert_eq!((status.state, status.version), (WatcherState::Refused, Some(0)), "{status:?}");
        assert_eq!(status.refused.as_deref(), Some("version 1"));
        assert!(status.error.as_deref().is_some_and(|e| e.contains("line 1")), "{status:?}");
    }
    assert!(err.to_string().contains("w-1 refused version 0"), "{err}");

    // Fixed: everyone on the new version, their states since the fix.
    publisher.publish_toml("shop", "db", "pool = 2\n", Expect::Version(1)).await.expect("fix");
    let statuses = publisher.wait_for_version("shop", "db", 2, WAIT).await.expect("all on 2");
    assert!(statuses.iter().all(|s| s.error.is_none() && s.refused.is_none()), "{statuses:?}");

    // A watcher that stops takes its status node with it.
    let (_, config) = watchers.pop().expect("a watcher");
    drop(config);
    eventually(WAIT, "w-2's status node goes", || async {
        publisher.status("shop", "db").await.expect("status").len() == 2
    })
    .await;
}

#[tokio::test]
async fn status_nodes_come_back_after_session_expiry_with_the_current_state() {
    let connect = chroot("statusexpiry");
    let publisher = center(&connect).await;
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    let watcher = named(&connect, "survivor").await;
    let config = watcher.watch::<toml::Table>("shop", "db").await.expect("watch");
    publisher.wait_for_version("shop", "db", 0, WAIT).await.expect("on 0");
    // A newer state than the one the node was created with.
    publisher.publish_toml("shop", "db", "pool = 2\n", Expect::Any).await.expect("publish");
    publisher.wait_for_version("shop", "db", 1, WAIT).await.expect("on 1");

    let before = watcher.session().session_id().expect("session");
    let info = watcher.session().session_info().expect("live session");
    local_zk::expire_session(&connect, &info).await.expect("expire");
    let raw = raw(&connect).await;
    eventually(WAIT, "the status node is back, owned by the new session, saying version 1", || async {
        let Ok((data, stat)) = raw.get_data("/config/shop/db/status/survivor").await else { return false };
        let text = String::from_utf8_lossy(&data).into_owned();
        stat.ephemeral_owner != before
            && text.contains("version = 1")
            && text.contains("state = \"accepted\"")
    })
    .await;
    assert!(watcher.session().generation() >= 2, "the session was really replaced");
    assert_eq!(config.version(), Some(1));
}
