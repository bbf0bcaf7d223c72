//! Who may register: shared parents (`/services`, `/services/<s>`, `/services/<s>/providers`)
//! that do not lock out the identities that did not create them, and per-service write rights
//! ([`AccessPolicy`]) that refuse an outsider with a typed error naming the path and the
//! identity, let anyone read, and survive session expiry and the re-creation of nodes.

mod common;

use std::time::Duration;

use common::*;
use zkmesh_registry::{
    AccessPolicy, AccessTarget, Error, Identity, NodeAcl, Registry, ServiceUrl, Session, SessionState,
};
use zookeeper_client::{Acls, CreateMode, Permission};

const WAIT: Duration = Duration::from_secs(20);

async fn as_user(connect: &str, user: &str, password: &str, acl: NodeAcl) -> Session {
    Session::builder()
        .session_timeout(Duration::from_secs(4))
        .auth("digest", format!("{user}:{password}").as_bytes())
        .acl(acl)
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect as {user}: {e}"))
}

fn url(text: &str) -> ServiceUrl {
    ServiceUrl::parse(text).expect("url")
}

/// `NotAuthorized` for a create of a provider of `service`, naming `identity`.
fn assert_refused(
    result: zkmesh_registry::Result<zkmesh_registry::Registration>,
    service: &str,
    identity: &str,
) {
    match result {
        Err(Error::NotAuthorized { op, path, identity: who }) => {
            assert_eq!(op, "create");
            let providers = format!("/services/{service}/providers/");
            assert!(path.starts_with(&providers), "names the provider node, not a parent: {path}");
            assert_eq!(who, identity);
        }
        other => panic!("expected NotAuthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn the_first_creator_of_shared_parents_locks_nobody_out() {
    let connect = chroot("shared-parents");
    let first = Registry::builder()
        .build(as_user(&connect, "ops", "s3cret", NodeAcl::CreatorAllWorldRead).await)
        .expect("registry");
    let _first = first.register(&url("http://10.4.0.1:80/orders")).await.expect("the first provider");

    // A credential-less provider of another service, and one of another identity beside the
    // first provider of `orders`: neither is locked out of /services.
    let anonymous = Registry::builder().register_consumers(false).connect(&connect).await.expect("connect");
    let _invoices = anonymous
        .register(&url("http://10.4.0.2:80/invoices"))
        .await
        .expect("another service, no credentials");
    let team = Registry::builder()
        .build(as_user(&connect, "team", "pw", NodeAcl::CreatorAllWorldRead).await)
        .expect("registry");
    let _second =
        team.register(&url("http://10.4.0.3:80/orders")).await.expect("another identity, same service");
    let orders = anonymous.subscribe("orders").await.expect("subscribe");
    orders.wait_for(WAIT, |s| s.len() == 2).await.expect("both providers of orders");

    // A parent locked the old way (creator-all, world-read) refuses, and the error names the
    // node that was being created and who asked, not an existing ancestor.
    let raw = raw(&connect).await;
    let ops = as_user(&connect, "ops", "s3cret", NodeAcl::CreatorAllWorldRead).await;
    ops.ensure_path("/services/legacy").await.expect("ops makes a service node");
    let ops_client = ops.client().expect("live");
    let (mut acl, _) = ops_client.get_acl("/services/legacy").await.expect("acl");
    acl.retain(|a| a.scheme() != "world");
    acl.push(zookeeper_client::Acl::new(Permission::READ, zookeeper_client::AuthId::anyone()));
    ops_client.set_acl("/services/legacy", &acl, None).await.expect("lock it");
    let err = anonymous.session().ensure_path("/services/legacy/providers").await.expect_err("locked");
    match &err {
        Error::NotAuthorized { op: "create", path, identity } => {
            assert_eq!(path, "/services/legacy/providers");
            assert_eq!(identity, "anonymous (no credentials)");
        }
        other => panic!("expected NotAuthorized, got {other:?}"),
    }
    assert!(err.to_string().contains("/services/legacy/providers as anonymous"), "{err}");
    assert!(raw.check_stat("/services/legacy/providers").await.expect("exists").is_none());
}

#[tokio::test]
async fn only_granted_identities_register_and_everyone_reads() {
    let connect = chroot("grant");
    let admin = as_user(&connect, "admin", "adm1n", NodeAcl::CreatorAllWorldRead).await;
    let target = AccessTarget::service("payments").expect("name");
    let team = Identity::digest("team", "t3am");
    let policy = AccessPolicy::grant(&admin, &target, std::slice::from_ref(&team)).await.expect("grant");
    let names: Vec<String> = policy.writers.iter().map(Identity::name).collect();
    assert_eq!(names, ["digest:admin", "digest:team"], "the operator stays a writer");
    assert!(policy.world_readable && !policy.open && policy.exists, "{policy:?}");

    // An outsider, with or without credentials, is refused with the path and its identity.
    let eve =
        Registry::builder().build(as_user(&connect, "eve", "x", NodeAcl::Open).await).expect("registry");
    assert_refused(eve.register(&url("http://10.5.0.66:80/payments")).await, "payments", "digest:eve");
    let anonymous = Registry::builder().connect(&connect).await.expect("connect");
    let refused = anonymous.register(&url("http://10.5.0.67:80/payments")).await;
    assert_refused(refused, "payments", "anonymous (no credentials)");

    // The team registers; a consumer without credentials subscribes (and registers itself as a
    // consumer: `consumers` stays open) and sees it.
    let team_registry = Registry::builder()
        .build(as_user(&connect, "team", "t3am", NodeAcl::CreatorAllWorldRead).await)
        .expect("registry");
    let registration = team_registry.register(&url("http://10.5.0.1:80/payments")).await.expect("team");
    let payments = anonymous.subscribe("payments").await.expect("anyone subscribes");
    let set = payments.wait_for(WAIT, |s| s.len() == 1).await.expect("the team's provider");
    assert_eq!(set.providers()[0].address(), "10.5.0.1:80");
    let raw = raw(&connect).await;
    let consumers = raw.list_children("/services/payments/consumers").await.expect("consumers");
    assert_eq!(consumers.len(), 1, "the anonymous consumer registered itself: {consumers:?}");
    // ... and may publish its ejections: `health` is open like `consumers`.
    let health = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    raw.create("/services/payments/health/anonymous-1", b"{}", &health)
        .await
        .expect("a consumer without credentials writes its health node under a governed service");

    // Revoked: the team may no longer add a provider (its registration stays until it goes).
    let after =
        AccessPolicy::revoke(&admin, &target, &[Identity::parse("digest:team:whatever").expect("id")])
            .await
            .expect("revoke");
    let names: Vec<String> = after.writers.iter().map(Identity::name).collect();
    assert!(names == ["digest:admin"] && !after.open, "{after:?}");
    assert_refused(
        team_registry.register(&url("http://10.5.0.2:80/payments")).await,
        "payments",
        "digest:team",
    );
    drop(registration);
    let shown = AccessPolicy::read(anonymous.session(), &target).await.expect("anyone may read the policy");
    // Everyone sees who may write; ZooKeeper shows the digests only to writers.
    let shown_names: Vec<String> = shown.writers.iter().map(Identity::name).collect();
    assert_eq!((shown_names, shown.open, shown.world_readable), (names, false, true));
    assert!(matches!(&shown.writers[0], Identity::Digest { digest, .. } if digest == "x"), "{shown:?}");
}

#[tokio::test]
async fn rights_survive_expiry_and_recreated_parents() {
    let connect = chroot("expiry");
    let admin = as_user(&connect, "admin", "adm1n", NodeAcl::CreatorAllWorldRead).await;
    let target = AccessTarget::service("ledger").expect("name");
    AccessPolicy::grant(&admin, &target, &[Identity::digest("team", "t3am")]).await.expect("grant");

    // The providers node is deleted (empty, by its administrator): the team's provider
    // re-creates it, with the policy's ACL, not its own.
    admin.client().expect("live").delete("/services/ledger/providers", None).await.expect("delete");
    let team_session = as_user(&connect, "team", "t3am", NodeAcl::CreatorAllWorldRead).await;
    let team = Registry::builder().build(team_session.clone()).expect("registry");
    let raw = raw(&connect).await;
    let registration = team.register(&url("http://10.6.0.1:80/ledger")).await.expect("register");
    let admin_client = admin.client().expect("live"); // ADMIN: sees the digests
    let (service_acl, _) = admin_client.get_acl("/services/ledger").await.expect("acl");
    let (providers_acl, _) = admin_client.get_acl("/services/ledger/providers").await.expect("acl");
    assert_eq!(providers_acl, service_acl, "inherited from the governed service node");

    // The session expires: the registration comes back under the same rights.
    let mut events = team_session.events();
    let before = team_session.session_id().expect("live");
    local_zk::expire_session(shared_zk(), &team_session.session_info().expect("live")).await.expect("expire");
    expect_state(&mut events, SessionState::Lost, WAIT).await;
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    assert_ne!(team_session.session_id(), Some(before), "a new ZooKeeper session");
    eventually(WAIT, "the registration is back", || async { registration.status().is_active() }).await;
    let children = raw.list_children("/services/ledger/providers").await.expect("list");
    assert_eq!(children.len(), 1, "{children:?}");
    let eve =
        Registry::builder().build(as_user(&connect, "eve", "x", NodeAcl::Open).await).expect("registry");
    assert_refused(eve.register(&url("http://10.6.0.66:80/ledger")).await, "ledger", "digest:eve");
}

#[tokio::test]
async fn a_grant_needs_credentials_and_admin_rights() {
    let connect = chroot("grant-refused");
    let anonymous = Session::connect(&connect).await.expect("connect");
    let target = AccessTarget::service("vault").expect("name");
    let err =
        AccessPolicy::grant(&anonymous, &target, &[Identity::digest("a", "b")]).await.expect_err("no creds");
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(err.to_string().contains("no credentials"), "{err}");

    let admin = as_user(&connect, "admin", "adm1n", NodeAcl::CreatorAllWorldRead).await;
    AccessPolicy::grant(&admin, &target, &[Identity::digest("a", "b")]).await.expect("grant");
    // Another administrator-to-be without ADMIN there is refused, naming the node and itself.
    let other = as_user(&connect, "mallory", "m", NodeAcl::Open).await;
    let err = AccessPolicy::grant(&other, &target, &[Identity::digest("mallory", "m")])
        .await
        .expect_err("no ADMIN");
    match err {
        Error::NotAuthorized { op: "set_acl", path, identity } => {
            assert_eq!(path, "/services/vault");
            assert_eq!(identity, "digest:mallory");
        }
        other => panic!("expected NotAuthorized, got {other:?}"),
    }
}
