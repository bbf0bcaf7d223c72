//! When providers vanish or fail, against a real ZooKeeper and real sockets: the protection
//! threshold (most nodes deleted at once: the vanished keep serving while they answer), the
//! zone minimum, and failure-rate ejection.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use tokio::net::{TcpListener, TcpStream};
use zkmesh_registry::tower::{BoxError, Service, ServiceExt};
use zkmesh_registry::{
    Filter, Outcome, OutlierPolicy, ProtectionThreshold, Provider, ProviderSet, Registry, SubscribeOptions,
};
use zookeeper_client::{Acls, CreateMode};

const WAIT: Duration = Duration::from_secs(20);

async fn registry(connect: &str) -> Registry {
    Registry::builder().connect(connect).await.unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

/// Sends `total` requests one at a time; answers per address, errors under "error".
async fn drive<S>(balancer: &mut S, total: usize) -> BTreeMap<String, usize>
where
    S: Service<u32, Response = String, Error = BoxError>,
{
    let mut counts = BTreeMap::new();
    for i in 0..total {
        let answer = balancer.ready().await.expect("ready").call(i as u32).await;
        *counts.entry(answer.unwrap_or_else(|_| "error".to_owned())).or_insert(0) += 1;
    }
    counts
}

fn suspects(set: &ProviderSet) -> Vec<String> {
    set.providers().iter().filter(|p| p.is_suspect()).map(|p| p.address().to_owned()).collect()
}

fn addresses(set: &ProviderSet) -> Vec<String> {
    set.providers().iter().map(|p| p.address().to_owned()).collect()
}

#[tokio::test]
async fn most_nodes_deleted_at_once_stay_as_suspects_while_they_answer() {
    let connect = chroot("protection");
    let ports = Ports::new(3, 2).await;
    // The nodes are a foreign client's (no keeper re-creates them): the mistake is ZooKeeper's.
    let writer = raw(&connect).await;
    let dir = "/services/svc/providers";
    writer.mkdir(dir, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.expect("mkdir");
    let mut nodes = Vec::new();
    for port in ports.live.iter().chain(&ports.dead) {
        let node = url(&format!("http://127.0.0.1:{port}/svc")).to_node_name();
        let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
        writer.create(&format!("{dir}/{node}"), b"", &eph).await.expect("create");
        nodes.push(node);
    }
    let reg = registry(&connect).await;
    let subscribe = |threshold: ProtectionThreshold| {
        let options = SubscribeOptions::default().register_consumer(false).protection(threshold);
        reg.subscribe_with("svc", options)
    };
    let long = Duration::from_secs(600);
    let held =
        subscribe(ProtectionThreshold::default().hold(long).answer_within(long)).await.expect("subscribe");
    let brief =
        subscribe(ProtectionThreshold::default().hold(Duration::from_millis(300)).answer_within(long))
            .await
            .expect("subscribe");
    let quiet =
        subscribe(ProtectionThreshold::default().hold(long).answer_within(Duration::from_millis(300)))
            .await
            .expect("subscribe");
    let off = subscribe(ProtectionThreshold::off()).await.expect("subscribe");
    held.wait_for(WAIT, |s| s.len() == 5).await.expect("five providers");

    // Four of five nodes deleted at once: two live, two dead, one live stays listed.
    let kept = nodes.remove(0);
    for node in &nodes {
        writer.delete(&format!("{dir}/{node}"), None).await.expect("delete");
    }
    off.wait_for(WAIT, |s| s.len() == 1).await.expect("without the threshold, one provider");
    let set = held.wait_for(WAIT, |s| suspects(s).len() == 4).await.expect("four suspects");
    assert_eq!(set.len(), 5, "the vanished stay in the set");
    assert!(!set.providers().iter().any(|p| p.node_name() == kept && p.is_suspect()));

    // Requests: each dead suspect fails once and is dropped; the live ones keep serving.
    let mut balancer = tcp_balancer(&held);
    let counts = drive(&mut balancer, 300).await;
    assert_eq!(counts.get("error"), Some(&2), "one failed request per dead suspect: {counts:?}");
    for port in &ports.live {
        assert!(
            counts.get(&format!("127.0.0.1:{port}")).is_some_and(|&n| n > 20),
            "{port} serves: {counts:?}"
        );
    }
    let set = held.wait_for(WAIT, |s| s.len() == 3).await.expect("the dead suspects dropped");
    let mut live: Vec<String> = ports.live.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    live.sort();
    assert_eq!(addresses(&set), live);
    let counts = drive(&mut balancer, 100).await;
    assert_eq!(counts.get("error"), None, "{counts:?}");

    // With a short hold, the suspects go when it ends, answering or not; nobody asked the
    // quiet subscription's suspects anything, so nothing shows they answer.
    let set = brief.wait_for(WAIT, |s| s.len() == 1).await.expect("the hold ended");
    assert!(suspects(&set).is_empty());
    let set = quiet.wait_for(WAIT, |s| s.len() == 1).await.expect("no answer within the period");
    assert!(suspects(&set).is_empty());
}

#[tokio::test]
async fn a_zone_is_preferred_only_while_it_has_the_minimum_of_healthy_providers() {
    let connect = chroot("zones");
    let provider = registry(&connect).await;
    let urls = [
        "http://10.0.0.1:1/svc?zone=east",
        "http://10.0.0.2:1/svc?zone=east",
        "http://10.0.0.3:1/svc?zone=west",
    ];
    let mut held = Vec::new();
    for u in urls {
        held.push(provider.register(&url(u)).await.expect("register"));
    }
    let consumer = registry(&connect).await;
    let policy = OutlierPolicy::default().consecutive_failures(1).base_ejection(Duration::from_secs(600));
    let subscribe = |filter: Filter| {
        let options =
            SubscribeOptions::default().register_consumer(false).filter(filter).outlier(policy.clone());
        consumer.subscribe_with("svc", options)
    };
    let east = subscribe(Filter::any().prefer_zone("east")).await.expect("subscribe");
    let set = east.wait_for(WAIT, |s| s.unfiltered_len() == 3).await.expect("read");
    assert_eq!(addresses(&set), ["10.0.0.1:1", "10.0.0.2:1"], "two healthy in east: narrowed");
    let west = subscribe(Filter::any().prefer_zone("west")).await.expect("subscribe");
    let set = west.wait_for(WAIT, |s| s.unfiltered_len() == 3).await.expect("read");
    assert_eq!(set.len(), 3, "one in west is below the default minimum of 2");
    let west_one = subscribe(Filter::any().prefer_zone("west").zone_minimum(1)).await.expect("subscribe");
    let set = west_one.wait_for(WAIT, |s| s.unfiltered_len() == 3).await.expect("read");
    assert_eq!(addresses(&set), ["10.0.0.3:1"]);

    // One of east's two is ejected: east is below its minimum and traffic spreads.
    east.current().providers()[0].report(Outcome::Failure);
    let set = east.wait_for(WAIT, |s| s.len() == 3).await.expect("widened");
    assert_eq!(set.providers()[0].weight(), 0, "the ejected one gets nothing");
    assert!((0..1000).all(|_| east.select().is_some_and(|p| p.address() != "10.0.0.1:1")));
    assert!((0..1000).any(|_| east.select().is_some_and(|p| p.address() == "10.0.0.3:1")));

    // east down to one registration: the same.
    held.remove(1).deregister().await.expect("deregister");
    let set = west_one.wait_for(WAIT, |s| s.unfiltered_len() == 2).await.expect("read");
    assert_eq!(addresses(&set), ["10.0.0.3:1"]);
    let set = east.wait_for(WAIT, |s| s.unfiltered_len() == 2).await.expect("read");
    assert_eq!(addresses(&set), ["10.0.0.1:1", "10.0.0.3:1"]);
}

#[tokio::test]
async fn a_provider_failing_every_other_request_is_ejected_by_its_failure_rate() {
    let connect = chroot("rate");
    // Two providers that answer every connection, a third that answers every other one and
    // hangs up on the others.
    let (good, good_servers) = answering(2, 1).await;
    let (flaky, flaky_server) = answering(1, 2).await;
    let flaky_port = flaky[0];
    let reg = registry(&connect).await;
    let mut held = Vec::new();
    for port in good.iter().chain(&flaky) {
        held.push(reg.register(&url(&format!("http://127.0.0.1:{port}/svc"))).await.expect("register"));
    }
    let policy = OutlierPolicy::default().failure_rate(0.5, 20, Duration::from_secs(3600));
    let options = SubscribeOptions::default().register_consumer(false).outlier(policy);
    let sub = reg.subscribe_with("svc", options).await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 3).await.expect("three providers");
    let mut balancer = sub.balancer(|p: &Provider| {
        let address = p.address().to_owned();
        tower::util::BoxService::new(tower::service_fn(move |_: u32| {
            let address = address.clone();
            async move {
                let mut connection = TcpStream::connect(&address).await?;
                let mut answer = [0u8; 1];
                tokio::io::AsyncReadExt::read_exact(&mut connection, &mut answer).await?;
                Ok::<_, BoxError>(address)
            }
        }))
    });
    let flaky_address = format!("127.0.0.1:{flaky_port}");
    let ejected =
        |s: &ProviderSet| s.providers().iter().any(|p| p.address() == flaky_address && p.weight() == 0);
    let mut counts = BTreeMap::new();
    for _ in 0..20 {
        for (k, v) in drive(&mut balancer, 50).await {
            *counts.entry(k).or_insert(0) += v;
        }
        if ejected(&sub.current()) {
            break;
        }
    }
    let set = sub.wait_for(WAIT, ejected).await;
    let set = set.unwrap_or_else(|e| panic!("not ejected by its failure rate ({e}): {counts:?}"));
    let errors = counts.get("error").copied().unwrap_or(0);
    assert!((10..=40).contains(&errors), "about half of its 20 or so requests failed: {counts:?}");
    assert!(set.providers().iter().filter(|p| p.weight() == 0).count() == 1, "only the flaky one");
    let after = drive(&mut balancer, 200).await;
    assert_eq!(after.get("error"), None, "ejected: no request reaches it: {after:?}");
    good_servers.into_iter().chain(flaky_server).for_each(|s| s.abort());
}

/// `n` servers on free ports that answer one byte on every `every`-th connection and hang up
/// on the others.
async fn answering(n: usize, every: u64) -> (Vec<u16>, Vec<tokio::task::JoinHandle<()>>) {
    let (mut ports, mut tasks) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        ports.push(listener.local_addr().expect("addr").port());
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            while let Ok((mut connection, _)) = listener.accept().await {
                accepted += 1;
                if accepted.is_multiple_of(every) {
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut connection, b"k").await;
                }
            }
        }));
    }
    (ports, tasks)
}
