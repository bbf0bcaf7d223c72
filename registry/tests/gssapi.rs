//! SASL GSSAPI (Kerberos) end to end: a loopback MIT KDC (Debian's `krb5-kdc`) with a realm made
//! at test time, a `LocalZooKeeper` that logs in as `zookeeper/localhost`, a client with a
//! ticket from `kinit`, and ACL entries `sasl:<principal>` that let it register and refuse an
//! anonymous client.
//! (The KDC: `kdc/mod.rs`.)

mod common;
mod kdc;

use common::init_logging;
use kdc::{start_kdc, REALM, WAIT};
use zkmesh_registry::{AccessPolicy, AccessTarget, Error, Identity, NodeAcl, Registry, ServiceUrl, Session};

#[tokio::test]
async fn a_kerberos_principal_registers_where_granted() {
    init_logging();
    let kdc = start_kdc().await;
    // The client library reads these from the process's environment: this binary's one test.
    let cache = kdc.dir.path().join("cc");
    std::env::set_var("KRB5_CONFIG", kdc.krb5_conf());
    std::env::set_var("KRB5CCNAME", format!("FILE:{}", cache.display()));
    kdc.kinit("alice");

    let zk = kdc.zookeeper().await;
    let connect = format!("{}/krb", zk.connect_string());
    let alice = Session::builder()
        .connect_timeout(WAIT)
        .sasl_gssapi(Some("localhost"))
        .acl(NodeAcl::CreatorAllWorldRead)
        .connect(&connect)
        .await
        .unwrap_or_else(|e| {
            panic!("GSSAPI session: {e}; ZooKeeper log: {:?}", std::fs::read_to_string(zk.log_path()))
        });
    assert_eq!(alice.identity().await, format!("sasl:alice@{REALM}"));

    let target = AccessTarget::service("ledger").expect("name");
    let policy = AccessPolicy::grant(&alice, &target, &[]).await.expect("grant");
    let names: Vec<String> = policy.writers.iter().map(Identity::name).collect();
    assert_eq!(names, [format!("sasl:alice@{REALM}")]);
    let provider = Registry::builder().build(alice).expect("registry");
    let url = |u: &str| ServiceUrl::parse(u).expect("url");
    let _registration = provider.register(&url("http://10.10.0.1:80/ledger")).await.expect("alice registers");

    let anonymous = Registry::builder().connect(&connect).await.expect("anonymous");
    match anonymous.register(&url("http://10.10.0.66:80/ledger")).await {
        Err(Error::NotAuthorized { path, identity, .. }) => {
            assert!(path.starts_with("/services/ledger/providers/"), "{path}");
            assert_eq!(identity, "anonymous (no credentials)");
        }
        other => panic!("expected NotAuthorized, got {other:?}"),
    }
    let ledger = anonymous.subscribe("ledger").await.expect("subscribe");
    ledger.wait_for(WAIT, |s| s.len() == 1).await.expect("alice's provider");
}
