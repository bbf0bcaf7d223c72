//! Outlier detection: what request outcomes say about a provider, shared by every picker.
//!
//! Every [`Provider`](super::Provider) of a subscription carries a [`Health`] cell, and every
//! picker reports to it: the tower [`Balancer`](super::Balancer) on each response (through its
//! classifier), a [`Subscription::select`](super::Subscription::select) user through
//! [`Provider::report`](super::Provider::report). A report is a few relaxed atomic operations;
//! only a change of state (a provider to eject, a probe's answer) wakes the subscription's
//! ejector task (`ejector.rs`), which decides, applies the cap and rebuilds the provider set,
//! where an ejected provider's effective weight is 0.
//!
//! A provider's states: healthy; *suspect* (it met the policy: failures in a row, a refused
//! connection, or its failure rate over the window; pickers that can, like the balancer, skip
//! it until the ejector decides); ejected
//! (weight 0) for a back-off that doubles with each failed probe; *probing* (the back-off is
//! over: the next pick, by any picker, sends it exactly one request); back to healthy when the
//! probe succeeds, ejected again when it fails.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one request says about the provider that served it; see
/// [`Provider::report`](super::Provider::report) and [`Classify`](super::Classify).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The provider answered (whatever the answer): it ends a run of failures.
    Success,
    /// The provider could not serve the request (a dropped connection, a timeout, a 5xx):
    /// counts towards its ejection.
    Failure,
    /// The provider refused the connection: nothing listens at its address, so the request
    /// was never delivered (safe to retry anywhere). A failure that, under the default policy,
    /// ejects the provider at once ([`OutlierPolicy::eject_on_refused`]).
    Refused,
    /// Says nothing about the provider (a request the caller cancelled, an application error).
    Ignore,
}

/// When a provider is ejected, for how long, and how much of a set may be ejected at once;
/// given to [`SubscribeOptions::outlier`](super::SubscribeOptions::outlier).
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierPolicy {
    pub(crate) consecutive_failures: u32,
    pub(crate) eject_on_refused: bool,
    pub(crate) failure_rate: Option<FailureRate>,
    pub(crate) base_ejection: Duration,
    pub(crate) max_ejection: Duration,
    pub(crate) max_ejected_share: f64,
    pub(crate) probe_timeout: Duration,
}

/// The failure-rate rule of an [`OutlierPolicy`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FailureRate {
    pub(crate) rate: f64,
    pub(crate) minimum_requests: u32,
    pub(crate) window: Duration,
}

impl Default for OutlierPolicy {
    /// 5 failures in a row, a refused connection, or half of at least 20 requests within 10 s
    /// failing ejects a provider, for 1 s doubling up to 60 s, at most half the set.
    fn default() -> Self {
        OutlierPolicy {
            consecutive_failures: 5,
            eject_on_refused: true,
            failure_rate: Some(FailureRate {
                rate: 0.5,
                minimum_requests: 20,
                window: Duration::from_secs(10),
            }),
            base_ejection: Duration::from_secs(1),
            max_ejection: Duration::from_secs(60),
            max_ejected_share: 0.5,
            probe_timeout: Duration::from_secs(10),
        }
    }
}

impl OutlierPolicy {
    /// A provider is ejected after this many failures in a row (a success starts the count
    /// again); 0 turns this rule off (refused connections and the failure rate still eject
    /// unless turned off too). Default: 5.
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = n;
        self
    }

    /// Whether a refused connection ([`Outcome::Refused`]: nothing listens at the provider's
    /// address) ejects the provider at once, without waiting for more failures. Default: on.
    ///
    /// Why on: a refused connection is not a symptom that may pass, like a 5xx or a reset, but
    /// a provider that is not there, and every request sent to it until it is ejected costs the
    /// caller a retry. With only [`consecutive_failures`](Self::consecutive_failures)(5), a
    /// consumer sending 50 requests a second over 3 providers kept sending to a stopped one for
    /// about 400 ms (`zkbench eject --rate 50`); ejecting at the first refusal stops it at once,
    /// as DESIGN.md asks (no new request 50 ms after the first failure). The cap still applies.
    pub fn eject_on_refused(mut self, on: bool) -> Self {
        self.eject_on_refused = on;
        self
    }

    /// A provider is also ejected when at least `rate` (`0.0..=1.0`) of its requests failed
    /// within a window of `window`, once it had `minimum_requests` in that window: it catches a
    /// provider that fails every other request, which a count of failures in a row never does.
    /// Counted over fixed windows (the counts start again every `window`). `rate` above 1.0 or
    /// NaN turns the rule off (as [`no_failure_rate`](Self::no_failure_rate) does). Default:
    /// 0.5 of at least 20 requests within 10 s.
    pub fn failure_rate(mut self, rate: f64, minimum_requests: u32, window: Duration) -> Self {
        self.failure_rate = (rate.is_finite() && rate <= 1.0).then(|| FailureRate {
            rate: rate.max(0.0),
            minimum_requests: minimum_requests.max(1),
            window: window.max(Duration::from_millis(1)),
        });
        self
    }

    /// Turns the failure-rate rule off.
    pub fn no_failure_rate(mut self) -> Self {
        self.failure_rate = None;
        self
    }

    /// How long a first ejection lasts; each failed probe doubles it, up to
    /// [`max_ejection`](Self::max_ejection), and a successful probe starts over. Default: 1 s.
    pub fn base_ejection(mut self, base: Duration) -> Self {
        self.base_ejection = base;
        self
    }

    /// The longest ejection. Default: 60 s.
    pub fn max_ejection(mut self, max: Duration) -> Self {
        self.max_ejection = max;
        self
    }

    /// The largest share of a set's providers (those with a non-zero weight) ejected at once,
    /// clamped to `0.0..=1.0`; rounded down, and never every one of them: a set keeps at least
    /// one provider to pick, however many fail. Default: 0.5.
    pub fn max_ejected_share(mut self, share: f64) -> Self {
        self.max_ejected_share = if share.is_nan() { 0.0 } else { share.clamp(0.0, 1.0) };
        self
    }

    /// How long a probe request may go unanswered (no outcome reported) before another pick may
    /// probe the provider again. Default: 10 s.
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// The ejection after `ejections` ejections in a row (1 for the first): the base, doubled
    /// for each one before, capped.
    pub(crate) fn ejection_time(&self, ejections: u32) -> Duration {
        let doublings = ejections.saturating_sub(1).min(32);
        self.base_ejection.saturating_mul(1u32 << doublings.min(31)).min(self.max_ejection)
    }
}

/// A provider's health as pickers see it; [`Provider::health`](super::Provider::health).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderHealth {
    /// Picked by its weight.
    Healthy,
    /// Ejected after failures: weight 0 until its back-off is over.
    Ejected,
    /// Its back-off is over: one probe request decides whether it comes back.
    Probing,
}

/// The subscription's side of outlier detection: the policy and the ejector's wake-up.
#[derive(Debug)]
pub(crate) struct Outliers {
    pub(crate) service: Arc<str>,
    pub(crate) policy: OutlierPolicy,
    /// What failure-rate windows count their start from.
    epoch: Instant,
    /// Wakes the ejector when a provider changes state.
    pub(crate) wake: tokio::sync::Notify,
    /// The providers the ejector keeps out, sorted by address, sent when that list changes
    /// (read by the health publisher, `health_status.rs`).
    pub(crate) ejected: tokio::sync::watch::Sender<super::health_status::Ejected>,
}

impl Outliers {
    pub(crate) fn new(service: &str, policy: OutlierPolicy) -> Arc<Self> {
        Arc::new(Outliers {
            service: service.into(),
            policy,
            epoch: Instant::now(),
            wake: tokio::sync::Notify::new(),
            ejected: tokio::sync::watch::Sender::new(Arc::from([])),
        })
    }
}

/// Health states (an `AtomicU8`). Reporters move a provider out of `HEALTHY` and `PROBING`;
/// the ejector does every other move.
pub(crate) mod state {
    /// Picked by weight.
    pub(crate) const HEALTHY: u8 = 0;
    /// Reached the failure threshold; the ejector decides.
    pub(crate) const SUSPECT: u8 = 1;
    /// Weight 0 until its deadline.
    pub(crate) const EJECTED: u8 = 2;
    /// Offered for one probe request.
    pub(crate) const PROBING: u8 = 3;
    /// The probe succeeded; the ejector brings it back.
    pub(crate) const PROBE_PASSED: u8 = 4;
    /// The probe failed; the ejector ejects it again.
    pub(crate) const PROBE_FAILED: u8 = 5;
}

/// One provider's health, shared by every set the provider is in.
#[derive(Debug)]
pub(crate) struct Health {
    outliers: Arc<Outliers>,
    state: AtomicU8,
    consecutive: AtomicU32,
    probe_taken: AtomicBool,
    /// Ejections since it was last healthy (the back-off's exponent).
    pub(crate) ejections: AtomicU32,
    /// Whether ZooKeeper still lists it (see [`vanished`] and `protection.rs`).
    vanished: AtomicU8,
    /// The failure-rate window: when it started (ms after `Outliers::epoch`), its requests
    /// and its failures.
    window_start: AtomicU64,
    window_requests: AtomicU32,
    window_failures: AtomicU32,
}

/// Whether a provider is still listed by ZooKeeper, or kept as a suspect by the protection
/// threshold (`protection.rs`) after it vanished.
pub(crate) mod vanished {
    /// Listed by ZooKeeper.
    pub(crate) const LISTED: u8 = 0;
    /// Vanished, kept as a suspect; no request answered since its last check.
    pub(crate) const SUSPECT: u8 = 1;
    /// A suspect that failed a request: pickers pass it over, the set drops it.
    pub(crate) const FAILED: u8 = 2;
    /// A suspect that answered a request since its last check.
    pub(crate) const ANSWERED: u8 = 3;
}

impl Health {
    pub(crate) fn new(outliers: &Arc<Outliers>) -> Self {
        Health {
            outliers: outliers.clone(),
            state: AtomicU8::new(state::HEALTHY),
            consecutive: AtomicU32::new(0),
            probe_taken: AtomicBool::new(false),
            ejections: AtomicU32::new(0),
            vanished: AtomicU8::new(vanished::LISTED),
            window_start: AtomicU64::new(0),
            window_requests: AtomicU32::new(0),
            window_failures: AtomicU32::new(0),
        }
    }

    /// Where the provider stands with ZooKeeper (see [`vanished`]).
    #[inline]
    pub(crate) fn vanished(&self) -> u8 {
        self.vanished.load(Ordering::Acquire)
    }

    /// Marks a vanished provider as a suspect of the protection threshold, or as listed again.
    pub(crate) fn set_vanished(&self, to: u8) {
        self.vanished.store(to, Ordering::Release);
    }

    /// The raw state (see [`state`]).
    #[inline]
    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// What pickers see.
    pub(crate) fn public(&self) -> ProviderHealth {
        match self.state() {
            state::HEALTHY | state::SUSPECT => ProviderHealth::Healthy,
            state::EJECTED => ProviderHealth::Ejected,
            _ => ProviderHealth::Probing,
        }
    }

    /// Whether the provider is out of its sets (weight 0): ejected or being probed.
    pub(crate) fn is_out(&self) -> bool {
        self.state() >= state::EJECTED
    }

    /// Whether a picker should pass this provider over right now: out, suspect (about to be
    /// ejected), or a vanished provider that failed (about to be dropped).
    pub(crate) fn is_avoided(&self) -> bool {
        self.state() != state::HEALTHY || self.vanished() == vanished::FAILED
    }

    /// Records one outcome; wakes the ejector when the provider changes state.
    #[inline]
    pub(crate) fn report(&self, outcome: Outcome) {
        if self.vanished() != vanished::LISTED {
            return self.report_vanished(outcome);
        }
        match (outcome, self.state()) {
            (Outcome::Ignore, _) => {}
            (Outcome::Success, state::HEALTHY) => {
                if self.consecutive.load(Ordering::Relaxed) != 0 {
                    self.consecutive.store(0, Ordering::Relaxed);
                }
                self.count_in_window(false);
            }
            (Outcome::Success, state::SUSPECT) => {
                self.consecutive.store(0, Ordering::Relaxed);
                let _ = self.moved(state::SUSPECT, state::HEALTHY);
            }
            (failure, state::HEALTHY) => {
                let failures = self.consecutive.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                let policy = &self.outliers.policy;
                let threshold = policy.consecutive_failures;
                let by_count = threshold > 0 && failures >= threshold;
                let refused = failure == Outcome::Refused && policy.eject_on_refused;
                let by_rate = self.count_in_window(true);
                if (by_count || refused || by_rate) && self.moved(state::HEALTHY, state::SUSPECT) {
                    self.outliers.wake.notify_one();
                }
            }
            (outcome, state::PROBING) if self.probe_taken.load(Ordering::Acquire) => {
                let to = if outcome == Outcome::Success { state::PROBE_PASSED } else { state::PROBE_FAILED };
                if self.moved(state::PROBING, to) {
                    self.outliers.wake.notify_one();
                }
            }
            _ => {}
        }
    }

    /// Counts one request in the failure-rate window (none without the rule); `true` when the
    /// failures reached the rate over at least the minimum of requests.
    fn count_in_window(&self, failed: bool) -> bool {
        let Some(rule) = self.outliers.policy.failure_rate else { return false };
        let now = self.outliers.epoch.elapsed().as_millis() as u64;
        let start = self.window_start.load(Ordering::Relaxed);
        if now.saturating_sub(start) >= rule.window.as_millis() as u64
            && self.window_start.compare_exchange(start, now, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            self.window_requests.store(0, Ordering::Relaxed);
            self.window_failures.store(0, Ordering::Relaxed);
        }
        let requests = self.window_requests.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if !failed {
            return false;
        }
        let failures = self.window_failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        requests >= rule.minimum_requests && f64::from(failures) >= rule.rate * f64::from(requests)
    }

    /// A vanished provider is kept only while it answers: a success marks it answered, and its
    /// first failure drops it.
    #[cold]
    fn report_vanished(&self, outcome: Outcome) {
        match outcome {
            Outcome::Success => {
                let _ = self.vanished.compare_exchange(
                    vanished::SUSPECT,
                    vanished::ANSWERED,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
            Outcome::Failure | Outcome::Refused => {
                if self.vanished.swap(vanished::FAILED, Ordering::AcqRel) != vanished::FAILED {
                    self.outliers.wake.notify_one();
                }
            }
            Outcome::Ignore => {}
        }
    }

    /// Moves `from` -> `to` if the state is still `from`.
    pub(crate) fn moved(&self, from: u8, to: u8) -> bool {
        self.state.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Claims the one probe request of a probing provider.
    pub(crate) fn take_probe(&self) -> bool {
        self.state() == state::PROBING
            && !self.probe_taken.load(Ordering::Relaxed)
            && self.probe_taken.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }

    /// Whether the probe was claimed.
    pub(crate) fn probe_taken(&self) -> bool {
        self.probe_taken.load(Ordering::Acquire)
    }

    /// Offers the probe again (nobody claimed it yet).
    pub(crate) fn offer_probe(&self) {
        self.probe_taken.store(false, Ordering::Release);
    }

    /// Back to healthy with a clean count (the ejector, after a refused ejection or a probe
    /// that succeeded).
    pub(crate) fn reset(&self, to: u8) {
        self.consecutive.store(0, Ordering::Relaxed);
        self.window_requests.store(0, Ordering::Relaxed);
        self.window_failures.store(0, Ordering::Relaxed);
        self.probe_taken.store(false, Ordering::Relaxed);
        self.state.store(to, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(threshold: u32) -> Health {
        Health::new(&Outliers::new(
            "s",
            OutlierPolicy::default().consecutive_failures(threshold).no_failure_rate(),
        ))
    }

    #[test]
    fn failures_in_a_row_make_a_provider_suspect_and_a_success_ends_the_run() {
        let h = health(3);
        h.report(Outcome::Failure);
        h.report(Outcome::Failure);
        h.report(Outcome::Success);
        h.report(Outcome::Failure);
        h.report(Outcome::Failure);
        assert_eq!(h.state(), state::HEALTHY, "two in a row, not three");
        h.report(Outcome::Ignore);
        h.report(Outcome::Failure);
        assert_eq!(h.state(), state::SUSPECT);
        assert!(h.is_avoided() && !h.is_out());
        assert_eq!(h.public(), ProviderHealth::Healthy, "still in its sets until ejected");
        h.report(Outcome::Success);
        assert_eq!(h.state(), state::HEALTHY, "a success before the ejection clears the suspicion");
    }

    #[test]
    fn a_refused_connection_makes_a_provider_suspect_at_once_unless_turned_off() {
        let h = health(5);
        h.report(Outcome::Refused);
        assert_eq!(h.state(), state::SUSPECT);
        let off = Health::new(&Outliers::new("s", OutlierPolicy::default().eject_on_refused(false)));
        (0..4).for_each(|_| off.report(Outcome::Refused));
        assert_eq!(off.state(), state::HEALTHY, "then it counts as a failure");
        off.report(Outcome::Refused);
        assert_eq!(off.state(), state::SUSPECT, "the fifth in a row");
    }

    #[test]
    fn half_of_the_requests_failing_ejects_once_the_window_has_its_minimum() {
        let policy = OutlierPolicy::default().failure_rate(0.5, 20, Duration::from_secs(3600));
        let h = Health::new(&Outliers::new("s", policy.clone()));
        for _ in 0..9 {
            h.report(Outcome::Success);
            h.report(Outcome::Failure);
        }
        assert_eq!(h.state(), state::HEALTHY, "18 requests: below the minimum; never 2 failures in a row");
        h.report(Outcome::Success);
        h.report(Outcome::Failure);
        assert_eq!(h.state(), state::SUSPECT, "10 failures of 20");
        let below = Health::new(&Outliers::new("s", policy));
        for i in 0..100 {
            below.report(if i % 3 == 0 { Outcome::Failure } else { Outcome::Success });
        }
        assert_eq!(below.state(), state::HEALTHY, "a third failing is below the rate");
        let off = Health::new(&Outliers::new("s", OutlierPolicy::default().no_failure_rate()));
        for _ in 0..100 {
            off.report(Outcome::Success);
            off.report(Outcome::Failure);
        }
        assert_eq!(off.state(), state::HEALTHY);
        assert_eq!(OutlierPolicy::default().failure_rate(f64::NAN, 1, Duration::ZERO).failure_rate, None);
    }

    #[test]
    fn a_zero_threshold_never_ejects() {
        let h = health(0);
        for _ in 0..1000 {
            h.report(Outcome::Failure);
        }
        assert_eq!(h.state(), state::HEALTHY);
    }

    #[test]
    fn only_the_probe_decides_and_only_once() {
        let h = health(1);
        h.reset(state::PROBING);
        h.report(Outcome::Failure);
        assert_eq!(h.state(), state::PROBING, "a late answer from before the probe is ignored");
        assert!(h.take_probe());
        assert!(!h.take_probe(), "one probe request");
        h.report(Outcome::Success);
        assert_eq!(h.state(), state::PROBE_PASSED);
        h.report(Outcome::Failure);
        assert_eq!(h.state(), state::PROBE_PASSED, "the first answer decides");
        h.reset(state::PROBING);
        assert!(h.take_probe());
        h.report(Outcome::Failure);
        assert_eq!(h.state(), state::PROBE_FAILED);
    }

    #[test]
    fn ejections_back_off_exponentially_up_to_the_cap() {
        let p = OutlierPolicy::default()
            .base_ejection(Duration::from_millis(100))
            .max_ejection(Duration::from_secs(1));
        let times: Vec<u128> = (1..=6).map(|n| p.ejection_time(n).as_millis()).collect();
        assert_eq!(times, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.ejection_time(u32::MAX), Duration::from_secs(1));
        assert_eq!(OutlierPolicy::default().max_ejected_share(7.0).max_ejected_share, 1.0);
        assert_eq!(OutlierPolicy::default().max_ejected_share(f64::NAN).max_ejected_share, 0.0);
    }
}
