//! [`Provider`]: one provider as a consumer sees it, and its effective weight.
//!
//! A provider's **effective weight** = registered weight x warm-up ramp x operator override x
//! health (0 while ejected or probed), fixed in each [`ProviderSet`](super::ProviderSet) when
//! the set is built, so that every picker of the set agrees on it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::outlier::{Health, Outcome, Outliers, ProviderHealth};
use crate::balance::{warmup_weight, InFlight, InFlightGuard};
use crate::url::ServiceUrl;

/// One provider as a consumer sees it.
///
/// Cheap to clone (one reference count): the decoded URL, the in-flight counter and the health
/// are shared by every [`ProviderSet`](super::ProviderSet) the provider is in, so a membership change copies
/// pointers, not URLs.
#[derive(Debug, Clone)]
pub struct Provider {
    inner: Arc<ProviderInner>,
    /// The effective weight in the set this copy is in.
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
    /// What request outcomes say about it.
    health: Health,
    /// The operator's factor on the weight (`f32` bits; 1.0 until traffic rules set it).
    weight_override: AtomicU32,
    /// The factor from the layout's own overrides (`f32` bits; Dubbo's configurators), which
    /// multiplies the rules' factor: neither resets the other.
    layout_override: AtomicU32,
}

impl Provider {
    pub(crate) fn new(url: ServiceUrl, node: impl Into<Arc<str>>, outliers: &Arc<Outliers>) -> Self {
        let address = url.address().into();
        let weight = url.weight();
        let warmup = match (url.warmup(), url.timestamp()) {
            (Some(warmup), Some(ts)) if !warmup.is_zero() => Some((warmup, ts)),
            _ => None,
        };
        let inner = ProviderInner {
            url,
            node: node.into(),
            address,
            weight,
            warmup,
            in_flight: Arc::default(),
            health: Health::new(outliers),
            weight_override: AtomicU32::new(1.0f32.to_bits()),
            layout_override: AtomicU32::new(1.0f32.to_bits()),
        };
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

    /// The effective weight in this set, what every picker uses: the URL's `weight`, ramped up
    /// during the provider's `warmup`, times the operator's override, and 0 while the provider
    /// is ejected or being probed.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The `weight` the provider registered (its URL's).
    pub fn registered_weight(&self) -> u32 {
        self.inner.weight
    }

    /// The provider's health now (not as of this set: it moves with every report).
    pub fn health(&self) -> ProviderHealth {
        self.inner.health.public()
    }

    /// Whether the provider vanished from ZooKeeper and is kept as a suspect by the
    /// [`ProtectionThreshold`](super::ProtectionThreshold) while it answers (not as of this set:
    /// it moves with every report).
    pub fn is_suspect(&self) -> bool {
        self.inner.health.vanished() != super::outlier::vanished::LISTED
    }

    /// Reports how a request to this provider went, for outlier ejection (see
    /// [`OutlierPolicy`](super::OutlierPolicy)); [`crate::Balancer`] reports by itself, a
    /// [`crate::Subscription::select`] user calls this after each request.
    ///
    /// Cheap: a few relaxed atomic operations (and, with the failure-rate rule on, as by
    /// default, a read of the monotonic clock and two counters). An ejection takes effect when
    /// the subscription's ejector has rebuilt the set, a moment later.
    #[inline]
    pub fn report(&self, outcome: Outcome) {
        self.inner.health.report(outcome);
    }

    /// Requests in flight to this provider, counted by [`Provider::start`] guards.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.get()
    }

    /// Counts one request in flight until the guard is dropped (what
    /// [`LoadBalance::LeastRequests`](super::LoadBalance::LeastRequests) balances on).
    pub fn start(&self) -> InFlightGuard {
        self.inner.in_flight.start()
    }

    /// Whether `other` is the same registration (node), not just the same address.
    pub(crate) fn same_registration(&self, other: &Provider) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn health_cell(&self) -> &Health {
        &self.inner.health
    }

    /// Sets the operator's factor on this provider's weight (0 disables it, 2.0 doubles it;
    /// clamped to `0.0..=1000.0`); it applies to the sets built from then on.
    #[inline]
    pub(crate) fn set_weight_override(&self, factor: f64) {
        let factor = if factor.is_nan() { 1.0 } else { factor.clamp(0.0, 1000.0) };
        let bits = (factor as f32).to_bits();
        // Most builds set the factor a provider already has: a load keeps its line clean.
        if self.inner.weight_override.load(Ordering::Relaxed) != bits {
            self.inner.weight_override.store(bits, Ordering::Relaxed);
        }
    }

    /// Sets the factor from the layout's own overrides (Dubbo's configurators), kept apart from
    /// the rules' factor (`set_weight_override`); the two multiply. Clamped like it.
    pub(crate) fn set_layout_override(&self, factor: f64) {
        let factor = if factor.is_nan() { 1.0 } else { factor.clamp(0.0, 1000.0) };
        self.inner.layout_override.store((factor as f32).to_bits(), Ordering::Relaxed);
    }

    /// The rules' factor times the layout's (at most 1000).
    fn weight_override(&self) -> f64 {
        let rules = f64::from(f32::from_bits(self.inner.weight_override.load(Ordering::Relaxed)));
        let layout = f64::from(f32::from_bits(self.inner.layout_override.load(Ordering::Relaxed)));
        (rules * layout).min(1000.0)
    }

    /// The registered weight times the override (what the ejection cap counts).
    pub(crate) fn weight_before_health(&self) -> u32 {
        scale(self.inner.weight, self.weight_override())
    }

    /// Sets this copy's effective weight at `now` (ramp, override, health), as a set is
    /// built; returns it, whether the provider is still warming up, and whether it is offered
    /// for a probe request. In a set built `without_rules` the rules' factor goes back to 1
    /// first. A provider that does not ramp, with no override, costs a few loads.
    #[inline]
    pub(super) fn reweigh(&mut self, now: SystemTime, without_rules: bool) -> (u32, bool, bool) {
        if without_rules {
            self.set_weight_override(1.0);
        }
        let state = self.inner.health.state();
        if self.inner.warmup.is_none() && state < super::outlier::state::EJECTED && self.has_no_override() {
            self.weight = self.inner.weight;
            return (self.weight, false, false);
        }
        self.reweigh_at(state, now)
    }

    /// [`Provider::reweigh`] of a provider that ramps, has an override or is out of rotation.
    #[inline(never)]
    fn reweigh_at(&mut self, state: u8, now: SystemTime) -> (u32, bool, bool) {
        let ramped = self.weight_at(now);
        self.weight = if state >= super::outlier::state::EJECTED {
            0
        } else if self.has_no_override() {
            ramped
        } else {
            scale(ramped, self.weight_override())
        };
        (self.weight, ramped < self.inner.weight, state == super::outlier::state::PROBING)
    }

    /// Whether neither the rules nor the layout change the weight (both factors exactly 1).
    #[inline]
    fn has_no_override(&self) -> bool {
        let one = 1.0f32.to_bits();
        self.inner.weight_override.load(Ordering::Relaxed) == one
            && self.inner.layout_override.load(Ordering::Relaxed) == one
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

/// `weight x factor`, rounded, at least 1 when both are positive, at most `u32::MAX`.
pub(crate) fn scale(weight: u32, factor: f64) -> u32 {
    if factor == 1.0 || weight == 0 {
        return weight;
    }
    if factor <= 0.0 {
        return 0;
    }
    (f64::from(weight) * factor).round().clamp(1.0, f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::outlier::state;

    fn provider(url: &str) -> Provider {
        let url = ServiceUrl::parse(url).expect("url");
        let node = url.to_node_name();
        Provider::new(url, node.as_str(), &Outliers::new("s", Default::default()))
    }

    fn reweighed(p: &Provider, now: SystemTime) -> u32 {
        let mut copy = p.clone();
        copy.reweigh(now, false);
        copy.weight()
    }

    #[test]
    fn effective_weight_is_registered_times_ramp_times_override_times_health() {
        let now = SystemTime::now();
        let started = (now - Duration::from_secs(30)).duration_since(UNIX_EPOCH).expect("epoch").as_millis();
        let p = provider(&format!("http://a:1/s?weight=200&warmup=120&timestamp={started}"));
        assert_eq!((p.registered_weight(), reweighed(&p, now)), (200, 50), "a quarter through warm-up");
        p.set_weight_override(2.0);
        assert_eq!(reweighed(&p, now), 100, "ramp x override");
        assert_eq!(reweighed(&p, now + Duration::from_secs(120)), 400, "warm");
        p.health_cell().reset(state::EJECTED);
        assert_eq!(reweighed(&p, now + Duration::from_secs(120)), 0, "ejected");
        assert_eq!(p.weight_before_health(), 400, "the cap counts it as active");
        p.health_cell().reset(state::PROBING);
        assert_eq!(reweighed(&p, now), 0, "a probed provider gets its probe only");
        p.health_cell().reset(state::SUSPECT);
        assert_eq!(reweighed(&p, now), 100, "a suspect keeps its weight until ejected");
    }

    #[test]
    fn overrides_round_clamp_and_never_revive_a_zero_weight() {
        let p = provider("http://a:1/s?weight=3");
        let zero = provider("http://b:1/s?weight=0");
        let huge = provider(&format!("http://c:1/s?weight={}", crate::url::MAX_WEIGHT));
        let now = SystemTime::now();
        for (factor, want) in [(0.5, 2), (0.01, 1), (0.0, 0), (-3.0, 0), (f64::NAN, 3), (1e9, 3000)] {
            p.set_weight_override(factor);
            assert_eq!(reweighed(&p, now), want, "factor {factor}");
        }
        zero.set_weight_override(10.0);
        assert_eq!(reweighed(&zero, now), 0, "weight 0 stays disabled");
        huge.set_weight_override(1000.0);
        assert_eq!(reweighed(&huge, now), 1_000_000_000, "no overflow");
        assert_eq!(scale(u32::MAX, 1000.0), u32::MAX);
    }

    #[test]
    fn a_report_reaches_every_copy_of_the_provider() {
        let outliers = Outliers::new("s", super::super::OutlierPolicy::default().consecutive_failures(2));
        let url = ServiceUrl::parse("http://a:1/s").expect("url");
        let p = Provider::new(url, "node", &outliers);
        let copy = p.clone();
        p.report(Outcome::Failure);
        copy.report(Outcome::Failure);
        assert_eq!(p.health_cell().state(), state::SUSPECT);
        assert_eq!(p.health(), ProviderHealth::Healthy, "until the ejector ejects it");
        assert!(copy.same_registration(&p));
    }
}
