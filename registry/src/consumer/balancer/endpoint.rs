//! One provider inside a [`Balancer`](super::Balancer): its service, its load (requests in
//! flight and a latency average), and each response's outcome reported to its health.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;
use tower::{BoxError, Service};

use super::Classify;
use crate::consumer::{Outcome, Provider};
use crate::session::lock;

/// How a [`Balancer`](super::Balancer) measures each provider's load. In every mode the
/// first response's latency replaces `default_rtt`, so a new provider is not judged on a guess.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BalancerLoad {
    /// Requests in flight times a moving average of response times: each response moves it
    /// [`EWMA_MIN_STEP`] of the way to its latency, more when the previous one is older (all
    /// the way after several `decay`s). A provider that slows down loses traffic within a few
    /// responses (at once when requests pile up in flight); one slow response among fast ones
    /// moves its provider's average a sixteenth of the way, and since that fades over a number
    /// of the provider's own responses, not a time, every provider spends the same share of
    /// its traffic looking slower than it is: at equal latency shares follow weights, even
    /// with one request in flight.
    Ewma {
        /// The latency assumed before the first response.
        default_rtt: Duration,
        /// Over how long the average runs.
        decay: Duration,
    },
    /// Requests in flight times a peak-EWMA of response times (tower's and linkerd's
    /// `PeakEwma`): a latency above the estimate replaces it at once, one below pulls it down
    /// over about `decay`. It reacts to a slowdown at its first slow response, but a single
    /// slow response makes its provider look slow for about `decay`: with few requests in
    /// flight, shares drift from the weights by several points.
    PeakEwma {
        /// The latency assumed before the first response.
        default_rtt: Duration,
        /// How fast the estimate forgets.
        decay: Duration,
    },
    /// Requests in flight only (tower's `PendingRequests`): blind to latency with one request
    /// in flight.
    PendingRequests,
}

impl Default for BalancerLoad {
    /// `Ewma` with a default RTT of 30 ms and a decay of 10 s (linkerd's values).
    fn default() -> Self {
        BalancerLoad::Ewma { default_rtt: Duration::from_millis(30), decay: Duration::from_secs(10) }
    }
}

/// The least a response moves [`BalancerLoad::Ewma`]'s average towards its own latency.
pub const EWMA_MIN_STEP: f64 = 1.0 / 16.0;

/// What the balancer and the requests in flight share about one provider's endpoint.
#[derive(Debug)]
pub(crate) struct EndpointState {
    /// The provider now registered at this address (a re-registration, a new weight, replaces
    /// it without replacing the service).
    pub(crate) provider: ArcSwap<Provider>,
    service: Arc<str>,
    pending: AtomicUsize,
    rtt: Mutex<Rtt>,
    decay_ns: f64,
    /// A slower response replaces the estimate (peak EWMA).
    peak: bool,
}

/// The latency estimate.
#[derive(Debug)]
struct Rtt {
    estimate_ns: f64,
    at: Instant,
    /// Whether a response was measured yet (before: `default_rtt`).
    measured: bool,
}

impl EndpointState {
    pub(crate) fn new(provider: &Provider, service: &Arc<str>, load: BalancerLoad) -> Self {
        let (default_rtt, decay, peak) = match load {
            BalancerLoad::Ewma { default_rtt, decay } => (default_rtt, decay, false),
            BalancerLoad::PeakEwma { default_rtt, decay } => (default_rtt, decay, true),
            BalancerLoad::PendingRequests => (Duration::ZERO, Duration::from_secs(1), false),
        };
        EndpointState {
            provider: ArcSwap::from_pointee(provider.clone()),
            service: service.clone(),
            pending: AtomicUsize::new(0),
            rtt: Mutex::new(Rtt { estimate_ns: nanos(default_rtt), at: Instant::now(), measured: false }),
            decay_ns: nanos(decay).max(1.0),
            peak,
        }
    }

    /// Requests in flight.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// The latency estimate now, in nanoseconds (decayed since its last update).
    pub(crate) fn rtt_ns(&self, now: Instant) -> f64 {
        let rtt = lock(&self.rtt);
        let elapsed = nanos(now.saturating_duration_since(rtt.at));
        rtt.estimate_ns * (-elapsed / self.decay_ns).exp()
    }

    fn observe(&self, sent: Instant, now: Instant) {
        let sample = nanos(now.saturating_duration_since(sent));
        let mut rtt = lock(&self.rtt);
        let elapsed = nanos(now.saturating_duration_since(rtt.at));
        let decay = (-elapsed / self.decay_ns).exp();
        rtt.estimate_ns = if !rtt.measured || (self.peak && sample > rtt.estimate_ns * decay) {
            sample
        } else if self.peak {
            rtt.estimate_ns * decay + sample * (1.0 - decay)
        } else {
            let step = (1.0 - decay).max(EWMA_MIN_STEP);
            rtt.estimate_ns + (sample - rtt.estimate_ns) * step
        };
        rtt.measured = true;
        rtt.at = now;
    }
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

/// A provider's service as the balancer's ready cache holds it: every call is counted in
/// flight, timed, classified and reported.
pub(crate) struct Endpoint<S: Service<Req>, Req> {
    inner: S,
    state: Arc<EndpointState>,
    classify: Arc<dyn Classify<S::Response>>,
    _req: PhantomData<fn(Req)>,
}

impl<S: Service<Req>, Req> Endpoint<S, Req> {
    pub(crate) fn new(inner: S, state: Arc<EndpointState>, classify: Arc<dyn Classify<S::Response>>) -> Self {
        Endpoint { inner, state, classify, _req: PhantomData }
    }

    pub(crate) fn state(&self) -> &Arc<EndpointState> {
        &self.state
    }
}

impl<S, Req> Service<Req> for Endpoint<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Response: 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Tracked<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        self.state.pending.fetch_add(1, Ordering::Relaxed);
        let tracker =
            Tracker { state: self.state.clone(), classify: self.classify.clone(), sent: Instant::now() };
        Tracked { inner: self.inner.call(request), tracker: Some(tracker) }
    }
}

/// One request in flight; counted until answered or dropped.
struct Tracker<T> {
    state: Arc<EndpointState>,
    classify: Arc<dyn Classify<T>>,
    sent: Instant,
}

impl<T: 'static> Tracker<T> {
    /// The answer came: classify it (a panic is contained), time it unless it failed (a
    /// provider that fails fast must not look fast and draw more requests), report it.
    fn answered(self, result: Result<&T, &BoxError>) {
        let now = Instant::now();
        let classify = &self.classify;
        let outcome = catch_unwind(AssertUnwindSafe(|| classify.classify(result.map_err(|e| &**e))));
        if !matches!(outcome, Ok(Outcome::Failure | Outcome::Refused)) {
            self.state.observe(self.sent, now);
        }
        let provider = self.state.provider.load();
        match outcome {
            Ok(outcome) => provider.report(outcome),
            Err(_) => {
                tracing::error!(
                    service = %self.state.service, address = provider.address(),
                    "the response classifier panicked; outcome ignored"
                );
                crate::metrics::classifier_panicked(&self.state.service);
            }
        }
    }
}

impl<T> Drop for Tracker<T> {
    fn drop(&mut self) {
        self.state.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A provider's response future, tracked (see [`Endpoint`]).
    pub struct Tracked<F, T> {
        #[pin]
        inner: F,
        tracker: Option<Tracker<T>>,
    }
}

impl<F, T, E> Future for Tracked<F, T>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    T: 'static,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx)).map_err(Into::into);
        if let Some(tracker) = this.tracker.take() {
            tracker.answered(result.as_ref());
        }
        Poll::Ready(result)
    }
}

impl<S: Service<Req>, Req> std::fmt::Debug for Endpoint<S, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("state", &self.state).finish_non_exhaustive()
    }
}
