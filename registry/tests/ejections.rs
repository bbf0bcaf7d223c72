//! A consumer's ejections in ZooKeeper, against a real server: the health node
//! `<root>/<service>/health/<instance>` lists what the consumer's outlier detection ejects,
//! goes when the provider is back, comes back after a session expiry, and is not written by a
//! consumer that turned it off.

mod common;

use std::time::Duration;

use common::*;
use local_zk::expire_session;
use tokio::net::TcpListener;
use zkmesh_registry::tower::{Service, ServiceExt};
use zkmesh_registry::{
    EjectionReport, OutlierPolicy, ProviderHealth, Registration, Registry, ServiceUrl, SessionState,
    SubscribeOptions, Subscription,
};

const WAIT: Duration = Duration::from_secs(20);

async fn registry(connect: &str) -> Registry {
    let builder = Registry::builder().session_timeout(Duration::from_secs(4));
    builder.connect(connect).await.unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

async fn register(reg: &Registry, service: &str, ports: &[u16]) -> Vec<Registration> {
    let mut held = Vec::new();
    for port in ports {
        let url = ServiceUrl::parse(&format!("http://127.0.0.1:{port}/{service}")).expect("url");
        held.push(reg.register(&url).await.expect("register"));
    }
    held
}

async fn subscribe(reg: &Registry, service: &str, options: SubscribeOptions, n: usize) -> Subscription {
    let policy = OutlierPolicy::default().consecutive_failures(1).base_ejection(Duration::from_millis(300));
    let sub = reg.subscribe_with(service, options.outlier(policy)).await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == n).await.expect("providers");
    sub
}

/// Sends `n` requests through a TCP balancer over `sub` (each connects to its provider).
async fn drive(sub: &Subscription, n: u32) {
    let mut balancer = tcp_balancer(sub);
    for i in 0..n {
        let _ = balancer.ready().await.expect("ready").call(i).await;
    }
}

/// The health reports under the service, by node name.
async fn reports(connect: &str, service: &str) -> Vec<(String, EjectionReport, i64)> {
    let zk = raw(connect).await;
    let dir = format!("/services/{service}/health");
    let mut nodes = zk.list_children(&dir).await.unwrap_or_default();
    nodes.sort();
    let mut out = Vec::new();
    for node in nodes {
        let path = format!("{dir}/{node}");
        if let Ok((data, stat)) = zk.get_data(&path).await {
            out.push((
                node,
                EjectionReport::from_json(&path, &data).expect("a report"),
                stat.ephemeral_owner,
            ));
        }
    }
    out
}

fn ejected(report: &EjectionReport) -> Vec<&str> {
    report.ejected.iter().map(|e| e.address.as_str()).collect()
}

#[tokio::test]
async fn a_consumer_publishes_its_ejection_drops_it_when_the_provider_is_back_and_keeps_it_across_an_expiry()
{
    let connect = chroot("health");
    let providers = registry(&connect).await;
    let tcp = Ports::new(2, 1).await;
    let _held = register(&providers, "shop", &tcp.all()).await;
    let dead = format!("127.0.0.1:{}", tcp.dead[0]);
    let consumer = registry(&connect).await;
    let sub = subscribe(&consumer, "shop", SubscribeOptions::default(), 3).await;
    assert!(reports(&connect, "shop").await.is_empty(), "nothing ejected: no node");

    drive(&sub, 50).await;
    let find = || async { reports(&connect, "shop").await };
    eventually(WAIT, "the ejection published", || async {
        find().await.first().is_some_and(|(_, r, _)| ejected(r) == [dead.as_str()])
    })
    .await;
    let (node, report, owner) = find().await.remove(0);
    assert_eq!(report.instance, node);
    assert_eq!(report.pid, std::process::id());
    let consumer_nodes =
        raw(&connect).await.list_children("/services/shop/consumers").await.expect("consumers");
    let consumer_data =
        raw(&connect).await.get_data(&format!("/services/shop/consumers/{}", consumer_nodes[0])).await;
    assert!(consumer_data.expect("consumer node").0.is_empty(), "the consumer node keeps its empty data");

    // The consumer's session expires: its health node comes back, under the new session.
    let mut events = consumer.session().events();
    let info = consumer.session().session_info().expect("live");
    expire_session(&connect, &info).await.expect("expire");
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    eventually(WAIT, "the health node re-created", || async {
        find()
            .await
            .first()
            .is_some_and(|(n, r, o)| *n == node && *o != owner && ejected(r) == [dead.as_str()])
    })
    .await;

    // The provider comes back: the probe passes, the node goes.
    let listener = TcpListener::bind(&dead).await.expect("the dead port listens again");
    let _accepting = tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            drop(connection);
        }
    });
    let back = async {
        loop {
            let set = sub.current();
            if set.providers().iter().all(|p| p.health() == ProviderHealth::Healthy) {
                break;
            }
            drive(&sub, 20).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, back).await.expect("back after its probe");
    eventually(WAIT, "the health node deleted", || async { find().await.is_empty() }).await;
}

#[tokio::test]
async fn a_consumer_that_turns_publishing_off_or_does_not_register_writes_no_health_node() {
    let connect = chroot("health-off");
    let providers = registry(&connect).await;
    let tcp = Ports::new(1, 1).await;
    let _held = register(&providers, "quiet", &tcp.all()).await;
    let dead = format!("127.0.0.1:{}", tcp.dead[0]);
    let loud = registry(&connect).await;
    let off = registry(&connect).await;
    let unregistered = registry(&connect).await;
    let subs = [
        subscribe(&loud, "quiet", SubscribeOptions::default(), 2).await,
        subscribe(&off, "quiet", SubscribeOptions::default().publish_ejections(false), 2).await,
        subscribe(&unregistered, "quiet", SubscribeOptions::default().register_consumer(false), 2).await,
    ];
    for sub in &subs {
        drive(sub, 20).await;
        let out =
            sub.wait_for(WAIT, |s| s.providers().iter().any(|p| p.address() == dead && p.weight() == 0));
        out.await.expect("ejected by each consumer");
    }
    eventually(WAIT, "the first consumer's ejection published", || async {
        !reports(&connect, "quiet").await.is_empty()
    })
    .await;
    // Give the others the same delay and more: still one node.
    tokio::time::sleep(zkmesh_registry::PUBLISH_DELAY * 5).await;
    let found = reports(&connect, "quiet").await;
    assert_eq!(found.len(), 1, "only the consumer that publishes: {found:?}");
    assert_eq!(found[0].2, loud.session().session_id().expect("live"));
}

#[tokio::test]
async fn after_an_expiry_the_re_created_node_is_brought_up_to_the_current_ejections() {
    let connect = chroot("health-drift");
    let providers = registry(&connect).await;
    let _held = register(&providers, "drift", &[1, 2, 3, 4]).await;
    let consumer = registry(&connect).await;
    let policy = OutlierPolicy::default().consecutive_failures(1).base_ejection(Duration::from_secs(600));
    let sub =
        consumer.subscribe_with("drift", SubscribeOptions::default().outlier(policy)).await.expect("sub");
    sub.wait_for(WAIT, |s| s.len() == 4).await.expect("providers");
    let fail = |address: &str| {
        let set = sub.current();
        let provider = set.providers().iter().find(|p| p.address() == address).expect("member");
        provider.report(zkmesh_registry::Outcome::Refused);
    };
    let shows = |want: &'static [&'static str]| {
        let connect = connect.clone();
        move || {
            let connect = connect.clone();
            async move { reports(&connect, "drift").await.first().is_some_and(|(_, r, _)| ejected(r) == want) }
        }
    };
    // The node is created with the first ejection, then rewritten with the second.
    fail("127.0.0.1:1");
    eventually(WAIT, "the first ejection published", shows(&["127.0.0.1:1"])).await;
    fail("127.0.0.1:2");
    eventually(WAIT, "the second ejection published", shows(&["127.0.0.1:1", "127.0.0.1:2"])).await;
    let owner = reports(&connect, "drift").await[0].2;

    // Re-created after the expiry with its creation data (the first ejection only), the node is
    // brought up to date.
    let mut events = consumer.session().events();
    let info = consumer.session().session_info().expect("live");
    expire_session(&connect, &info).await.expect("expire");
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    eventually(WAIT, "the node back with both ejections", || async {
        let found = reports(&connect, "drift").await;
        found.first().is_some_and(|(_, r, o)| *o != owner && ejected(r) == ["127.0.0.1:1", "127.0.0.1:2"])
    })
    .await;
}
