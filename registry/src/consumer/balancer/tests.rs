//! The balancer over provider sets published by hand (no ZooKeeper: `registry/tests/traffic.rs`
//! runs it on real subscriptions), with in-process services on tokio's paused clock, so that
//! "equal latency" is exact.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tower::{BoxError, Service, ServiceExt};

use super::*;
use crate::consumer::outlier::{state, OutlierPolicy, Outliers};
use crate::consumer::{LoadBalance, Outcome, Provider, ProviderSet, SetParts};
use crate::url::ServiceUrl;

/// Providers of one service, the sets published to a balancer, and how often each address's
/// service was made.
struct Fixture {
    outliers: Arc<Outliers>,
    providers: Vec<Provider>,
    tx: watch::Sender<Arc<ProviderSet>>,
    made: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Fixture {
    fn new(weights: &[u32], policy: OutlierPolicy) -> Self {
        let outliers = Outliers::new("svc", policy);
        let providers = weights.iter().enumerate().map(|(i, w)| provider(&outliers, i + 1, *w)).collect();
        let (tx, _) = watch::channel(Arc::new(ProviderSet::empty(LoadBalance::Random)));
        let fixture = Fixture { outliers, providers, tx, made: Arc::default() };
        fixture.publish();
        fixture
    }

    fn publish(&self) {
        let parts = SetParts::listed(self.providers.clone());
        self.tx.send_replace(Arc::new(ProviderSet::build(parts, LoadBalance::Random, SystemTime::now())));
    }

    /// A balancer whose provider services answer their address after `latency(address)`, or
    /// fail with a refused connection when `fails(address)`.
    fn balancer(
        &self,
        latency: impl Fn(&str) -> Duration + Send + Sync + 'static,
        fails: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Balancer<Svc, u32> {
        let made = self.made.clone();
        let behaviour = Arc::new((latency, fails));
        Balancer::new(
            "svc",
            self.tx.subscribe(),
            Arc::new(()),
            Box::new(move |p: &Provider| {
                *crate::session::lock(&made).entry(p.address().to_owned()).or_default() += 1;
                let address = p.address().to_owned();
                let behaviour = behaviour.clone();
                tower::util::BoxService::new(tower::service_fn(move |_: u32| {
                    let address = address.clone();
                    let (delay, fail) = (behaviour.0(&address), behaviour.1(&address));
                    async move {
                        tokio::time::sleep(delay).await;
                        if fail {
                            return Err(BoxError::from(std::io::Error::from(
                                std::io::ErrorKind::ConnectionRefused,
                            )));
                        }
                        Ok(address)
                    }
                }))
            }),
        )
    }
}

type Svc = tower::util::BoxService<u32, String, BoxError>;

fn provider(outliers: &Arc<Outliers>, port: usize, weight: u32) -> Provider {
    let url = ServiceUrl::parse(&format!("http://127.0.0.1:{port}/svc?weight={weight}")).expect("url");
    let node = url.to_node_name();
    Provider::new(url, node.as_str(), outliers)
}

/// Sends `total` requests, `concurrency` at a time; answers per address (errors under "error").
async fn drive<S>(balancer: &mut S, total: usize, concurrency: usize) -> BTreeMap<String, usize>
where
    S: Service<u32, Response = String, Error = BoxError>,
    S::Future: Send + 'static,
{
    let mut counts = BTreeMap::new();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut count = |answer: Result<Result<String, BoxError>, tokio::task::JoinError>| {
        let key = match answer {
            Ok(Ok(address)) => address,
            _ => "error".to_owned(),
        };
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

fn shares(counts: &BTreeMap<String, usize>) -> Vec<f64> {
    let total: usize = counts.values().sum();
    (1..=counts.len())
        .map(|port| counts.get(&format!("127.0.0.1:{port}")).copied().unwrap_or(0) as f64 / total as f64)
        .collect()
}

fn max_error_pct(counts: &BTreeMap<String, usize>, weights: &[u32]) -> f64 {
    let total: u32 = weights.iter().sum();
    let got = shares(counts);
    weights
        .iter()
        .zip(got)
        .map(|(w, s)| (s - f64::from(*w) / f64::from(total)).abs() * 100.0)
        .fold(0.0, f64::max)
}

#[tokio::test(start_paused = true)]
async fn shares_follow_weights_at_equal_latency_whatever_the_concurrency_and_load() {
    let weights = [100, 100, 50];
    let f = Fixture::new(&weights, OutlierPolicy::default());
    let peak =
        BalancerLoad::PeakEwma { default_rtt: Duration::from_millis(30), decay: Duration::from_secs(10) };
    for load in [BalancerLoad::default(), peak, BalancerLoad::PendingRequests] {
        for concurrency in [1, 4, 16, 64] {
            let mut balancer = f.balancer(|_| Duration::from_millis(1), |_| false).load(load);
            let counts = drive(&mut balancer, 30_000, concurrency).await;
            let error = max_error_pct(&counts, &weights);
            assert!(error < 2.0, "{load:?}, {concurrency} in flight: {counts:?} ({error:.2} points off)");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn traffic_moves_away_from_a_slow_provider() {
    let f = Fixture::new(&[100, 100, 100], OutlierPolicy::default());
    let slow = |address: &str| Duration::from_millis(if address.ends_with(":1") { 10 } else { 1 });
    let peak =
        BalancerLoad::PeakEwma { default_rtt: Duration::from_millis(30), decay: Duration::from_secs(10) };
    let pending = BalancerLoad::PendingRequests;
    for (load, concurrency) in
        [(BalancerLoad::default(), 1), (BalancerLoad::default(), 8), (peak, 1), (pending, 8)]
    {
        let mut balancer = f.balancer(slow, |_| false).load(load);
        let counts = drive(&mut balancer, 6_000, concurrency).await;
        // A third by weight; two draws both landing on it (1 in 9) is the floor of p2c.
        let share = shares(&counts)[0];
        assert!(
            share < 1.0 / 6.0,
            "{load:?}, {concurrency} in flight: the slow one got {:.1}% ({counts:?})",
            share * 100.0
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_weight_at_the_same_address_keeps_its_service_and_moves_traffic() {
    let mut f = Fixture::new(&[100, 100], OutlierPolicy::default());
    let mut balancer = f.balancer(|_| Duration::from_millis(1), |_| false);
    let before = drive(&mut balancer, 4_000, 4).await;
    assert!(max_error_pct(&before, &[100, 100]) < 3.0, "{before:?}");
    f.providers[0] = provider(&f.outliers, 1, 300);
    f.publish();
    let after = drive(&mut balancer, 8_000, 4).await;
    assert!(max_error_pct(&after, &[300, 100]) < 3.0, "{after:?}");
    let made = crate::session::lock(&f.made).clone();
    assert_eq!(made.values().copied().collect::<Vec<_>>(), [1, 1], "one service per address: {made:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failing_provider_is_passed_over_at_its_first_failure_before_its_ejection_lands() {
    let f = Fixture::new(&[100, 100, 100], OutlierPolicy::default().consecutive_failures(1));
    let mut balancer = f.balancer(|_| Duration::from_millis(1), |address| address.ends_with(":2"));
    let counts = drive(&mut balancer, 3_000, 1).await;
    assert_eq!(counts.get("error"), Some(&1), "one failure, then nothing more goes there: {counts:?}");
    assert_eq!(f.providers[1].health_cell().state(), state::SUSPECT, "waiting for the ejector");
}

#[tokio::test(start_paused = true)]
async fn a_probed_provider_gets_exactly_one_request() {
    let f = Fixture::new(&[100, 100], OutlierPolicy::default());
    f.providers[0].health_cell().reset(state::PROBING);
    f.publish();
    let mut balancer = f.balancer(|_| Duration::from_millis(1), |_| false);
    let counts = drive(&mut balancer, 1_000, 4).await;
    assert_eq!(counts.get("127.0.0.1:1"), Some(&1), "{counts:?}");
    assert_eq!(f.providers[0].health_cell().state(), state::PROBE_PASSED);
}

#[tokio::test(start_paused = true)]
async fn no_provider_fails_at_once_naming_the_service_and_why() {
    let f = Fixture::new(&[], OutlierPolicy::default());
    let balancer = f.balancer(|_| Duration::ZERO, |_| false);
    let error = balancer.oneshot(1).await.expect_err("no provider");
    let error = error.downcast_ref::<crate::Error>().expect("registry error");
    assert!(
        matches!(error, crate::Error::NoProvider { service, reason } if service == "svc" && reason == "no provider is registered"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_classifier_is_contained() {
    let f = Fixture::new(&[100, 100], OutlierPolicy::default().consecutive_failures(1));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let mut balancer = f.balancer(|_| Duration::from_millis(1), |_| false).classifier(
        move |_: Result<&String, ErrorRef<'_>>| -> Outcome {
            seen.fetch_add(1, Ordering::Relaxed);
            panic!("a classifier bug")
        },
    );
    let counts = drive(&mut balancer, 200, 4).await;
    assert_eq!(counts.get("error"), None, "every caller got its answer: {counts:?}");
    assert_eq!(calls.load(Ordering::Relaxed), 200);
    assert!(f.providers.iter().all(|p| p.health_cell().state() == state::HEALTHY), "outcomes ignored");
}

#[tokio::test(start_paused = true)]
async fn uniform_when_every_weight_is_zero() {
    let f = Fixture::new(&[0, 0], OutlierPolicy::default());
    let mut balancer = f.balancer(|_| Duration::from_millis(1), |_| false);
    let counts = drive(&mut balancer, 4_000, 4).await;
    assert!(max_error_pct(&counts, &[1, 1]) < 3.0, "{counts:?}");
    let made: HashMap<String, usize> = crate::session::lock(&f.made).clone().into_iter().collect();
    assert_eq!(made.len(), 2);
}
