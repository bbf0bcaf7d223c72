//! The consumer: zkmesh's weighted balancer (`Subscription::balancer`: two candidates drawn by
//! weight, the lower load per unit of weight wins) over the live membership, with retries on
//! connection errors; the balancer reports each connection failure, and the subscription
//! ejects a provider at its first one.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use registry::{BalancerLoad, ErrorRef, Outcome, OutlierPolicy, Registry, SubscribeOptions, Subscription};
use serde::Deserialize;
use tower::buffer::Buffer;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use crate::{BoxError, SERVICE};

/// A provider's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Reply {
    /// The provider's name.
    pub provider: String,
    /// Its address.
    pub address: String,
    /// The greeting, from the provider's current settings.
    pub message: String,
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// The provider could not be reached or dropped the connection (refused, reset, closed
    /// before answering): a failure of the provider (it is ejected), and the call is retried on
    /// another one.
    Connect {
        /// The provider's address.
        address: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// Anything else (bad answer, time-out, no provider).
    Other(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect { address, reason } => write!(f, "cannot reach {address}: {reason}"),
            CallError::Other(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for CallError {}

/// Counters of what the consumer did.
#[derive(Debug, Default)]
pub struct Stats {
    ok: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    per_provider: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    /// Calls answered.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Calls that failed after every retry.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Calls retried on another provider after a connection error.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Answers per provider name.
    pub fn per_provider(&self) -> BTreeMap<String, u64> {
        self.per_provider.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Zeroes every counter.
    pub fn reset(&self) {
        self.ok.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        self.retries.store(0, Ordering::Relaxed);
        self.per_provider.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

type Http = Client<HttpConnector, Empty<Bytes>>;

/// One provider as a tower service: `String` (a name) in, [`Reply`] out.
#[derive(Clone)]
struct ProviderService {
    address: String,
    http: Http,
}

impl Service<String> for ProviderService {
    type Response = Reply;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: String) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let uri: hyper::Uri = format!("http://{}/hello?name={name}", this.address).parse()?;
            // Any transport failure (refused, reset, closed mid-answer) is a `Connect` error: the
            // classifier below makes it the provider's failure, and `hello` retries the call (an
            // idempotent GET) elsewhere.
            let transport = |reason: String| {
                Box::new(CallError::Connect { address: this.address.clone(), reason }) as BoxError
            };
            let response = this.http.get(uri).await.map_err(|e| transport(e.to_string()))?;
            let body = response.into_body().collect().await.map_err(|e| transport(e.to_string()))?.to_bytes();
            let reply: Reply = serde_json::from_slice(&body)?;
            Ok(reply)
        })
    }
}

/// Calls `greeter` through zkmesh's weighted balancer over live ZooKeeper membership.
pub struct GreeterClient {
    service: BoxCloneSyncService<String, Reply, BoxError>,
    subscription: Subscription,
    stats: Arc<Stats>,
}

impl GreeterClient {
    /// Subscribes to `greeter` (a provider is ejected at its first connection failure) and
    /// builds the balancer.
    ///
    /// # Errors
    /// When the subscription fails.
    pub async fn new(registry: &Registry) -> Result<Self, BoxError> {
        let options = SubscribeOptions::default().outlier(OutlierPolicy::default().consecutive_failures(1));
        let subscription = registry.subscribe_with(SERVICE, options).await?;
        let http: Http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(HttpConnector::new());
        let balancer = subscription
            .balancer(move |p| ProviderService { address: p.address().to_owned(), http: http.clone() })
            .load(BalancerLoad::Ewma { default_rtt: Duration::from_millis(5), decay: Duration::from_secs(2) })
            .classifier(classify);
        let service = BoxCloneSyncService::new(Buffer::new(balancer, 1024));
        Ok(GreeterClient { service, subscription, stats: Arc::new(Stats::default()) })
    }

    /// The subscription underneath (its provider set, its changes).
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Says hello through the balancer, retrying on another provider (up to 4 times) when one
    /// cannot be reached; each try is bounded by 2 s.
    ///
    /// # Errors
    /// The last error when every try failed.
    pub async fn hello(&self, name: &str) -> Result<Reply, BoxError> {
        let mut last: BoxError = Box::new(CallError::Other("no try made".into()));
        for attempt in 0..5 {
            if attempt > 0 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            let call = self.service.clone().oneshot(name.to_owned());
            match tokio::time::timeout(Duration::from_secs(2), call).await {
                Ok(Ok(reply)) => {
                    self.stats.ok.fetch_add(1, Ordering::Relaxed);
                    *self
                        .stats
                        .per_provider
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(reply.provider.clone())
                        .or_default() += 1;
                    return Ok(reply);
                }
                Ok(Err(e)) if is_connect_error(&*e) => last = e,
                Ok(Err(e)) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
                Err(_) => last = Box::new(CallError::Other("no answer within 2 s".into())),
            }
        }
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        Err(last)
    }
}

/// What a call says about its provider: a connection failure is the provider's failure, an
/// answer a success, anything else (a bad answer) says nothing.
fn classify(result: Result<&Reply, ErrorRef<'_>>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) if is_connect_error(e) => Outcome::Failure,
        Err(_) => Outcome::Ignore,
    }
}

fn is_connect_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if matches!(err.downcast_ref::<CallError>(), Some(CallError::Connect { .. })) {
            return true;
        }
        current = err.source();
    }
    false
}
