//! Digest authentication and ACLs: nodes zkmesh writes carry creator-all + world-read, all the
//! way up; a client without the credentials can read but not delete or overwrite, and gets a
//! typed error; credentials never show in `Debug` output or errors.

mod common;

use std::time::Duration;

use common::*;
use zkmesh_registry::{NodeAcl, Registry, ServiceUrl, Session};
use zookeeper_client::Permission;

const WAIT: Duration = Duration::from_secs(20);

async fn secured(connect: &str, credentials: &[u8]) -> Session {
    Session::builder()
        .session_timeout(Duration::from_secs(4))
        .auth("digest", credentials)
        .acl(NodeAcl::CreatorAllWorldRead)
        .connect(connect)
        .await
        .expect("connect with credentials")
}

#[tokio::test]
async fn nodes_are_creator_all_world_read_all_the_way_up() {
    let connect = chroot("acl");
    let owner = Registry::builder().build(secured(&connect, b"ops:s3cret").await).expect("registry");
    let url = ServiceUrl::parse("http://10.3.0.1:80/billing").expect("url");
    let registration = owner.register(&url).await.expect("register");

    // Every node zkmesh created carries the ACL: the provider, its parents up to /services
    // (which also let anyone create children: they are shared by every service's providers).
    let raw = raw(&connect).await;
    for path in ["/services", "/services/billing", "/services/billing/providers", registration.path()] {
        let (acl, _) = raw.get_acl(path).await.expect("get_acl");
        let shared = path != registration.path();
        let world = acl.iter().find(|a| a.scheme() == "world").expect("a world entry");
        let expected = if shared { Permission::READ | Permission::CREATE } else { Permission::READ };
        assert_eq!(world.permission(), expected, "{path}");
        let mut entries: Vec<(String, String, bool, bool)> = acl
            .iter()
            .map(|a| {
                (
                    a.scheme().to_owned(),
                    a.id().to_owned(),
                    a.permission() == Permission::ALL,
                    a.permission().has(Permission::READ),
                )
            })
            .collect();
        entries.sort();
        assert_eq!(entries.len(), 2, "{path}: {entries:?}");
        assert_eq!(
            (entries[0].0.as_str(), entries[0].2),
            ("digest", true),
            "{path}: creator (digest) may do all"
        );
        assert!(entries[0].1.starts_with("ops:"), "{path}: the creator's identity");
        assert_eq!(
            (entries[1].0.as_str(), entries[1].1.as_str(), entries[1].3),
            ("world", "anyone", true),
            "{path}"
        );
    }

    // Anyone can read: an unauthenticated consumer sees the provider.
    let reader = Registry::builder().register_consumers(false).connect(&connect).await.expect("reader");
    let sub = reader.subscribe("billing").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("provider visible to everyone");

    // Nobody without the credentials can delete or overwrite it.
    assert_eq!(raw.delete(registration.path(), None).await, Err(zookeeper_client::Error::NoAuth));
    assert_eq!(
        raw.set_data(registration.path(), b"x", None).await.map(|_| ()),
        Err(zookeeper_client::Error::NoAuth)
    );
    // Without a policy, /services/billing/providers is a shared parent: anyone may register
    // beside it (`AccessPolicy` says who may; see tests/access.rs).
    let beside = reader.register(&ServiceUrl::parse("http://10.3.0.66:80/billing").expect("url")).await;
    let _beside = beside.expect("a shared parent lets others register");
    sub.wait_for(WAIT, |s| s.len() == 2).await.expect("both registered");

    // The same credentials from another session may (the ACL names the identity, not the session).
    let colleague = secured(&connect, b"ops:s3cret").await;
    let client = colleague.client().expect("live");
    client.set_data(registration.path(), b"", None).await.expect("same identity may write");
    // Wrong password: no.
    let stranger = secured(&connect, b"ops:guess").await;
    let client = stranger.client().expect("live");
    assert_eq!(
        client.set_data(registration.path(), b"", None).await.map(|_| ()),
        Err(zookeeper_client::Error::NoAuth)
    );
    assert!(sub.current().len() == 2, "still registered");
}

#[tokio::test]
async fn credentials_never_show_in_debug_output_or_errors() {
    let builder = Session::builder().auth("digest", b"ops:s3cret").acl(NodeAcl::CreatorAllWorldRead);
    let shown = format!("{builder:?}");
    assert!(!shown.contains("s3cret") && shown.contains("digest"), "{shown}");
    let session = secured(&chroot("debug"), b"ops:s3cret").await;
    assert!(!format!("{session:?}").contains("s3cret"));
    // An error from a failed connect names the address, never the credentials.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let err = builder
        .connect_timeout(Duration::from_millis(300))
        .connect(&format!("127.0.0.1:{port}"))
        .await
        .expect_err("nothing there");
    assert!(!format!("{err} {err:?}").contains("s3cret"), "{err:?}");
}
