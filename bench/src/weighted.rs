//! `zkbench weighted`: how closely each provider's share of requests follows its share of the
//! weights, at equal latency, through zkmesh's `Balancer` and through tower's `p2c::Balance`
//! (PeakEwma over `Subscription::discover`), in the same run, on the same registrations.
//!
//! Providers are registered in ZooKeeper on 127.0.0.1 with the given weights; their services
//! are in-process and answer after the same latency. The same number of requests goes through
//! each balancer with the same number in flight. `share_err_max_pct` is the largest gap, in
//! percentage points, between a provider's share of the requests and its share of the weights.

use std::collections::BTreeMap;
use std::time::Duration;

use registry::tower::balance::p2c::Balance;
use registry::tower::load::{CompleteOnResponse, PeakEwmaDiscover};
use registry::tower::{service_fn, BoxError as TowerError, Service, ServiceExt};
use registry::{Registry, ServiceUrl, SubscribeOptions};

use crate::plot::{Figure, Shares};
use crate::BoxError;

/// The options of one run.
pub struct Options {
    pub weights: Vec<u32>,
    pub requests: usize,
    pub concurrency: usize,
    pub latency: Duration,
}

pub async fn run(root: &str, o: Options, figure: &mut Option<Figure>) -> Result<String, BoxError> {
    if o.weights.is_empty() || o.weights.iter().all(|&w| w == 0) {
        return Err("--weights needs at least one non-zero weight".into());
    }
    let provider = Registry::builder().register_consumers(false).connect(root).await?;
    let mut held = Vec::new();
    for (i, weight) in o.weights.iter().enumerate() {
        let url =
            ServiceUrl::new("http", "127.0.0.1", 1 + i as u16, "weighted")?.with_param("weight", weight)?;
        held.push(provider.register(&url).await?);
    }
    let consumer = Registry::builder().register_consumers(false).connect(root).await?;
    let sub =
        consumer.subscribe_with("weighted", SubscribeOptions::default().register_consumer(false)).await?;
    sub.wait_for(Duration::from_secs(30), |s| s.len() == o.weights.len()).await?;

    let latency = o.latency;
    let ours = sub.balancer(move |p| answering(p.address().to_owned(), latency));
    let ours = drive(ours, o.requests, o.concurrency).await?;
    let discover = sub.discover(move |p| answering(p.address().to_owned(), latency));
    let p2c = Balance::new(PeakEwmaDiscover::new(
        discover,
        Duration::from_millis(30),
        Duration::from_secs(10),
        CompleteOnResponse::default(),
    ));
    let p2c = drive(p2c, o.requests, o.concurrency).await?;
    drop(held);

    let (ours_pct, ours_err) = shares(&ours, &o.weights);
    let (p2c_pct, p2c_err) = shares(&p2c, &o.weights);
    let (ours_shares, p2c_shares) = (listed(&ours_pct), listed(&p2c_pct));
    let weights = o.weights.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let title = format!(
        "request shares, weights {weights}, {} requests, {} in flight, {} ms latency",
        o.requests,
        o.concurrency,
        o.latency.as_millis()
    );
    let mut plot = Shares::new(title, &o.weights);
    plot.push("zkmesh Balancer", ours_pct);
    plot.push("tower p2c (PeakEwma)", p2c_pct);
    *figure = Some(Figure::Shares(plot));
    Ok(format!(
        "weighted weights={weights} requests={} concurrency={} latency_ms={} share_err_max_pct={ours_err:.2} \
         tower_p2c_share_err_max_pct={p2c_err:.2} shares_pct={ours_shares} tower_p2c_shares_pct={p2c_shares}",
        o.requests,
        o.concurrency,
        o.latency.as_secs_f64() * 1e3,
    ))
}

/// A provider's in-process service: its address, after `latency`.
fn answering(
    address: String,
    latency: Duration,
) -> impl Service<u32, Response = String, Error = TowerError, Future: Send> + Clone + Send {
    service_fn(move |_: u32| {
        let address = address.clone();
        async move {
            tokio::time::sleep(latency).await;
            Ok::<_, TowerError>(address)
        }
    })
}

/// Sends `total` requests through `balancer`, `concurrency` at a time; answers per address.
async fn drive<S>(
    mut balancer: S,
    total: usize,
    concurrency: usize,
) -> Result<BTreeMap<String, usize>, BoxError>
where
    S: Service<u32, Response = String, Error = TowerError>,
    S::Future: Send + 'static,
{
    let mut counts = BTreeMap::new();
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 0..total {
        while in_flight.len() >= concurrency.max(1) {
            if let Some(answer) = in_flight.join_next().await {
                *counts.entry(answer??).or_insert(0) += 1;
            }
        }
        in_flight.spawn(balancer.ready().await?.call(i as u32));
    }
    while let Some(answer) = in_flight.join_next().await {
        *counts.entry(answer??).or_insert(0) += 1;
    }
    Ok(counts)
}

/// Each provider's share in percent (in registration order) and the largest gap to its share
/// of the weights, in percentage points.
fn shares(counts: &BTreeMap<String, usize>, weights: &[u32]) -> (Vec<f64>, f64) {
    let total = counts.values().sum::<usize>().max(1) as f64;
    let weight_total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let mut pct = Vec::new();
    let mut worst = 0.0f64;
    for (i, weight) in weights.iter().enumerate() {
        let got = counts.get(&format!("127.0.0.1:{}", i + 1)).copied().unwrap_or(0) as f64 * 100.0 / total;
        worst = worst.max((got - f64::from(*weight) * 100.0 / weight_total).abs());
        pct.push(got);
    }
    (pct, worst)
}

/// Shares as the summary line lists them: `a/b/c`, one decimal.
fn listed(pct: &[f64]) -> String {
    pct.iter().map(|got| format!("{got:.1}")).collect::<Vec<_>>().join("/")
}
