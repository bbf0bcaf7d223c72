//! Config rollout against a real ZooKeeper (one per test binary, a chroot per test): history
//! with authors, fleet status, canary publish.

mod common;

use common::*;
use config_center::{Error, Expect, PublishMeta};

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
