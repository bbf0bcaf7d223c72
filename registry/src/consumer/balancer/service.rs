//! [`Balancer`]: a weighted power-of-two-choices `tower::Service` over a subscription.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use futures::Stream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_stream::wrappers::WatchStream;
use tower::ready_cache::{error::Failed, ReadyCache};
use tower::{BoxError, Service};

use super::endpoint::{Endpoint, EndpointState, Tracked};
use super::{BalancerLoad, Classify, ConnectionErrors};
use crate::balance::AliasTable;
use crate::consumer::subscription::KeepAlive;
use crate::consumer::{Outcome, Provider, ProviderSet, ProviderSource, Subscription};
use crate::error::Error;

/// Two candidates whose costs differ by less than this share count as equal: the first drawn
/// wins. Latency noise then decides nothing, and shares follow weights at equal latency.
const TIE: f64 = 0.1;

/// Added to every latency estimate: differences below a few tens of microseconds (in-process
/// services, the same host) are noise to a balancer, not a slower provider.
const RTT_FLOOR_NS: f64 = 50_000.0;

/// Weighted draws that may land on a provider not ready (or avoided) before the balancer
/// scans the ready ones instead.
const DRAWS: usize = 8;

/// A load balancer over a subscription's providers that honours their weights, from
/// [`Subscription::balancer`]: a `tower::Service` that forwards each request to one provider's
/// service, made by the `make` function given, one per provider address.
///
/// **Picking.** Two candidates are drawn at random in proportion to their *effective* weights
/// (registered weight x warm-up x override x health, the weights every picker of the
/// subscription uses), and the one with the lower load per unit of weight gets the request:
/// `(rtt + 50 µs) x (pending + w) / w` with [`BalancerLoad::Ewma`] (the default) or
/// [`BalancerLoad::PeakEwma`], `pending / w` with [`BalancerLoad::PendingRequests`], where `w`
/// is the provider's weight relative to the set's mean; costs within 10% of each other count
/// as equal (the first draw wins). At equal latency the costs stay equal while each provider's
/// share follows its weight, so shares follow weights; a slower provider costs more and loses
/// traffic. (tower's `p2c::Balance` draws uniformly, so its shares ignore weights; tower's load
/// metrics only compare, so this balancer measures requests in flight and latency itself.)
///
/// **Endpoints** are keyed by provider address (`host:port`): a provider that re-registers
/// with a new weight or version keeps its service and connections. Readiness is tower's
/// `ReadyCache`: a request goes to a service that said it is ready.
///
/// **Health.** Every response is classified ([`ConnectionErrors`] by default;
/// [`Balancer::classifier`]) and reported to its provider, so failures eject a provider for
/// every picker of the subscription (see [`OutlierPolicy`](crate::OutlierPolicy)); a provider
/// that reached its failure threshold is passed over at once, before the ejection lands. An
/// ejected provider's next request after its back-off is the probe.
///
/// **No provider.** With no provider to call (none registered, none through the filter),
/// `poll_ready` is ready and the call fails at once with [`Error::NoProvider`] naming the
/// service and why, instead of waiting. Share one balancer between tasks with
/// `tower::buffer::Buffer`.
pub struct Balancer<S: Service<Req>, Req> {
    service: Arc<str>,
    updates: WatchStream<Arc<ProviderSet>>,
    set: Arc<ProviderSet>,
    /// Weighted draws over `set`'s effective weights (uniform when they are all 0).
    draws: AliasTable,
    /// The set's mean effective weight.
    mean_weight: f64,
    /// Every effective weight is 0: all count as equal.
    uniform: bool,
    members: HashMap<Arc<str>, Member>,
    /// The endpoint key (address) of each provider of `set`, by index.
    keys: Vec<Arc<str>>,
    endpoints: ReadyCache<Arc<str>, Endpoint<S, Req>, Req>,
    make: Box<dyn FnMut(&Provider) -> S + Send>,
    classify: Arc<dyn Classify<S::Response>>,
    load: BalancerLoad,
    chosen: Option<Chosen>,
    /// Whether `members` and `endpoints` follow `set`.
    synced: bool,
    /// A request's tag, for the rules' tag routes ([`Balancer::route_by`]).
    route_of: Option<fn(&Req) -> Option<&str>>,
    _alive: KeepAlive,
}

/// A provider of the current set that has an endpoint.
struct Member {
    /// Its index in the set.
    index: usize,
    state: Arc<EndpointState>,
}

/// What `poll_ready` decided for the next `call`.
#[derive(Debug, Clone, Copy)]
enum Chosen {
    /// The ready endpoint at this index.
    Ready(usize),
    /// Nothing to call: fail the request.
    NoProvider,
}

impl Subscription {
    /// A weighted load balancer over this subscription: `make` builds the service of each
    /// provider address that appears (a hyper client bound to `p.address()`, a tonic
    /// `Channel`, ...). See [`Balancer`].
    ///
    /// ```no_run
    /// # async fn demo(sub: zkmesh_registry::Subscription) -> Result<(), tower::BoxError> {
    /// use zkmesh_registry::tower::{service_fn, ServiceExt};
    /// let balancer = sub.balancer(|p| {
    ///     let addr = p.address().to_owned();
    ///     service_fn(move |req: String| {
    ///         let addr = addr.clone();
    ///         async move { Ok::<_, std::io::Error>(format!("{addr}: {req}")) }
    ///     })
    /// });
    /// let answer = balancer.oneshot("hello".to_owned()).await?;
    /// println!("{answer}");
    /// # Ok(()) }
    /// ```
    pub fn balancer<S, Req, F>(&self, make: F) -> Balancer<S, Req>
    where
        F: FnMut(&Provider) -> S + Send + 'static,
        S: Service<Req>,
        S::Error: Into<BoxError>,
        S::Response: 'static,
    {
        Balancer::new(self.service(), self.updates(), self.keep_alive(), Box::new(make))
    }
}

impl<S, Req> Balancer<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Response: 'static,
{
    pub(crate) fn new(
        service: &str,
        updates: watch::Receiver<Arc<ProviderSet>>,
        alive: KeepAlive,
        make: Box<dyn FnMut(&Provider) -> S + Send>,
    ) -> Self {
        let set = updates.borrow().clone();
        Balancer {
            service: service.into(),
            updates: WatchStream::from_changes(updates),
            set,
            draws: AliasTable::new(&[]),
            mean_weight: 1.0,
            uniform: true,
            members: HashMap::new(),
            keys: Vec::new(),
            endpoints: ReadyCache::default(),
            make,
            classify: Arc::new(ConnectionErrors),
            load: BalancerLoad::default(),
            chosen: None,
            synced: false,
            route_of: None,
            _alive: alive,
        }
    }

    /// How each provider's load is measured. Default: [`BalancerLoad::default`] (EWMA of
    /// latency, 30 ms, 10 s). Set it before the first request: services already made are made again.
    pub fn load(mut self, load: BalancerLoad) -> Self {
        self.load = load;
        self.forget_endpoints();
        self
    }

    /// What each response says about its provider (see [`Classify`]). Default:
    /// [`ConnectionErrors`]. Set it before the first request: services already made are made
    /// again.
    pub fn classifier(mut self, classify: impl Classify<S::Response>) -> Self {
        self.classify = Arc::new(classify);
        self.forget_endpoints();
        self
    }

    /// Routes each request by its tag, as the service's traffic rules say (see
    /// [`crate::TagRouting`]): `tag_of` reads it from the request ([`crate::request_tag`] for
    /// HTTP requests, whose tag [`crate::TagLayer`] reads from a header). A request whose
    /// pick is outside its tag's route goes to the cheapest ready provider of the route
    /// instead, or fails with [`Error::NoProvider`] when none is ready. Default: requests
    /// are not read (all go by the consumer's default route).
    pub fn route_by(mut self, tag_of: fn(&Req) -> Option<&str>) -> Self {
        self.route_of = Some(tag_of);
        self
    }

    /// The service balanced over.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Provider services held (ready or not); made at the first `poll_ready`.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether no provider service is held.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    fn forget_endpoints(&mut self) {
        if !self.members.is_empty() {
            self.endpoints = ReadyCache::default();
            self.members.clear();
        }
        self.synced = false;
        self.chosen = None;
    }

    /// Takes the newest set the subscription published, if any, and follows it.
    fn poll_updates(&mut self, cx: &mut Context<'_>) {
        // `None` (the subscription's watch ended) keeps the last set, as a subscription does.
        while let Poll::Ready(Some(set)) = Pin::new(&mut self.updates).poll_next(cx) {
            self.set = set;
            self.synced = false;
        }
        if !self.synced {
            self.sync();
        }
    }

    /// Makes the endpoints follow `set`: a service for each new address, evictions for those
    /// gone, the newest registration for those kept; the draws follow its weights.
    fn sync(&mut self) {
        self.synced = true;
        self.chosen = None;
        let set = self.set.clone();
        let weights: Vec<u32> = set.pick_weights();
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        self.uniform = total == 0;
        self.mean_weight = if self.uniform { 1.0 } else { total as f64 / weights.len() as f64 };
        self.draws = AliasTable::new(&weights);
        let mut members = HashMap::with_capacity(set.len());
        let mut keys = Vec::with_capacity(set.len());
        for (index, p) in set.iter().enumerate() {
            let state = match self.members.remove(p.address()) {
                Some(kept) => {
                    if !kept.state.provider.load().same_registration(p) {
                        kept.state.provider.store(Arc::new(p.clone()));
                    }
                    kept.state
                }
                None => self.add(p),
            };
            let key: Arc<str> = p.address().into();
            keys.push(key.clone());
            members.insert(key, Member { index, state });
        }
        self.keys = keys;
        for (gone, _) in std::mem::replace(&mut self.members, members) {
            self.endpoints.evict(&gone);
        }
    }

    fn add(&mut self, p: &Provider) -> Arc<EndpointState> {
        let state = Arc::new(EndpointState::new(p, &self.service, self.load));
        let inner = (self.make)(p);
        self.endpoints.push(p.address().into(), Endpoint::new(inner, state.clone(), self.classify.clone()));
        state
    }

    /// A provider's service failed its readiness check: tower's cache dropped it; it counts as
    /// a failure and is made again at the next change of the set.
    fn failed(&mut self, Failed(address, error): Failed<Arc<str>>) {
        if let Some(member) = self.members.remove(&address) {
            member.state.provider.load().report(Outcome::Failure);
        }
        tracing::debug!(service = %self.service, %address, %error, "a provider's service failed its readiness check");
    }

    fn no_provider(&self) -> Error {
        let set = &self.set;
        let reason = if set.source() == ProviderSource::Empty {
            "ZooKeeper has not been read yet".to_owned()
        } else if set.is_empty() && set.unfiltered_len() > 0 {
            format!(
                "none of the {} registered providers passes the subscription's filter",
                set.unfiltered_len()
            )
        } else if set.is_empty() {
            "no provider is registered".to_owned()
        } else {
            format!(
                "the service of each of its {} providers failed its readiness check (made again when the set changes)",
                set.len()
            )
        };
        Error::NoProvider { service: self.service.to_string(), reason }
    }
}

// === picking ===

impl<S, Req> Balancer<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Response: 'static,
{
    fn promote_pending(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Err(failed)) = self.endpoints.poll_pending(cx) {
            self.failed(failed);
        }
    }

    /// The ready endpoint for the next request: a probe when one is offered, else the cheaper
    /// of two weighted draws. `None` when no pickable endpoint is ready.
    fn choose(&self) -> Option<usize> {
        if self.endpoints.ready_len() == 0 {
            return None;
        }
        if self.set.is_probing() {
            if let Some(probe) = self.probe() {
                return Some(probe);
            }
        }
        let now = Instant::now();
        let (a, cost_a) = self.candidate(now)?;
        let (b, cost_b) = self.candidate(now)?;
        Some(if cost_b * (1.0 + TIE) < cost_a { b } else { a })
    }

    /// Claims the probe of a probed provider whose endpoint is ready.
    fn probe(&self) -> Option<usize> {
        self.set.probe_indexes().iter().find_map(|&i| {
            let p = self.set.provider(i);
            let (ready, ..) = self.endpoints.get_ready(&self.keys[i])?;
            p.health_cell().take_probe().then_some(ready)
        })
    }

    /// One weighted draw that is ready, with its cost; a scan of the ready ones when draws keep
    /// missing.
    fn candidate(&self, now: Instant) -> Option<(usize, f64)> {
        for _ in 0..DRAWS {
            let i = self.draws.pick()?;
            let p = self.set.provider(i);
            if p.health_cell().is_avoided() {
                continue;
            }
            if let Some((ready, _, endpoint)) = self.endpoints.get_ready(&self.keys[i]) {
                return Some((ready, self.cost(endpoint.state(), p.weight(), now)));
            }
        }
        self.scan(now, false).or_else(|| self.scan(now, true))
    }

    /// The cheapest ready endpoint with a weight (and, unless `avoided`, not about to be
    /// ejected).
    fn scan(&self, now: Instant, avoided: bool) -> Option<(usize, f64)> {
        self.endpoints
            .iter_ready()
            .enumerate()
            .filter_map(|(ready, (address, endpoint))| {
                let p = self.set.provider(self.members.get(address)?.index);
                let pickable = (self.uniform || p.weight() > 0) && (avoided || !p.health_cell().is_avoided());
                pickable.then(|| (ready, self.cost(endpoint.state(), p.weight(), now)))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The ready endpoint for `request`: `chosen` when it is in the request's tag route (or
    /// there is none), else the cheapest ready provider of the route.
    fn routed(&self, chosen: usize, request: &Req) -> Result<usize, Error> {
        let Some(tag) = self.route_of.and_then(|tag_of| tag_of(request)) else { return Ok(chosen) };
        let Some(route) = self.set.tag_route(tag) else { return Ok(chosen) };
        let in_route = |key: &Arc<str>| self.members.get(key).is_some_and(|m| route.contains(&m.index));
        if self.endpoints.get_ready_index(chosen).is_some_and(|(key, _)| in_route(key)) {
            return Ok(chosen);
        }
        let now = Instant::now();
        let cheapest = route
            .iter()
            .filter_map(|&i| {
                let (ready, _, endpoint) = self.endpoints.get_ready(&self.keys[i])?;
                Some((ready, self.cost(endpoint.state(), self.set.provider(i).weight(), now)))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        cheapest.map(|(ready, _)| ready).ok_or_else(|| Error::NoProvider {
            service: self.service.to_string(),
            reason: format!("no provider of tag {tag:?} is ready (the service's rules route by tag)"),
        })
    }

    /// Load per unit of weight (the weight relative to the set's mean).
    fn cost(&self, state: &EndpointState, weight: u32, now: Instant) -> f64 {
        let relative = if self.uniform { 1.0 } else { (f64::from(weight) / self.mean_weight).max(1e-9) };
        let pending = state.pending() as f64;
        match self.load {
            BalancerLoad::PendingRequests => pending / relative,
            BalancerLoad::Ewma { .. } | BalancerLoad::PeakEwma { .. } => {
                (state.rtt_ns(now) + RTT_FLOOR_NS) * (pending + relative) / relative
            }
        }
    }
}

impl<S, Req> Service<Req> for Balancer<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Response: 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.poll_updates(cx);
        self.promote_pending(cx);
        loop {
            match self.chosen.take() {
                Some(Chosen::Ready(index)) => match self.endpoints.check_ready_index(cx, index) {
                    Ok(true) => {
                        self.chosen = Some(Chosen::Ready(index));
                        return Poll::Ready(Ok(()));
                    }
                    Ok(false) => {}
                    Err(failed) => self.failed(failed),
                },
                Some(Chosen::NoProvider) | None => {}
            }
            if self.endpoints.is_empty() {
                self.chosen = Some(Chosen::NoProvider);
                return Poll::Ready(Ok(()));
            }
            match self.choose() {
                Some(index) => self.chosen = Some(Chosen::Ready(index)),
                None => return Poll::Pending,
            }
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let chosen = match self.chosen.take() {
            Some(Chosen::Ready(index)) => match self.routed(index, &request) {
                Ok(index) => Some(Chosen::Ready(index)),
                Err(e) => return ResponseFuture { inner: Either::Right(futures::future::err(e.into())) },
            },
            other => other,
        };
        let inner = match chosen {
            Some(Chosen::Ready(index)) => Either::Left(self.endpoints.call_ready_index(index, request)),
            Some(Chosen::NoProvider) => Either::Right(futures::future::err(self.no_provider().into())),
            None => Either::Right(futures::future::err(
                format!("Balancer of {} called before poll_ready returned Ready", self.service).into(),
            )),
        };
        ResponseFuture { inner }
    }
}

impl<S: Service<Req>, Req> std::fmt::Debug for Balancer<S, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("service", &self.service)
            .field("providers", &self.set.len())
            .field("ready", &self.endpoints.ready_len())
            .field("pending", &self.endpoints.pending_len())
            .field("load", &self.load)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`Balancer`] call: the provider's answer, or the error of the provider's
    /// service (boxed), or [`Error::NoProvider`].
    pub struct ResponseFuture<F, T> {
        #[pin]
        inner: Either<Tracked<F, T>, Ready<Result<T, BoxError>>>,
    }
}

impl<F, T, E> Future for ResponseFuture<F, T>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    T: 'static,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F, T> std::fmt::Debug for ResponseFuture<F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
