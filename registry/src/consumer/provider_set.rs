//! The consumer's address cache: an immutable, load-balanced set of one service's providers.
//!
//! A [`ProviderSet`] is built once per membership change (and, while providers warm up, once a
//! tick; and when a provider is ejected or comes back) and published through `arc-swap`; picks
//! read it without a lock and without allocating.
//!
//! Each provider's **effective weight** is fixed when the set is built: registered weight x
//! warm-up ramp x operator override x health (0 while ejected or probed). Every picker reads it
//! from the set (the balancers below, [`crate::Balancer`]), so they all agree.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::routes::{Folded, Routes, Ruling};
use super::sorted_providers::SortedProviders;
use super::Provider;
use crate::balance::{AliasTable, HashRing, LeastRequests, SmoothRoundRobin};
use crate::error::Error;
use crate::rules::RequestContext;
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
pub(crate) enum Picker {
    Random(AliasTable),
    RoundRobin(SmoothRoundRobin),
    LeastRequests(LeastRequests),
    ConsistentHash(HashRing, AliasTable),
    /// Providers are being probed (`ProviderSet::probes`): the first pick of each probe goes to
    /// it, the others to the balancer inside. Only then do picks leave the fast path.
    Probing(Box<Picker>),
}

/// An immutable set of one service's providers (after filters), with its balancer.
#[derive(Debug)]
pub struct ProviderSet {
    /// Shared with the directory's list of ZooKeeper's providers when the set is that list
    /// (no suspect, zone preference or rule changed it), so that a change copies one chunk.
    providers: SortedProviders,
    /// The providers in one slice, what picks read: the one chunk of a full build, shared;
    /// after a change applied in place, made by [`ProviderSet::settle`] once the set has been
    /// current a little while (until then picks look the chunks up).
    flat: OnceLock<Arc<[Provider]>>,
    picker: Picker,
    version: u64,
    source: ProviderSource,
    protected: bool,
    rejected: Vec<RejectedNode>,
    unfiltered: usize,
    warming: bool,
    /// Indexes of the providers offered for a probe request.
    probes: Box<[usize]>,
    built_at: std::time::Instant,
    /// The providers before traffic rules took some out (`None`: the same as `providers`).
    candidates: Option<Vec<Provider>>,
    /// The rules' routes (`None` without routing rules: picks take the plain path).
    routes: Option<Box<Routes>>,
    /// The main picker's weights when routes mask some providers out of it.
    main_weights: Option<Box<[u32]>>,
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

impl SetParts {
    /// The parts of a set of `providers` read from ZooKeeper: version 1, nothing rejected.
    #[cfg(test)]
    pub(crate) fn listed(providers: Vec<Provider>) -> Self {
        let unfiltered = providers.len();
        let source = ProviderSource::ZooKeeper;
        SetParts { providers, version: 1, source, protected: false, rejected: Vec::new(), unfiltered }
    }
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

    /// Builds the set without traffic rules from providers in any order.
    pub(crate) fn build(mut parts: SetParts, balance: LoadBalance, now: SystemTime) -> Self {
        sort_by_url(&mut parts.providers);
        Self::build_ruled(parts, &Ruling::default(), balance, now)
    }

    /// Builds the set from providers sorted by URL (the directory keeps them so; see
    /// [`sort_by_url`]): traffic rules folded in (who stays, override factors, routes),
    /// effective weights at `now` (ramp, override, health), then the balancer and the routes'
    /// pickers. One pass over the providers weighs them, finds the probed ones and collects
    /// the weights.
    pub(crate) fn build_ruled(
        parts: SetParts,
        ruling: &Ruling,
        balance: LoadBalance,
        now: SystemTime,
    ) -> Self {
        let SetParts { providers: candidates, version, source, protected, rejected, unfiltered } = parts;
        debug_assert!(candidates.is_sorted_by(|a, b| a.url() <= b.url()), "providers sorted by URL");
        let without_rules = ruling.rules.is_empty();
        let Folded { mut providers, candidates, compiled } = super::routes::fold(candidates, ruling);
        let mut warming = false;
        let mut probes = Vec::new();
        let mut weights = Vec::with_capacity(providers.len());
        for (i, p) in providers.iter_mut().enumerate() {
            let (weight, ramping, probed) = p.reweigh(now, without_rules);
            warming |= ramping;
            if probed {
                probes.push(i);
            }
            weights.push(weight);
        }
        let main_weights = compiled.as_ref().and_then(|c| super::routes::main_weights(c, &weights));
        let mut picker = Self::picker(providers.iter(), main_weights.as_deref().unwrap_or(&weights), balance);
        if !probes.is_empty() {
            picker = Picker::Probing(Box::new(picker));
        }
        let routes = compiled.map(|c| Box::new(Routes::build(&c, &providers, &weights, balance)));
        let built_at = std::time::Instant::now();
        let probes = probes.into();
        let main_weights = main_weights.map(Vec::into_boxed_slice);
        let providers: Arc<[Provider]> = providers.into();
        ProviderSet {
            flat: OnceLock::from(providers.clone()),
            providers: SortedProviders::from_slice(providers),
            picker,
            version,
            source,
            protected,
            rejected,
            unfiltered,
            warming,
            probes,
            built_at,
            candidates,
            routes,
            main_weights,
        }
    }

    /// The balancer of `balance` over `providers`, with these `weights`.
    pub(crate) fn picker<'a>(
        providers: impl Iterator<Item = &'a Provider>,
        weights: &[u32],
        balance: LoadBalance,
    ) -> Picker {
        match balance {
            LoadBalance::Random => Picker::Random(AliasTable::new(weights)),
            LoadBalance::RoundRobin => Picker::RoundRobin(SmoothRoundRobin::new(weights)),
            LoadBalance::LeastRequests => Picker::LeastRequests(LeastRequests::new(weights)),
            LoadBalance::ConsistentHash => {
                let ids: Vec<&str> = providers.map(|p| p.address()).collect();
                Picker::ConsistentHash(
                    HashRing::new(&ids, weights, crate::balance::DEFAULT_REPLICAS),
                    AliasTable::new(weights),
                )
            }
        }
    }

    /// The set after one provider arrived or left ZooKeeper's listing: `providers` is this
    /// set's list with that change, its other providers keeping their effective weights (what
    /// moves a weight, a rule, health, a warm-up tick, rebuilds the set instead), and the
    /// balancer is built again over the weights. The directory calls it only on a set that is
    /// the listing as is (`one_change.rs`): no rule, suspect, zone preference, probe or
    /// warm-up, and not consistent hashing, whose ring is rebuilt from the providers anyway.
    pub(crate) fn changed(
        &self,
        providers: SortedProviders,
        version: u64,
        unfiltered: usize,
        warming: bool,
        balance: LoadBalance,
    ) -> Self {
        debug_assert!(self.routes.is_none() && self.candidates.is_none() && self.probes.is_empty());
        let weights = providers.weights();
        let flat = providers.one_slice().map_or_else(OnceLock::new, OnceLock::from);
        ProviderSet {
            picker: Self::picker(providers.iter(), &weights, balance),
            providers,
            flat,
            version,
            source: ProviderSource::ZooKeeper,
            protected: false,
            rejected: self.rejected.clone(),
            unfiltered,
            warming,
            probes: Box::default(),
            built_at: std::time::Instant::now(),
            candidates: None,
            routes: None,
            main_weights: None,
        }
    }

    /// The providers, sorted by URL.
    ///
    /// A set changed in place keeps its providers in shared chunks (a change copies one) and
    /// one slice of them made once it has been current a little while; a call before that
    /// makes the slice.
    pub fn providers(&self) -> &[Provider] {
        self.flat.get_or_init(|| self.providers.to_vec().into())
    }

    /// The providers in order, without making one slice of them.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Provider> + '_ {
        self.providers.iter()
    }

    /// The provider at `index` of [`ProviderSet::providers`]: from the one slice once it is
    /// made ([`ProviderSet::settle`]), from the chunks before.
    #[inline]
    pub(crate) fn provider(&self, index: usize) -> &Provider {
        match self.flat.get() {
            Some(flat) => &flat[index],
            None => self.providers.at(index),
        }
    }

    /// Makes the one slice that picks read when the providers span several chunks (after a
    /// change applied in place): the subscription's settler calls it once the set has been
    /// current a little while (`one_change.rs`), so that picks do not pay the chunk lookup.
    pub(crate) fn settle(&self) {
        let _ = self.providers();
    }

    /// Whether picks read one slice (the set is settled, or was built whole, or fits one chunk).
    pub(crate) fn is_settled(&self) -> bool {
        self.flat.get().is_some()
    }

    /// The providers as the set shares them, when they are all its candidates (no traffic rule
    /// took one out): what the directory keeps as ZooKeeper's list instead of a copy of it.
    pub(crate) fn shared_providers(&self) -> Option<SortedProviders> {
        self.candidates.is_none().then(|| self.providers.clone())
    }

    /// The providers in their shared chunks.
    pub(crate) fn sorted_providers(&self) -> &SortedProviders {
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
        self.providers.search(url).ok().map(|i| self.provider(i))
    }

    /// Picks a provider by the subscription's [`LoadBalance`] (random for consistent hash).
    pub fn select(&self) -> Option<&Provider> {
        self.select_index(None).map(|i| self.provider(i))
    }

    /// Picks a provider for `key`: consistent for [`LoadBalance::ConsistentHash`], otherwise the
    /// key is ignored.
    pub fn select_by_key(&self, key: &[u8]) -> Option<&Provider> {
        self.select_index(Some(key)).map(|i| self.provider(i))
    }

    /// Picks a provider for a request with this context: by its tag when the rules route by
    /// tag, stable per key within the rules' split, by its key for
    /// [`LoadBalance::ConsistentHash`]. Without routing rules, the same as
    /// [`ProviderSet::select_by_key`] (or [`ProviderSet::select`] without a key). `None` when
    /// the route has no provider (a tag no provider carries under strict tag routing).
    pub fn select_with(&self, context: &RequestContext<'_>) -> Option<&Provider> {
        self.select_index_with(context).map(|i| self.provider(i))
    }

    /// The index of the provider picked for `context`.
    pub(crate) fn select_index_with(&self, context: &RequestContext<'_>) -> Option<usize> {
        match &self.routes {
            None => self.select_index(context.key),
            Some(routes) => routes.select(self, context),
        }
    }

    /// The providers a request carrying `tag` may go to, when the rules route by tag.
    pub(crate) fn tag_route(&self, tag: &str) -> Option<&[usize]> {
        self.routes.as_ref()?.tag_members(tag)
    }

    /// The providers before traffic rules took the disabled (and routed-away) ones out.
    pub fn candidates(&self) -> &[Provider] {
        self.candidates.as_deref().unwrap_or(self.providers())
    }

    /// The weights the set's main picker (and [`crate::Balancer`]) draws by: each provider's
    /// effective weight, or 0 outside the default route when the rules route by tag.
    pub(crate) fn pick_weights(&self) -> Vec<u32> {
        match &self.main_weights {
            Some(w) => w.to_vec(),
            None => self.providers.iter().map(Provider::weight).collect(),
        }
    }

    /// A pick by `picker`, a route's picker over `members` of this set (an index into `members`).
    pub(crate) fn pick_route(&self, picker: &Picker, members: &[usize], key: Option<&[u8]>) -> Option<usize> {
        match picker {
            Picker::Random(r) => r.pick(),
            Picker::RoundRobin(r) => r.pick(),
            Picker::LeastRequests(l) => l.pick(|i| self.provider(members[i]).in_flight()),
            Picker::ConsistentHash(ring, random) => match key {
                Some(key) => ring.pick(key),
                None => random.pick(),
            },
            Picker::Probing(inner) => self.pick_route(inner, members, key),
        }
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
        self.pick_with(&self.picker, key)
    }

    fn pick_with(&self, picker: &Picker, key: Option<&[u8]>) -> Option<usize> {
        match picker {
            Picker::Random(r) => r.pick(),
            Picker::RoundRobin(r) => r.pick(),
            Picker::LeastRequests(l) => l.pick(|i| self.provider(i).in_flight()),
            Picker::ConsistentHash(ring, random) => match key {
                Some(key) => ring.pick(key),
                None => random.pick(),
            },
            Picker::Probing(inner) => self.take_probe().or_else(|| self.pick_with(inner, key)),
        }
    }

    /// Claims a probe request: the index of a provider offered for one, at most once per
    /// offer, whoever picks (see [`OutlierPolicy`](super::OutlierPolicy)).
    pub(crate) fn take_probe(&self) -> Option<usize> {
        self.probes.iter().copied().find(|&i| self.provider(i).health_cell().take_probe())
    }

    /// The indexes of the providers offered for a probe request.
    pub(crate) fn probe_indexes(&self) -> &[usize] {
        &self.probes
    }

    /// Whether some provider is offered for a probe request.
    pub fn is_probing(&self) -> bool {
        !self.probes.is_empty()
    }
}

/// Sorts `providers` by URL, the order of every set (a set is built from a sorted list without
/// sorting it again; the order `get` searches by).
pub(crate) fn sort_by_url(providers: &mut [Provider]) {
    providers.sort_by(|a, b| a.url().cmp(b.url()));
}

#[cfg(test)]
mod tests;
