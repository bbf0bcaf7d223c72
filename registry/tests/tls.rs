//! TLS to ZooKeeper: a `LocalZooKeeper` serving TLS with a self-signed certificate, sessions and
//! a registry over it, what is refused (a plain client on the TLS port, a wrong CA), and a
//! session that survives a server restart over TLS.
//!
//! Every test holds permits of [`JVMS`] for the servers it runs: no more than two at once.

mod common;

use std::time::{Duration, Instant};

use common::{expect_state, init_logging, url};
use local_zk::LocalZooKeeper;
use tokio::sync::{Semaphore, SemaphorePermit};
use zkmesh_registry::{Error, Registry, Session, SessionState, SubscribeOptions, TlsOptions};

const WAIT: Duration = Duration::from_secs(20);
/// Short, for connections that must fail.
const REFUSED_WITHIN: Duration = Duration::from_secs(2);

static JVMS: Semaphore = Semaphore::const_new(2);

async fn jvms(n: u32) -> SemaphorePermit<'static> {
    JVMS.acquire_many(n).await.expect("semaphore")
}

async fn tls_zk() -> LocalZooKeeper {
    init_logging();
    let started = Instant::now();
    let zk = LocalZooKeeper::builder()
        .tls(true)
        .max_session_timeout(Duration::from_secs(30))
        .start()
        .await
        .unwrap_or_else(|e| panic!("start a TLS ZooKeeper: {e}"));
    eprintln!(
        "TLS ZooKeeper ready in {:?}: plain {}, TLS {:?}",
        started.elapsed(),
        zk.connect_string(),
        zk.secure_connect_string()
    );
    zk
}

fn secure(zk: &LocalZooKeeper) -> String {
    zk.secure_connect_string().expect("a TLS server has a TLS port")
}

fn trusting(zk: &LocalZooKeeper) -> TlsOptions {
    let pem = zk.tls_ca_pem().expect("a TLS server has a certificate");
    TlsOptions::new().with_pem_ca(&pem).unwrap_or_else(|e| panic!("the PEM is a CA: {e}"))
}

async fn tls_session(zk: &LocalZooKeeper) -> Session {
    Session::builder()
        .session_timeout(Duration::from_secs(20))
        .connect_timeout(WAIT)
        .tls(trusting(zk))
        .connect(&secure(zk))
        .await
        .unwrap_or_else(|e| panic!("TLS session to {}: {e}", secure(zk)))
}

/// A connection attempt that must fail: the error is `Connect` and names the address.
fn assert_refused(result: zkmesh_registry::Result<Session>, connect: &str, what: &str) -> Error {
    let err = match result {
        Ok(session) => panic!("{what}: connected ({session:?})"),
        Err(err) => err,
    };
    assert!(matches!(err, Error::Connect { .. }), "{what}: {err:?}");
    assert!(err.to_string().contains(connect), "{what}: {err}");
    eprintln!("{what}: {err} (source: {:?})", err.zookeeper_error());
    err
}

#[tokio::test]
async fn a_provider_registered_over_tls_is_discovered_over_tls() {
    let _permit = jvms(1).await;
    let zk = tls_zk().await;
    let secure_port = zk.secure_port().expect("TLS port");
    assert_ne!(secure_port, zk.port(), "TLS and plain ports differ");

    let provider_session = tls_session(&zk).await;
    assert_eq!(provider_session.state(), SessionState::Connected);
    let provider = Registry::builder().build(provider_session.clone()).expect("registry");
    let consumer = Registry::builder().build(tls_session(&zk).await).expect("registry");

    let greeter = consumer
        .subscribe_with("greeter", SubscribeOptions::default().empty_protection(false))
        .await
        .expect("subscribe over TLS");
    let registration =
        provider.register(&url("http://127.0.0.1:8001/greeter?weight=100")).await.expect("register over TLS");
    assert!(registration.status().is_active(), "{:?}", registration.status());
    let set = greeter.wait_for(WAIT, |s| s.len() == 1).await.expect("the provider is seen over TLS");
    assert_eq!(set.providers()[0].address(), "127.0.0.1:8001");

    // The node is really on that server: a plain client on the plain port sees it.
    let plain = zookeeper_client::Client::connect(&zk.connect_string()).await.expect("plain connect");
    let providers = plain.list_children("/services/greeter/providers").await.expect("list");
    assert_eq!(providers.len(), 1, "{providers:?}");
    let (_, stat) = plain
        .get_data(&format!("/services/greeter/providers/{}", providers[0]))
        .await
        .expect("get the provider node");
    assert_eq!(Some(stat.ephemeral_owner), provider_session.session_id(), "owned by the TLS session");

    registration.deregister().await.expect("deregister over TLS");
    greeter.wait_for(WAIT, |s| s.is_empty()).await.expect("the deregistration is seen over TLS");

    // The TLS port listens on 127.0.0.1 only (`secureClientPortAddress`).
    let elsewhere = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(("127.0.0.2", secure_port)),
    )
    .await;
    assert!(!matches!(elsewhere, Ok(Ok(_))), "the TLS port answers on 127.0.0.2 too");

    // A clean run: ZooKeeper logged no error (3.8 logs one when the trust store holds no
    // trusted certificate, and then fails every TLS connection).
    let log = std::fs::read_to_string(zk.log_path()).expect("log");
    assert!(!log.contains(" ERROR ") && !log.contains("trustAnchors"), "{log}");
}

#[tokio::test]
async fn a_plain_client_on_the_tls_port_is_refused() {
    let _permit = jvms(1).await;
    let zk = tls_zk().await;
    let connect = secure(&zk);

    let plain = Session::builder().connect_timeout(REFUSED_WITHIN).connect(&connect).await;
    assert_refused(plain, &connect, "plain client on the TLS port");

    // And the other way round: a TLS client on the plain port.
    let tls_on_plain = Session::builder()
        .connect_timeout(REFUSED_WITHIN)
        .tls(trusting(&zk))
        .connect(&zk.connect_string())
        .await;
    assert_refused(tls_on_plain, &zk.connect_string(), "TLS client on the plain port");

    // The server saw both and refused them: Netty's TLS handler on the TLS port, the length
    // check of the plain protocol on the plain port.
    let log = std::fs::read_to_string(zk.log_path()).expect("log");
    assert!(log.contains("NotSslRecordException: not an SSL/TLS record"), "{log}");
    assert!(log.contains("Len error"), "{log}");

    // The server is unharmed and still serves TLS.
    let session = tls_session(&zk).await;
    session.ensure_path("/still/serving").await.expect("a request over TLS");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let _permit = jvms(2).await;
    // One after the other: two servers and their keytool runs, never more than two JVMs.
    let zk = tls_zk().await;
    let other = tls_zk().await;
    let (ours, theirs) = (zk.tls_ca_pem().expect("pem"), other.tls_ca_pem().expect("pem"));
    assert_ne!(ours, theirs, "every server makes its own certificate");
    drop(other);

    let connect = secure(&zk);
    let wrong = TlsOptions::new().with_pem_ca(&theirs).expect("a PEM CA");
    let refused = Session::builder().connect_timeout(REFUSED_WITHIN).tls(wrong).connect(&connect).await;
    assert_refused(refused, &connect, "TLS with another server's CA");

    // The right CA on the same server works.
    let session = tls_session(&zk).await;
    assert_eq!(session.state(), SessionState::Connected);
}

#[tokio::test]
async fn a_tls_session_survives_a_server_restart() {
    let _permit = jvms(1).await;
    let mut zk = tls_zk().await;
    let (port, secure_port, pem) = (zk.port(), zk.secure_port(), zk.tls_ca_pem());
    let session = tls_session(&zk).await;
    let node = session.create_ephemeral("/services/kept/providers/p", b"over tls").await.expect("create");
    let id = session.session_id().expect("live");
    let mut events = session.events();

    let started = Instant::now();
    zk.restart().await.expect("restart");
    eprintln!("TLS ZooKeeper restarted in {:?}", started.elapsed());
    assert_eq!(
        (zk.port(), zk.secure_port(), zk.tls_ca_pem()),
        (port, secure_port, pem),
        "same ports and certificate"
    );

    let mut seen = expect_state(&mut events, SessionState::Suspended, WAIT).await;
    seen.extend(expect_state(&mut events, SessionState::Reconnected, WAIT).await);
    assert!(!seen.contains(&SessionState::Lost), "a short outage must not lose the session: {seen:?}");
    eprintln!("reconnected over TLS {:?} after the restart began", started.elapsed());
    assert_eq!(session.session_id(), Some(id), "same ZooKeeper session");
    assert_eq!(session.generation(), 1);
    assert!(node.status().is_active(), "{:?}", node.status());

    // Requests work over TLS again, and the ephemeral is intact.
    session.ensure_path("/after/restart").await.expect("a request over TLS after the restart");
    let plain = zookeeper_client::Client::connect(&zk.connect_string()).await.expect("plain connect");
    let (data, stat) = plain.get_data(node.path()).await.expect("the ephemeral is there");
    assert_eq!((data.as_slice(), stat.ephemeral_owner), (&b"over tls"[..], id));
}

#[tokio::test]
async fn mutual_tls_sessions_are_x509_identities_that_acls_name() {
    let _permit = jvms(1).await;
    init_logging();
    let zk = LocalZooKeeper::builder()
        .tls_client_auth(true)
        .start()
        .await
        .unwrap_or_else(|e| panic!("start a mutual-TLS ZooKeeper: {e}"));
    let connect = format!("{}/mtls", secure(&zk));
    let (cert, key) = zk.tls_client_identity().expect("a client certificate");
    let ca = zk.tls_ca_pem().expect("a CA");
    let subject = zk.tls_client_subject().expect("a subject");
    assert_eq!(subject, "CN=zkmesh-client");

    let builder = Session::builder()
        .connect_timeout(WAIT)
        .acl(zkmesh_registry::NodeAcl::CreatorAllWorldRead)
        .tls_client_certificate(&ca, &cert, &key)
        .expect("PEMs parse");
    assert!(!format!("{builder:?}").contains("PRIVATE KEY"));
    let certified = builder.connect(&connect).await.expect("mutual TLS session");
    assert_eq!(certified.identity().await, format!("x509:{subject}"));

    let target = zkmesh_registry::AccessTarget::service("payments").expect("name");
    let policy = zkmesh_registry::AccessPolicy::grant(&certified, &target, &[]).await.expect("grant");
    let names: Vec<String> = policy.writers.iter().map(zkmesh_registry::Identity::name).collect();
    assert_eq!(names, [format!("x509:{subject}")]);
    let provider = Registry::builder().build(certified).expect("registry");
    let _registration =
        provider.register(&url("http://10.8.0.1:80/payments")).await.expect("the certified client registers");

    // A TLS client without a certificate connects (the server only asks for one), reads, and
    // may not register.
    let anonymous = Registry::builder().build(tls_session_at(&zk, &connect).await).expect("registry");
    match anonymous.register(&url("http://10.8.0.66:80/payments")).await {
        Err(Error::NotAuthorized { op: "create", path, identity }) => {
            assert!(path.starts_with("/services/payments/providers/"), "{path}");
            assert_eq!(identity, "anonymous (no credentials)");
        }
        other => panic!("expected NotAuthorized, got {other:?}"),
    }
    let payments = anonymous
        .subscribe_with("payments", SubscribeOptions::default().empty_protection(false))
        .await
        .expect("subscribe");
    let set = payments.wait_for(WAIT, |s| s.len() == 1).await.expect("the certified provider");
    assert_eq!(set.providers()[0].address(), "10.8.0.1:80");
    let log = std::fs::read_to_string(zk.log_path()).expect("log");
    assert!(!log.contains(" ERROR "), "{log}");
}

async fn tls_session_at(zk: &LocalZooKeeper, connect: &str) -> Session {
    Session::builder()
        .connect_timeout(WAIT)
        .tls(trusting(zk))
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("TLS session to {connect}: {e}"))
}
