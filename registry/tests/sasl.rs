//! SASL DIGEST-MD5 end to end: a `LocalZooKeeper` with a JAAS configuration, sessions that
//! authenticate as its users, ACL entries `sasl:<user>` that let one user register and refuse
//! another, and a wrong password refused without being shown.

mod common;

use std::time::Duration;

use common::init_logging;
use local_zk::LocalZooKeeper;
use zkmesh_registry::{AccessPolicy, AccessTarget, Error, Identity, NodeAcl, Registry, ServiceUrl, Session};

const WAIT: Duration = Duration::from_secs(20);

async fn as_user(connect: &str, user: &str, password: &str) -> zkmesh_registry::Result<Session> {
    Session::builder()
        .session_timeout(Duration::from_secs(4))
        .connect_timeout(Duration::from_secs(10))
        .sasl_digest_md5(user, password)
        .acl(NodeAcl::CreatorAllWorldRead)
        .connect(connect)
        .await
}

fn url(text: &str) -> ServiceUrl {
    ServiceUrl::parse(text).expect("url")
}

#[tokio::test]
async fn sasl_users_register_where_granted_and_nowhere_else() {
    init_logging();
    let zk = LocalZooKeeper::builder()
        .sasl_users(&[("alice", "al1ce-pw"), ("bob", "b0b-pw"), ("eve", "3ve-pw")])
        .start()
        .await
        .unwrap_or_else(|e| panic!("start a SASL ZooKeeper: {e}"));
    let connect = format!("{}/sasl", zk.connect_string());

    let alice = as_user(&connect, "alice", "al1ce-pw").await.expect("alice authenticates");
    assert_eq!(alice.identity().await, "sasl:alice");
    let target = AccessTarget::service("payments").expect("name");
    let policy = AccessPolicy::grant(&alice, &target, &[Identity::Sasl("bob".into())]).await.expect("grant");
    let names: Vec<String> = policy.writers.iter().map(Identity::name).collect();
    assert_eq!(names, ["sasl:alice", "sasl:bob"]);

    let bob =
        Registry::builder().build(as_user(&connect, "bob", "b0b-pw").await.expect("bob")).expect("registry");
    let _registration = bob.register(&url("http://10.7.0.1:80/payments")).await.expect("bob may register");

    let eve =
        Registry::builder().build(as_user(&connect, "eve", "3ve-pw").await.expect("eve")).expect("registry");
    match eve.register(&url("http://10.7.0.66:80/payments")).await {
        Err(Error::NotAuthorized { op: "create", path, identity }) => {
            assert!(path.starts_with("/services/payments/providers/"), "{path}");
            assert_eq!(identity, "sasl:eve");
        }
        other => panic!("expected NotAuthorized, got {other:?}"),
    }

    // A consumer without credentials reads.
    let reader = Registry::builder().register_consumers(false).connect(&connect).await.expect("anonymous");
    let payments = reader.subscribe("payments").await.expect("subscribe");
    let set = payments.wait_for(WAIT, |s| s.len() == 1).await.expect("bob's provider");
    assert_eq!(set.providers()[0].address(), "10.7.0.1:80");

    // A wrong password: no session, and the error does not show it.
    let err = as_user(&connect, "alice", "wr0ng-guess").await.expect_err("wrong password");
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(shown.contains("refused the credentials of sasl:alice"), "{shown}");
    assert!(!shown.contains("wr0ng-guess") && !shown.contains("al1ce-pw"), "{shown}");
    eprintln!("wrong SASL password: {err}");

    // The passwords are in the JAAS file only: not on the JVM's command line, not in the log.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", zk.pid().expect("pid"))).expect("cmdline");
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(cmdline.contains("-Djava.security.auth.login.config="), "{cmdline}");
    let log = std::fs::read_to_string(zk.log_path()).expect("log");
    for secret in ["al1ce-pw", "b0b-pw", "3ve-pw"] {
        assert!(!cmdline.contains(secret) && !log.contains(secret), "{secret} leaked");
    }
    assert!(!format!("{:?}", Session::builder().sasl_digest_md5("alice", "al1ce-pw")).contains("al1ce-pw"));
}
