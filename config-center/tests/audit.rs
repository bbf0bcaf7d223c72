//! Audit against a real ZooKeeper: config and rules history entries record the identity the
//! publishing session authenticated as (digest users here), beside the free-text author; entries
//! written by a client that keeps no history show an unknown identity; secrets never appear.

mod common;

use std::time::Duration;

use common::*;
use registry::Session;
use zkmesh_config::{ConfigCenter, Expect, PublishMeta, RulesStore};

/// A session authenticated with digest `user:password`.
async fn as_user(connect: &str, user: &str, password: &str) -> Session {
    Session::builder()
        .session_timeout(Duration::from_secs(4))
        .auth("digest", format!("{user}:{password}").as_bytes())
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect as {user}: {e}"))
}

#[tokio::test]
async fn config_history_names_the_authenticated_identity_of_each_writer() {
    let connect = chroot("audit-config");
    let alice =
        ConfigCenter::builder().build(as_user(&connect, "alice", "alice-s3cret").await).expect("alice");
    let bob = ConfigCenter::builder().build(as_user(&connect, "bob", "bob-s3cret").await).expect("bob");
    let anonymous = center(&connect).await;
    alice.publish_toml("shop", "db", "pool = 4\n", Expect::Absent).await.expect("alice publishes");
    // The author is free text; the identity is not the caller's to say.
    let claims = PublishMeta::new().author("digest:alice").message("I am alice");
    bob.publish_toml_with("shop", "db", "pool = 6\n", Expect::Version(0), &claims)
        .await
        .expect("bob publishes");
    // A foreign client that keeps no history, then an anonymous zkmesh writer.
    let raw = raw(&connect).await;
    raw.set_data("/config/shop/db", b"pool = 7\n", Some(1)).await.expect("foreign write");
    anonymous
        .publish_toml("shop", "db", "pool = 8\n", Expect::Version(2))
        .await
        .expect("anonymous publishes");

    let revisions = alice.revisions("shop", "db").await.expect("revisions");
    let seen: Vec<_> =
        revisions.iter().map(|e| (e.version, e.identity.as_deref(), e.author.as_deref())).collect();
    assert_eq!(
        seen,
        [
            (3, Some("anonymous (no credentials)"), None),
            (2, None, None),
            (1, Some("digest:bob"), Some("digest:alice")),
            (0, Some("digest:alice"), None),
        ],
        "each writer's authenticated identity; the foreign write is unknown"
    );
    // The same through another session's history(), and no entry holds a password.
    let history = anonymous.history("shop", "db").await.expect("history");
    assert_eq!(
        history.iter().map(|e| e.identity.as_deref()).collect::<Vec<_>>(),
        [None, Some("digest:bob"), Some("digest:alice")]
    );
    for version in 0..4 {
        let path = format!("/config/shop/db/history/v-{version:010}");
        let (entry, _) = raw.get_data(&path).await.expect("entry");
        let entry = String::from_utf8(entry).expect("utf-8");
        assert!(!entry.contains("s3cret"), "{path}: {entry}");
    }
    // Reading back a version gives the document only.
    assert_eq!(alice.history_document("shop", "db", 1).await.expect("v1"), "pool = 6\n");
}

#[tokio::test]
async fn rules_history_names_the_authenticated_identity_of_each_writer() {
    let connect = chroot("audit-rules");
    let alice = RulesStore::new(as_user(&connect, "alice", "alice-s3cret").await).expect("alice");
    let bob = RulesStore::new(as_user(&connect, "bob", "bob-s3cret").await).expect("bob");
    alice.put("shop", "[tags]\n", Expect::Absent, false).await.expect("alice puts");
    bob.put("shop", "[tags]\n\n", Expect::Version(0), false).await.expect("bob puts");
    let raw = raw(&connect).await;
    raw.set_data("/services/shop/rules", b"[tags]\n\n\n", Some(1)).await.expect("foreign write");
    alice.put("shop", "", Expect::Version(2), false).await.expect("alice puts again");

    let history = bob.history("shop").await.expect("history");
    let seen: Vec<_> = history.iter().map(|e| (e.version, e.identity.as_deref())).collect();
    assert_eq!(seen, [(2, None), (1, Some("digest:bob")), (0, Some("digest:alice"))]);
    assert_eq!(bob.history_document("shop", 1).await.expect("v1"), "[tags]\n\n");
}
