//! `zkbench eject`: how soon a provider that starts refusing connections stops getting
//! requests, how many calls fail, and how soon its probe brings it back.
//!
//! Providers are in-process hyper servers on 127.0.0.1, registered in ZooKeeper; a consumer
//! calls them at a steady rate through zkmesh's `Balancer` (hyper client per provider, the
//! default classifier, the subscription's outlier policy, by default
//! [`OutlierPolicy::default`]), retrying a call that
//! failed in transport on another provider (an idempotent GET) up to 3 times. After a warm-up,
//! the first provider stops listening and drops its connections (its node stays registered);
//! after `--down-ms` it listens again on the same address.
//!
//! The summary: `eject_ms` (the provider's first failed request to the last request, other than
//! probes, it was sent), `failed` (calls that failed after their retries), `retried` (tries
//! after the first), `probes` (requests sent to it as a probe while down), `readmit_ms` (from
//! listening again to its first answered request, the probe's).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use registry::tower::buffer::Buffer;
use registry::tower::{BoxError as TowerError, Service, ServiceExt};
use registry::{OutlierPolicy, Provider, ProviderHealth, Registry, ServiceUrl, SubscribeOptions};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

use crate::BoxError;

/// `zkbench eject` options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Providers (the first one is the one that stops).
    #[arg(long, default_value_t = 3)]
    providers: usize,
    /// Calls per second, at a steady pace.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// How long the provider refuses connections. Keep it under the first back-off (1 s by
    /// default) so that `eject_ms` measures ejection and not the probes' schedule.
    #[arg(long, default_value_t = 500)]
    down_ms: u64,
    /// Warm-up before the provider stops, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    warmup_ms: u64,
    /// Eject after this many failures in a row instead of the default policy's.
    #[arg(long)]
    consecutive_failures: Option<u32>,
    /// Count a refused connection as an ordinary failure instead of ejecting at once
    /// (`OutlierPolicy::eject_on_refused(false)`), to compare with the default.
    #[arg(long)]
    keep_on_refused: bool,
}

const SERVICE: &str = "eject";
const TRIES: usize = 4;

/// An in-process hyper server that can stop listening and listen again on its port.
struct Server {
    port: u16,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Server {
    async fn start(port: u16) -> Result<Server, BoxError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = Some(tokio::spawn(accept_loop(listener, connections.clone())));
        Ok(Server { port, accept, connections })
    }

    /// Stops listening (connections are refused) and drops every open connection.
    fn refuse(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for connection in std::mem::take(&mut *lock(&self.connections)) {
            connection.abort();
        }
    }

    /// Listens again on the same port.
    async fn restart(&mut self) -> Result<(), BoxError> {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        self.accept = Some(tokio::spawn(accept_loop(listener, self.connections.clone())));
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.refuse();
    }
}

async fn accept_loop(listener: TcpListener, connections: Arc<Mutex<Vec<AbortHandle>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let task = tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        let mut open = lock(&connections);
        open.retain(|c| !c.is_finished());
        open.push(task.abort_handle());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What happened to the provider that stops, as its client service saw it.
#[derive(Default)]
struct Watched {
    /// When each request was sent to it, and whether it was a probe.
    sent: Vec<(Instant, bool)>,
    first_failure: Option<Instant>,
    /// Its first answer after it listens again.
    readmitted: Option<Instant>,
    restarted: Option<Instant>,
}

/// The whole run's counters.
#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    per_provider: Mutex<BTreeMap<String, u64>>,
    watched: Mutex<Watched>,
}

type Http = Client<HttpConnector, Empty<Bytes>>;

/// One provider's service: a GET through the shared hyper client, recorded when it is the
/// provider that stops.
#[derive(Clone)]
struct ProviderService {
    provider: Provider,
    http: Http,
    watched: bool,
    counters: Arc<Counters>,
}

impl Service<()> for ProviderService {
    type Response = String;
    type Error = TowerError;
    type Future = Pin<Box<dyn Future<Output = Result<String, TowerError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TowerError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: ()) -> Self::Future {
        let this = self.clone();
        if this.watched {
            let probe = this.provider.health() == ProviderHealth::Probing;
            lock(&this.counters.watched).sent.push((Instant::now(), probe));
        }
        Box::pin(async move {
            let address = this.provider.address().to_owned();
            let uri: hyper::Uri = format!("http://{address}/").parse()?;
            let answer =
                async { Ok::<_, TowerError>(this.http.get(uri).await?.into_body().collect().await?) };
            let result = answer.await;
            if this.watched {
                let mut w = lock(&this.counters.watched);
                let now = Instant::now();
                match &result {
                    Err(_) if w.first_failure.is_none() => w.first_failure = Some(now),
                    Ok(_) if w.restarted.is_some() && w.readmitted.is_none() => w.readmitted = Some(now),
                    _ => {}
                }
            }
            result.map(|_| address)
        })
    }
}

pub async fn run(root: &str, args: Args) -> Result<String, BoxError> {
    if args.providers < 2 || args.rate == 0 {
        return Err("eject needs --providers 2 or more and a --rate above 0".into());
    }
    let provider_registry = Registry::builder().register_consumers(false).connect(root).await?;
    let (mut servers, mut held) = (Vec::new(), Vec::new());
    for _ in 0..args.providers {
        let server = Server::start(0).await?;
        let url = ServiceUrl::new("http", "127.0.0.1", server.port, SERVICE)?;
        held.push(provider_registry.register(&url).await?);
        servers.push(server);
    }
    let consumer = Registry::builder().register_consumers(false).connect(root).await?;
    let mut policy = OutlierPolicy::default();
    if let Some(n) = args.consecutive_failures {
        policy = policy.consecutive_failures(n);
    }
    policy = policy.eject_on_refused(!args.keep_on_refused);
    let options = SubscribeOptions::default().register_consumer(false).outlier(policy);
    let sub = consumer.subscribe_with(SERVICE, options).await?;
    sub.wait_for(Duration::from_secs(30), |s| s.len() == args.providers).await?;

    let counters = Arc::new(Counters::default());
    let watched_address = format!("127.0.0.1:{}", servers[0].port);
    let http: Http = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let made = counters.clone();
    let balancer = sub.balancer(move |p: &Provider| ProviderService {
        provider: p.clone(),
        http: http.clone(),
        watched: p.address() == watched_address,
        counters: made.clone(),
    });
    let balancer = Buffer::new(balancer, 4096);
    let load = tokio::spawn(steady_load(balancer, args.rate, counters.clone()));

    let timeline = break_and_return(&args, &mut servers[0], &counters).await;
    load.abort();
    let _ = load.await;
    drop(held);
    summary(&args, &counters, timeline?)
}

/// Calls at `rate` per second until aborted, each in its own task, with retries.
async fn steady_load<S>(balancer: S, rate: u32, counters: Arc<Counters>)
where
    S: Service<(), Response = String, Error = TowerError> + Clone + Send + 'static,
    S::Future: Send,
{
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut calls = tokio::task::JoinSet::new();
    loop {
        tick.tick().await;
        while calls.try_join_next().is_some() {}
        calls.spawn(call_with_retries(balancer.clone(), counters.clone()));
    }
}

async fn call_with_retries<S>(balancer: S, counters: Arc<Counters>)
where
    S: Service<(), Response = String, Error = TowerError> + Clone,
{
    for attempt in 0..TRIES {
        if attempt > 0 {
            counters.retried.fetch_add(1, Ordering::Relaxed);
        }
        let call = balancer.clone().oneshot(());
        if let Ok(Ok(address)) = tokio::time::timeout(Duration::from_secs(2), call).await {
            counters.ok.fetch_add(1, Ordering::Relaxed);
            *lock(&counters.per_provider).entry(address).or_default() += 1;
            return;
        }
    }
    counters.failed.fetch_add(1, Ordering::Relaxed);
}

/// When the provider stopped, and whether it was readmitted.
struct Timeline {
    stopped: Instant,
    readmitted: bool,
}

/// Warm-up, the provider stops, stays down, listens again; waits (bounded) for its probe.
async fn break_and_return(
    args: &Args,
    server: &mut Server,
    counters: &Counters,
) -> Result<Timeline, BoxError> {
    tokio::time::sleep(Duration::from_millis(args.warmup_ms)).await;
    let stopped = Instant::now();
    server.refuse();
    tokio::time::sleep(Duration::from_millis(args.down_ms)).await;
    server.restart().await?;
    lock(&counters.watched).restarted = Some(Instant::now());
    let deadline = Instant::now() + Duration::from_secs(120);
    while lock(&counters.watched).readmitted.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let readmitted = lock(&counters.watched).readmitted.is_some();
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(Timeline { stopped, readmitted })
}

fn summary(args: &Args, counters: &Counters, timeline: Timeline) -> Result<String, BoxError> {
    let w = lock(&counters.watched);
    let Some(first_failure) = w.first_failure else {
        let sent = w.sent.len();
        let why = format!(
            "the stopped provider was sent no request while down ({sent} before): raise --rate or --down-ms"
        );
        return Err(why.into());
    };
    let restarted = w.restarted.unwrap_or(timeline.stopped);
    let down: Vec<&(Instant, bool)> =
        w.sent.iter().filter(|(at, _)| *at >= timeline.stopped && *at < restarted).collect();
    let last = down.iter().filter(|(_, probe)| !probe).map(|(at, _)| *at).max().unwrap_or(first_failure);
    let probes = down.iter().filter(|(_, probe)| *probe).count();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let readmit = match (timeline.readmitted, w.readmitted) {
        (true, Some(at)) => format!("{:.1}", ms(at - restarted)),
        _ => "never".to_owned(),
    };
    let consecutive = args.consecutive_failures.map_or("default".to_owned(), |n| n.to_string());
    Ok(format!(
        "eject providers={} rate={} down_ms={} consecutive_failures={consecutive} eject_on_refused={} eject_ms={:.1} \
         sent_while_down={} failed={} retried={} probes={probes} readmit_ms={readmit} ok={} per_provider={:?}",
        args.providers,
        args.rate,
        args.down_ms,
        !args.keep_on_refused,
        ms(last.saturating_duration_since(first_failure)),
        down.len(),
        counters.failed.load(Ordering::Relaxed),
        counters.retried.load(Ordering::Relaxed),
        counters.ok.load(Ordering::Relaxed),
        lock(&counters.per_provider),
    ))
}
