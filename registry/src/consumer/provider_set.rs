//! The consumer's address cache: an immutable, load-balanced set of one service's providers.
//!
//! A [`ProviderSet`] is built once per membership change (and, while providers warm up, once a
//! tick) and published through `arc-swap`; picks read it without a lock and without allocating.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::balance::{
    warmup_weight, AliasTable, HashRing, InFlight, InFlightGuard, LeastRequests, SmoothRoundRobin,
};
use crate::error::Error;
use crate::url::ServiceUrl;

/// How a subscription picks a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoadBalance {
    /// Weighted random (the default, as in Dubbo).
    #[default]
    Random,
    /// Smooth weighted round-robin (nginx's), shared by every thread of the process.
    RoundRobin,
    /// Least requests in flight by power-of-two-choices, weighted; count requests with
    /// [`Provider::start`].
    LeastRequests,
    /// Consistent hash (ketama, 160 virtual nodes per weight 100) on a key: the same key goes
    /// to the same provider while membership allows. `select()` without a key picks at random.
    ConsistentHash,
}

/// One provider as a consumer sees it.
///
/// Cheap to clone (one reference count): the decoded URL and the in-flight counter are shared by
/// every [`ProviderSet`] the provider is in, so a membership change copies pointers, not URLs.
#[derive(Debug, Clone)]
pub struct Provider {
    inner: Arc<ProviderInner>,
    weight: u32,
}

/// What does not change while a provider stays registered under the same node name.
#[derive(Debug)]
struct ProviderInner {
    url: ServiceUrl,
    node: Arc<str>,
    address: Box<str>,
    /// The URL's `weight` (parsed once).
    weight: u32,
    /// `warmup` and `timestamp`, when the provider ramps up.
    warmup: Option<(Duration, u64)>,
    in_flight: Arc<InFlight>,
}

impl Provider {
    pub(crate) fn new(url: ServiceUrl, node: impl Into<Arc<str>>) -> Self {
        let address = url.address().into();
        let weight = url.weight();
        let warmup = match (url.warmup(), url.timestamp()) {
            (Some(warmup), Some(ts)) if !warmup.is_zero() => Some((warmup, ts)),
            _ => None,
        };
        let inner =
            ProviderInner { url, node: node.into(), address, weight, warmup, in_flight: Arc::default() };
        Provider { inner: Arc::new(inner), weight }
    }

    /// The provider's URL.
    pub fn url(&self) -> &ServiceUrl {
        &self.inner.url
    }

    /// `host:port` (IPv6 in brackets).
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// The znode name the provider registered under.
    pub fn node_name(&self) -> &str {
        &self.inner.node
    }

    /// The weight used for picking: the URL's `weight`, ramped up during the provider's `warmup`.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Requests in flight to this provider, counted by [`Provider::start`] guards.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.get()
    }

    /// Counts one request in flight until the guard is dropped (what
    /// [`LoadBalance::LeastRequests`] balances on).
    pub fn start(&self) -> InFlightGuard {
        self.inner.in_flight.start()
    }

    /// The weight at `now`: the URL's, ramped by its `warmup` from its `timestamp` (Dubbo's rule).
    fn weight_at(&self, now: SystemTime) -> u32 {
        let weight = self.inner.weight;
        match self.inner.warmup {
            Some((warmup, ts)) => {
                let started = UNIX_EPOCH + Duration::from_millis(ts);
                let uptime = now.duration_since(started).unwrap_or(Duration::ZERO);
                warmup_weight(weight, uptime, warmup)
            }
            None => weight,
        }
    }
}

/// Where the addresses of a [`ProviderSet`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderSource {
    /// Nothing read yet.
    Empty,
    /// Read from ZooKeeper.
    ZooKeeper,
    /// Loaded from the disk snapshot because ZooKeeper could not be reached: stale until
    /// ZooKeeper answers.
    DiskSnapshot,
}

/// A provider node that could not be decoded; skipped, never fatal.
#[derive(Debug, Clone)]
pub struct RejectedNode {
    /// The znode name.
    pub node: String,
    /// Why it was refused.
    pub error: Error,
}

#[derive(Debug)]
enum Picker {
    Random(AliasTable),
    RoundRobin(SmoothRoundRobin),
    LeastRequests(LeastRequests),
    ConsistentHash(HashRing, AliasTable),
}

/// An immutable set of one service's providers (after filters), with its balancer.
#[derive(Debug)]
pub struct ProviderSet {
    providers: Vec<Provider>,
    picker: Picker,
    version: u64,
    source: ProviderSource,
    protected: bool,
    rejected: Vec<RejectedNode>,
    unfiltered: usize,
    warming: bool,
    built_at: std::time::Instant,
}

/// What a [`ProviderSet`] is built from.
pub(crate) struct SetParts {
    pub(crate) providers: Vec<Provider>,
    pub(crate) version: u64,
    pub(crate) source: ProviderSource,
    pub(crate) protected: bool,
    pub(crate) rejected: Vec<RejectedNode>,
    pub(crate) unfiltered: usize,
}

impl ProviderSet {
    /// An empty set (before the first read).
    pub(crate) fn empty(balance: LoadBalance) -> Self {
        let parts = SetParts {
            providers: Vec::new(),
            version: 0,
            source: ProviderSource::Empty,
            protected: false,
            rejected: Vec::new(),
            unfiltered: 0,
        };
        Self::build(parts, balance, SystemTime::now())
    }

    /// Builds the set: effective (warm-up) weights at `now`, then the balancer.
    pub(crate) fn build(parts: SetParts, balance: LoadBalance, now: SystemTime) -> Self {
        let SetParts { mut providers, version, source, protected, rejected, unfiltered } = parts;
        providers.sort_by(|a, b| a.url().cmp(b.url()));
        let mut warming = false;
        for p in &mut providers {
            p.weight = p.weight_at(now);
            warming |= p.weight < p.inner.weight;
        }
        let weights: Vec<u32> = providers.iter().map(|p| p.weight).collect();
        let picker = match balance {
            LoadBalance::Random => Picker::Random(AliasTable::new(&weights)),
            LoadBalance::RoundRobin => Picker::RoundRobin(SmoothRoundRobin::new(&weights)),
            LoadBalance::LeastRequests => Picker::LeastRequests(LeastRequests::new(&weights)),
            LoadBalance::ConsistentHash => {
                let ids: Vec<&str> = providers.iter().map(|p| p.address()).collect();
                Picker::ConsistentHash(
                    HashRing::new(&ids, &weights, crate::balance::DEFAULT_REPLICAS),
                    AliasTable::new(&weights),
                )
            }
        };
        let built_at = std::time::Instant::now();
        ProviderSet { providers, picker, version, source, protected, rejected, unfiltered, warming, built_at }
    }

    /// The providers, sorted by URL.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// How many providers.
    pub fn len(&self) -> usize {
        self.providers.len()
    }

    /// Whether there are no providers.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Increases with every update the subscription applies.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Where the addresses come from.
    pub fn source(&self) -> ProviderSource {
        self.source
    }

    /// Whether these addresses are from the disk snapshot, not (yet) confirmed by ZooKeeper.
    pub fn is_stale(&self) -> bool {
        self.source == ProviderSource::DiskSnapshot
    }

    /// Whether ZooKeeper reported no providers and empty protection kept this (last non-empty)
    /// list instead.
    pub fn is_empty_protected(&self) -> bool {
        self.protected
    }

    /// Provider nodes that could not be decoded in the last read.
    pub fn rejected(&self) -> &[RejectedNode] {
        &self.rejected
    }

    /// Providers registered for the service before the group/version/zone filters.
    pub fn unfiltered_len(&self) -> usize {
        self.unfiltered
    }

    /// When this set was built, just before it was published to the cache (how fresh the
    /// cache is; what `zkbench` times propagation to).
    pub fn built_at(&self) -> std::time::Instant {
        self.built_at
    }

    /// Whether a provider is below its weight because it is warming up.
    pub fn is_warming(&self) -> bool {
        self.warming
    }

    /// The provider with this URL, if present.
    pub fn get(&self, url: &ServiceUrl) -> Option<&Provider> {
        self.providers.binary_search_by(|p| p.url().cmp(url)).ok().map(|i| &self.providers[i])
    }

    /// Picks a provider by the subscription's [`LoadBalance`] (random for consistent hash).
    pub fn select(&self) -> Option<&Provider> {
        self.select_index(None).map(|i| &self.providers[i])
    }

    /// Picks a provider for `key`: consistent for [`LoadBalance::ConsistentHash`], otherwise the
    /// key is ignored.
    pub fn select_by_key(&self, key: &[u8]) -> Option<&Provider> {
        self.select_index(Some(key)).map(|i| &self.providers[i])
    }

    /// The index of the provider picked; weighted random (the default) is inlined into the
    /// caller, the other balancers are one call away.
    #[inline]
    pub(crate) fn select_index(&self, key: Option<&[u8]>) -> Option<usize> {
        match &self.picker {
            Picker::Random(r) => r.pick(),
            _ => self.select_index_other(key),
        }
    }

    fn select_index_other(&self, key: Option<&[u8]>) -> Option<usize> {
        match &self.picker {
            Picker::Random(r) => r.pick(),
            Picker::RoundRobin(r) => r.pick(),
            Picker::LeastRequests(l) => l.pick(|i| self.providers[i].in_flight()),
            Picker::ConsistentHash(ring, random) => match key {
                Some(key) => ring.pick(key),
                None => random.pick(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(url: &str) -> Provider {
        let url = ServiceUrl::parse(url).expect("url");
        let node = url.to_node_name();
        Provider::new(url, node.as_str())
    }

    fn set(urls: &[&str], balance: LoadBalance, now: SystemTime) -> ProviderSet {
        let providers: Vec<_> = urls.iter().map(|u| provider(u)).collect();
        let n = providers.len();
        ProviderSet::build(
            SetParts {
                providers,
                version: 1,
                source: ProviderSource::ZooKeeper,
                protected: false,
                rejected: vec![],
                unfiltered: n,
            },
            balance,
            now,
        )
    }

    #[test]
    fn weights_drive_every_balancer() {
        let urls = ["http://a:1/s?weight=100", "http://b:1/s?weight=100", "http://c:1/s?weight=50"];
        for balance in [LoadBalance::Random, LoadBalance::RoundRobin, LoadBalance::LeastRequests] {
            let s = set(&urls, balance, SystemTime::now());
            let mut counts = [0usize; 3];
            let n = 50_000;
            for _ in 0..n {
                let p = s.select().expect("non-empty");
                counts[s.providers().iter().position(|q| q.address() == p.address()).expect("member")] += 1;
            }
            let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
            for (share, want) in shares.iter().zip([0.4, 0.4, 0.2]) {
                assert!((share - want).abs() < 0.02, "{balance:?}: shares {shares:?}");
            }
        }
    }

    #[test]
    fn least_requests_avoids_the_busy_provider() {
        let s = set(&["http://a:1/s", "http://b:1/s"], LoadBalance::LeastRequests, SystemTime::now());
        let busy = s.providers()[0].clone();
        let _guards: Vec<_> = (0..10).map(|_| busy.start()).collect();
        assert_eq!(busy.in_flight(), 10);
        for _ in 0..1000 {
            assert_eq!(s.select().expect("non-empty").address(), "b:1");
        }
    }

    #[test]
    fn consistent_hash_is_sticky() {
        let urls = ["http://a:1/s", "http://b:1/s", "http://c:1/s"];
        let s = set(&urls, LoadBalance::ConsistentHash, SystemTime::now());
        let t = set(&urls, LoadBalance::ConsistentHash, SystemTime::now());
        for key in 0..100u32 {
            let key = key.to_be_bytes();
            let a = s.select_by_key(&key).expect("non-empty").address().to_owned();
            assert_eq!(a, s.select_by_key(&key).expect("non-empty").address());
            assert_eq!(a, t.select_by_key(&key).expect("non-empty").address(), "same in every process");
        }
    }

    #[test]
    fn warmup_ramps_the_weight() {
        let now = SystemTime::now();
        let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).expect("after epoch").as_millis();
        let started = ms(now - Duration::from_secs(30));
        let s = set(
            &[&format!("http://a:1/s?warmup=120&timestamp={started}"), "http://b:1/s"],
            LoadBalance::Random,
            now,
        );
        let a =
            s.get(&ServiceUrl::parse(&format!("http://a:1/s?timestamp={started}&warmup=120")).expect("url"));
        assert_eq!(a.expect("present").weight(), 25, "a quarter of the way through warm-up");
        assert!(s.is_warming());
        let later = set(
            &[&format!("http://a:1/s?warmup=120&timestamp={started}"), "http://b:1/s"],
            LoadBalance::Random,
            now + Duration::from_secs(120),
        );
        assert_eq!(later.providers()[0].weight(), 100);
        assert!(!later.is_warming());
    }

    #[test]
    fn empty_set_picks_nothing() {
        for balance in [
            LoadBalance::Random,
            LoadBalance::RoundRobin,
            LoadBalance::LeastRequests,
            LoadBalance::ConsistentHash,
        ] {
            let s = ProviderSet::empty(balance);
            assert!(s.select().is_none());
            assert!(s.select_by_key(b"k").is_none());
        }
    }
}
