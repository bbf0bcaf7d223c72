//! Who gets traffic, against a real ZooKeeper: the weighted balancer over live registrations,
//! outlier ejection from request outcomes (the balancer's and `Provider::report`'s), the
//! ejection cap, the probe, and the errors when there is nobody to call.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use zkmesh_registry::tower::{BoxError, Service, ServiceExt};
use zkmesh_registry::{
    Balancer, BalancerLoad, Filter, Outcome, OutlierPolicy, Provider, ProviderHealth, ProviderSet,
    Registration, Registry, ServiceUrl, SubscribeOptions, Subscription,
};

const WAIT: Duration = Duration::from_secs(20);

async fn registry(connect: &str) -> Registry {
    Registry::builder().connect(connect).await.unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

/// Registers `service` at 127.0.0.1:<port> with `weight` for each (port, weight).
async fn register(reg: &Registry, service: &str, providers: &[(u16, u32)]) -> Vec<Registration> {
    let mut held = Vec::new();
    for (port, weight) in providers {
        let url =
            ServiceUrl::parse(&format!("http://127.0.0.1:{port}/{service}?weight={weight}")).expect("url");
        held.push(reg.register(&url).await.expect("register"));
    }
    held
}

async fn subscribe(reg: &Registry, service: &str, policy: OutlierPolicy, n: usize) -> Subscription {
    let options = SubscribeOptions::default().register_consumer(false).outlier(policy);
    let sub = reg.subscribe_with(service, options).await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == n).await.expect("providers");
    sub
}

/// In-process provider services: each answers its address after `latency`.
fn in_process(
    sub: &Subscription,
    latency: Duration,
) -> Balancer<tower::util::BoxService<u32, String, BoxError>, u32> {
    sub.balancer(move |p: &Provider| {
        let address = p.address().to_owned();
        tower::util::BoxService::new(tower::service_fn(move |_: u32| {
            let address = address.clone();
            async move {
                tokio::time::sleep(latency).await;
                Ok::<_, BoxError>(address)
            }
        }))
    })
}

/// Sends `total` requests, `concurrency` at a time; answers per address, errors under "error".
async fn drive<S>(balancer: &mut S, total: usize, concurrency: usize) -> BTreeMap<String, usize>
where
    S: Service<u32, Response = String, Error = BoxError>,
    S::Future: Send + 'static,
{
    let mut counts = BTreeMap::new();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut count = |answer: Result<Result<String, BoxError>, tokio::task::JoinError>| {
        let key = answer.ok().and_then(Result::ok).unwrap_or_else(|| "error".to_owned());
        *counts.entry(key).or_insert(0) += 1;
    };
    for i in 0..total {
        while in_flight.len() >= concurrency {
            count(in_flight.join_next().await.expect("in flight"));
        }
        let call = balancer.ready().await.expect("ready").call(i as u32);
        in_flight.spawn(call);
    }
    while let Some(answer) = in_flight.join_next().await {
        count(answer);
    }
    counts
}

fn share(counts: &BTreeMap<String, usize>, address: &str) -> f64 {
    let total: usize = counts.values().sum();
    counts.get(address).copied().unwrap_or(0) as f64 / total as f64
}

fn provider<'a>(set: &'a ProviderSet, address: &str) -> &'a Provider {
    set.providers().iter().find(|p| p.address() == address).expect("member")
}

#[tokio::test]
async fn the_balancer_gives_each_provider_its_weight_share_at_equal_latency() {
    let connect = chroot("shares");
    let reg = registry(&connect).await;
    let weights = [(1, 100), (2, 100), (3, 50)];
    let _held = register(&reg, "shares", &weights).await;
    let sub = subscribe(&reg, "shares", OutlierPolicy::default(), 3).await;
    let mut balancer = in_process(&sub, Duration::from_millis(1));
    let counts = drive(&mut balancer, 30_000, 16).await;
    println!("30,000 requests, 16 in flight: {counts:?}");
    for (port, weight) in weights {
        let got = share(&counts, &format!("127.0.0.1:{port}"));
        let want = f64::from(weight) / 250.0;
        assert!(
            (got - want).abs() < 0.02,
            "port {port}: {:.1}% for {:.0}% ({counts:?})",
            got * 100.0,
            want * 100.0
        );
    }
}

#[tokio::test]
async fn a_new_weight_at_the_same_address_moves_traffic_but_keeps_the_service() {
    let connect = chroot("reweigh");
    let reg = registry(&connect).await;
    let mut held = register(&reg, "reweigh", &[(1, 100), (2, 100)]).await;
    let sub = subscribe(&reg, "reweigh", OutlierPolicy::default(), 2).await;
    let made = Arc::new(std::sync::Mutex::new(BTreeMap::<String, usize>::new()));
    let counter = made.clone();
    let mut balancer = sub
        .balancer(move |p: &Provider| {
            *counter.lock().expect("lock").entry(p.address().to_owned()).or_default() += 1;
            let address = p.address().to_owned();
            tower::service_fn(move |_: u32| {
                let address = address.clone();
                async move { Ok::<_, BoxError>(address) }
            })
        })
        .load(BalancerLoad::PendingRequests);
    drive(&mut balancer, 100, 4).await;
    let heavier = register(&reg, "reweigh", &[(1, 400)]).await;
    held.remove(0).deregister().await.expect("deregister");
    sub.wait_for(WAIT, |s| s.len() == 2 && s.providers().iter().any(|p| p.weight() == 400))
        .await
        .expect("re-weighed");
    let counts = drive(&mut balancer, 10_000, 4).await;
    assert!((share(&counts, "127.0.0.1:1") - 0.8).abs() < 0.02, "{counts:?}");
    assert_eq!(
        made.lock().expect("lock").values().copied().collect::<Vec<_>>(),
        [1, 1],
        "one service per address"
    );
    drop(heavier);
}

#[tokio::test]
async fn select_users_report_outcomes_and_an_ejected_provider_returns_through_one_probe() {
    let connect = chroot("probe");
    let reg = registry(&connect).await;
    let _held = register(&reg, "probe", &[(1, 100), (2, 100), (3, 100)]).await;
    let policy = OutlierPolicy::default().consecutive_failures(3).base_ejection(Duration::from_millis(200));
    let sub = subscribe(&reg, "probe", policy, 3).await;
    let broken = AtomicBool::new(true);
    let call = |p: &Provider| {
        let failed = p.address() == "127.0.0.1:1" && broken.load(Ordering::Relaxed);
        p.report(if failed { Outcome::Failure } else { Outcome::Success });
    };
    while sub.current().providers()[0].weight() != 0 {
        call(&sub.select().expect("a provider"));
        tokio::task::yield_now().await;
    }
    let ejected = sub.current();
    assert_eq!(provider(&ejected, "127.0.0.1:1").health(), ProviderHealth::Ejected);
    let mut picker = sub.selector();
    for _ in 0..10_000 {
        assert_ne!(ejected.select().expect("one").address(), "127.0.0.1:1");
        assert_ne!(picker.select().expect("one").address(), "127.0.0.1:1", "every picker agrees");
    }
    // It recovers; after its back-off, one pick probes it, and it comes back.
    broken.store(false, Ordering::Relaxed);
    let probing = sub.wait_for(WAIT, ProviderSet::is_probing).await.expect("a probe offered");
    assert_eq!(probing.providers()[0].weight(), 0, "only its probe until it answers");
    let back = async {
        while sub.current().providers()[0].weight() == 0 {
            call(&sub.select().expect("a provider"));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(WAIT, back).await.expect("back after its probe");
    assert_eq!(sub.current().providers()[0].health(), ProviderHealth::Healthy);
    assert_eq!(sub.current().providers()[0].weight(), 100);
}

#[tokio::test]
async fn the_balancer_ejects_a_refusing_provider_at_its_first_failure_for_every_picker() {
    let connect = chroot("refused");
    let reg = registry(&connect).await;
    let tcp = Ports::new(2, 1).await;
    let ports = tcp.all();
    let _held = register(&reg, "refused", &ports.iter().map(|&p| (p, 100)).collect::<Vec<_>>()).await;
    let policy = OutlierPolicy::default().consecutive_failures(1).base_ejection(Duration::from_secs(60));
    let sub = subscribe(&reg, "refused", policy, 3).await;
    let mut balancer = tcp_balancer(&sub);
    let counts = drive(&mut balancer, 2_000, 1).await;
    assert_eq!(counts.get("error"), Some(&1), "the first refused connection, then none: {counts:?}");
    let dead = format!("127.0.0.1:{}", tcp.dead[0]);
    let set =
        sub.wait_for(WAIT, |s| s.providers().iter().any(|p| p.address() == dead && p.weight() == 0)).await;
    let set = set.expect("ejected in the subscription's set");
    assert_eq!(provider(&set, &dead).health(), ProviderHealth::Ejected);
    assert!((0..10_000).all(|_| sub.select().is_some_and(|p| p.address() != dead)), "select() agrees");
}

#[tokio::test]
async fn every_provider_failing_never_empties_the_set_and_errors_say_why() {
    let connect = chroot("all-fail");
    let reg = registry(&connect).await;
    let tcp = Ports::new(0, 4).await;
    let _held = register(&reg, "all-fail", &tcp.all().iter().map(|&p| (p, 100)).collect::<Vec<_>>()).await;
    let policy = OutlierPolicy::default().consecutive_failures(1).base_ejection(Duration::from_secs(60));
    let sub = subscribe(&reg, "all-fail", policy, 4).await;
    let mut balancer = tcp_balancer(&sub);
    let counts = drive(&mut balancer, 50, 1).await;
    assert_eq!(counts.get("error"), Some(&50));
    let set = sub.wait_for(WAIT, |s| s.providers().iter().filter(|p| p.weight() == 0).count() == 2).await;
    let set = set.expect("half ejected (the cap)");
    drive(&mut balancer, 50, 4).await;
    let out =
        |s: &ProviderSet| s.providers().iter().filter(|p| p.health() != ProviderHealth::Healthy).count();
    assert_eq!((sub.current().len(), out(&sub.current())), (4, 2), "never more than the cap");
    assert!(sub.select().is_some(), "there is always a provider to pick");
    let error = balancer.ready().await.expect("ready").call(0).await.expect_err("refused");
    let io = error.downcast_ref::<std::io::Error>().expect("the provider's own error, not NoProvider");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    drop(set);
}

#[tokio::test]
async fn no_provider_names_the_service_and_why() {
    let connect = chroot("nobody");
    let reg = registry(&connect).await;
    let nobody = subscribe(&reg, "nobody", OutlierPolicy::default(), 0).await;
    let reason = |e: BoxError| match e.downcast_ref::<zkmesh_registry::Error>() {
        Some(zkmesh_registry::Error::NoProvider { service, reason }) => format!("{service}: {reason}"),
        _ => panic!("not NoProvider: {e}"),
    };
    let error = in_process(&nobody, Duration::ZERO).oneshot(1).await.expect_err("nobody");
    assert_eq!(reason(error), "nobody: no provider is registered");

    let _held = register(&reg, "filtered", &[(1, 100)]).await;
    let options = SubscribeOptions::default().register_consumer(false).filter(Filter::any().version("2.0"));
    let filtered = reg.subscribe_with("filtered", options).await.expect("subscribe");
    filtered.wait_for(WAIT, |s| s.unfiltered_len() == 1).await.expect("read");
    let error = in_process(&filtered, Duration::ZERO).oneshot(1).await.expect_err("filtered out");
    assert_eq!(
        reason(error),
        "filtered: none of the 1 registered providers passes the subscription's filter"
    );
}

#[tokio::test]
async fn weight_zero_gets_nothing_and_huge_weights_do_not_overflow() {
    let connect = chroot("extremes");
    let reg = registry(&connect).await;
    let max = zkmesh_registry::MAX_WEIGHT;
    let _held = register(&reg, "extremes", &[(1, 0), (2, max), (3, 1)]).await;
    let sub = subscribe(&reg, "extremes", OutlierPolicy::default(), 3).await;
    let counts = drive(&mut in_process(&sub, Duration::ZERO), 5_000, 4).await;
    assert_eq!(counts.get("127.0.0.1:1"), None, "weight 0 is disabled: {counts:?}");
    assert!(counts.get("127.0.0.1:3").copied().unwrap_or(0) < 5, "{counts:?}");
    assert_eq!(counts.get("error"), None);
}
