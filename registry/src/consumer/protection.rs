//! The protection threshold: when more than a set share of a subscription's providers vanish
//! from ZooKeeper within a short window, the vanished ones stay in the set as *suspects* for a
//! bounded time, kept only while requests show them answering.
//!
//! Many providers leaving at once is rarely a fleet going away: it is a ZooKeeper-side mistake
//! (a script deleting nodes, a wrong chroot), or a mass session expiry (ZooKeeper or the
//! network stalled longer than the session timeout, and the providers, alive, re-register a
//! second later). Nacos calls this its protect threshold and Envoy its panic threshold; empty
//! protection (`directory.rs`) is the extreme case, the whole list gone: it keeps the last list
//! with no time limit when on, and empties the set when turned off, so the threshold leaves a
//! listing of no provider to it.
//!
//! How it works: every listing the directory publishes is compared with the previous one (the
//! providers that pass the group and version filter). Departures, and how many providers were
//! listed, are remembered for [`ProtectionThreshold::window`]; when the providers listed now are
//! fewer than the most listed within the window by more than [`ProtectionThreshold::share`] of
//! that most, every departure of the window becomes a suspect until
//! [`ProtectionThreshold::hold`] has passed. A rolling deploy, where new providers arrive as
//! old ones leave, does not shrink the list and never trips it.
//!
//! A suspect is picked by its weight like any provider, and is kept only while outcomes
//! (reported by the [`Balancer`](super::Balancer) or [`Provider::report`]) show it answering:
//! it is dropped from the set at its first failed request, when
//! [`ProtectionThreshold::answer_within`] passes without a request it answered, when its hold
//! ends, or when its address registers again (the new registration takes its place; a node
//! that comes back under its own name is simply listed again). The subscription's ejector task
//! drops them and rebuilds the set.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::outlier::vanished;
use super::sorted_providers::SortedProviders;
use super::{NameMap, NameSet, Provider};
use crate::session::lock;

/// When providers that vanish from ZooKeeper all at once are kept as suspects, and for how
/// long; given to [`SubscribeOptions::protection`](super::SubscribeOptions::protection).
///
/// Suspects are kept only while outcomes show them answering: the [`Balancer`](super::Balancer)
/// reports them by itself; a [`Subscription::select`](super::Subscription::select) user
/// reports with [`Provider::report`]. Without reports, a suspect is dropped after
/// [`answer_within`](Self::answer_within).
///
/// A deliberate scale-down of more than the share within the window trips it too: the
/// providers removed are kept until they fail a request or stop answering.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectionThreshold {
    pub(crate) share: f64,
    pub(crate) window: Duration,
    pub(crate) hold: Duration,
    pub(crate) answer_within: Duration,
}

impl Default for ProtectionThreshold {
    /// More than half of the providers vanishing within 10 s keeps them for up to 30 s, each
    /// while it answers a request every 2 s.
    fn default() -> Self {
        ProtectionThreshold {
            share: 0.5,
            window: Duration::from_secs(10),
            hold: Duration::from_secs(30),
            answer_within: Duration::from_secs(2),
        }
    }
}

impl ProtectionThreshold {
    /// Never keeps a vanished provider (empty protection, a separate setting, still applies).
    pub fn off() -> Self {
        ProtectionThreshold { share: 1.0, ..Self::default() }
    }

    /// The threshold trips when the list shrinks, within the window, by *more than* this share
    /// of the most providers listed in the window; clamped to `0.0..=1.0` (1.0 never trips).
    /// Default: 0.5 (10 down to 4 trips, 10 down to 5 does not).
    pub fn share(mut self, share: f64) -> Self {
        self.share = if share.is_nan() { 1.0 } else { share.clamp(0.0, 1.0) };
        self
    }

    /// How long a departure, and a list size, count towards the threshold. Default: 10 s.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How long a suspect is kept at most (it is dropped sooner at its first failed request).
    /// Default: 30 s.
    pub fn hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    /// A suspect must answer a request (a reported [`Outcome::Success`](super::Outcome::Success))
    /// within each period this long, from when it became a suspect, or it is dropped. Default:
    /// 2 s.
    pub fn answer_within(mut self, period: Duration) -> Self {
        self.answer_within = period;
        self
    }

    fn is_off(&self) -> bool {
        self.share >= 1.0 || self.hold.is_zero()
    }
}

/// One provider that left ZooKeeper's listing within the window.
struct Departure {
    at: Instant,
    provider: Provider,
    /// Made a suspect already (or dropped): never held twice.
    settled: bool,
}

/// A vanished provider kept in the set.
struct Suspect {
    provider: Provider,
    /// The end of its hold.
    until: Instant,
    /// When it must have answered a request since the last check.
    check: Instant,
}

/// What the threshold remembers between listings.
#[derive(Default)]
struct State {
    /// The providers of the last listing, in its order.
    last: SortedProviders,
    departures: VecDeque<Departure>,
    /// How many of `departures` have each address and each node name: an arrival with
    /// neither welcomes no one, and is checked without a walk over the window's departures.
    /// (Both, because a Curator instance id may come back at another address.)
    departed: NameMap<Box<str>, usize>,
    /// How many providers listings of the window had: the window's peak and the sizes that
    /// may become it once the peak leaves the window, decreasing (a monotonic queue).
    sizes: VecDeque<(Instant, usize)>,
    /// The suspects, by node name.
    suspects: NameMap<Arc<str>, Suspect>,
    /// Whether the threshold is tripped (logged and counted once per episode).
    tripped: bool,
}

/// A subscription's protection threshold (see the module docs).
pub(crate) struct Protection {
    service: Arc<str>,
    policy: ProtectionThreshold,
    state: Mutex<State>,
}

impl Protection {
    pub(crate) fn new(service: &str, policy: ProtectionThreshold) -> Self {
        Protection { service: service.into(), policy, state: Mutex::default() }
    }

    /// [`Protection::observe`] of `listed`, then [`Protection::remember`] of a copy of it.
    #[cfg(test)]
    pub(crate) fn observe_and_remember(&self, listed: &[Provider], now: Instant) -> bool {
        let held = self.observe(listed, now);
        self.remember(SortedProviders::from_vec(listed.to_vec()));
        held
    }

    /// Takes in ZooKeeper's providers of a new listing (after the group and version filter):
    /// departures are counted, suspects listed again or replaced at their address are let go,
    /// and, when the threshold trips, the departures of the window become suspects (then
    /// `true`: the ejector's timer must learn of their hold). The caller then hands the same
    /// providers to [`Protection::remember`], before the next listing.
    ///
    /// The window's peak is kept by a monotonic queue, so that a change costs no pass over the
    /// window's listings.
    pub(crate) fn observe(&self, listed: &[Provider], now: Instant) -> bool {
        if self.policy.is_off() {
            return false;
        }
        let mut st = lock(&self.state);
        let (departed, arrived) = diff(&st.last, listed);
        self.observe_diff(&mut st, departed, &arrived, listed.len(), now)
    }

    /// [`Protection::observe`] of a listing that differs from the last one by `departed` or
    /// `arrived` (one provider, known from the watch event: no walk over the lists). The
    /// caller then hands the listing to [`Protection::remember`].
    pub(crate) fn observe_one(
        &self,
        departed: Option<&Provider>,
        arrived: Option<&Provider>,
        listed: usize,
        now: Instant,
    ) -> bool {
        if self.policy.is_off() {
            return false;
        }
        let mut st = lock(&self.state);
        let (departed, arrived) = (Vec::from_iter(departed.cloned()), Vec::from_iter(arrived.cloned()));
        self.observe_diff(&mut st, departed, &arrived, listed, now)
    }

    /// Counts `departed` and welcomes `arrived` (the difference between the last listing and
    /// one of `listed` providers), then trips when the list shrank too much.
    fn observe_diff(
        &self,
        st: &mut State,
        departed: Vec<Provider>,
        arrived: &[Provider],
        listed: usize,
        now: Instant,
    ) -> bool {
        let peak = st.last.len();
        for provider in departed {
            for key in [provider.address(), provider.node_name()] {
                *st.departed.entry(key.into()).or_default() += 1;
            }
            st.departures.push_back(Departure { at: now, provider, settled: false });
        }
        let window = self.policy.window;
        while st.departures.front().is_some_and(|d| d.at + window < now) {
            if let Some(gone) = st.departures.pop_front() {
                forget(&mut st.departed, &gone.provider);
            }
        }
        while st.sizes.front().is_some_and(|(at, _)| *at + window < now) {
            st.sizes.pop_front();
        }
        // Sizes decrease from front to back: the front is the window's peak, and a size no
        // bigger than a later one can never be a peak again.
        let peak = st.sizes.front().map_or(peak, |(_, n)| peak.max(*n));
        while st.sizes.back().is_some_and(|(_, n)| *n <= listed) {
            st.sizes.pop_back();
        }
        st.sizes.push_back((now, listed));
        let departure_back = arrived
            .iter()
            .any(|p| st.departed.contains_key(p.address()) || st.departed.contains_key(p.node_name()));
        if !arrived.is_empty() && (departure_back || !st.suspects.is_empty()) {
            self.welcome(st, arrived);
        }
        let held = self.trip(st, listed, peak, now);
        crate::metrics::suspects(&self.service, st.suspects.len());
        held
    }

    /// Departures and suspects whose node is listed again, or whose address registered again,
    /// are over: a suspect listed again is a member, one replaced at its address is dropped.
    fn welcome(&self, st: &mut State, arrived: &[Provider]) {
        let names: NameSet<&str> = arrived.iter().map(Provider::node_name).collect();
        let addresses: NameSet<&str> = arrived.iter().map(Provider::address).collect();
        let back = |p: &Provider| names.contains(p.node_name()) || addresses.contains(p.address());
        let (departures, counts) = (&mut st.departures, &mut st.departed);
        departures.retain(|d| {
            let stays = !back(&d.provider);
            if !stays {
                forget(counts, &d.provider);
            }
            stays
        });
        let service = &self.service;
        st.suspects.retain(|_, Suspect { provider: p, .. }| {
            if names.contains(p.node_name()) {
                p.health_cell().set_vanished(vanished::LISTED);
                tracing::info!(%service, address = p.address(), "a suspect is listed again");
                return false;
            }
            let keep = !addresses.contains(p.address());
            if !keep {
                dropped(service, p, "registered again at its address");
            }
            keep
        });
    }

    /// Holds the window's departures as suspects when the list shrank by more than the share
    /// of its `peak` in the window.
    fn trip(&self, st: &mut State, listed: usize, peak: usize, now: Instant) -> bool {
        let lost = peak.saturating_sub(listed);
        // A list of none is empty protection's case: kept whole without a limit, or emptied.
        let tripped = listed > 0 && lost as f64 > self.policy.share * peak as f64;
        if !tripped {
            st.tripped = !st.suspects.is_empty() && st.tripped;
            return false;
        }
        let until = now + self.policy.hold;
        let check = now + self.policy.answer_within.max(Duration::from_millis(1));
        let mut held = 0;
        let (departures, suspects) = (&mut st.departures, &mut st.suspects);
        for d in departures.iter_mut().filter(|d| !d.settled) {
            d.settled = true;
            d.provider.health_cell().set_vanished(vanished::SUSPECT);
            let suspect = Suspect { provider: d.provider.clone(), until, check };
            suspects.insert(d.provider.node_name().into(), suspect);
            held += 1;
        }
        if held > 0 && !st.tripped {
            tracing::warn!(
                service = %self.service, vanished = st.departures.len(), listed, peak,
                window_ms = self.policy.window.as_millis() as u64,
                hold_ms = self.policy.hold.as_millis() as u64,
                "protection threshold: most providers vanished at once; keeping them as suspects while they answer"
            );
            crate::metrics::protection_tripped(&self.service);
        }
        st.tripped = true;
        held > 0
    }

    /// Keeps `listed`, the providers last observed, to compare the next listing with (shared,
    /// not copied: the directory keeps the same list).
    pub(crate) fn remember(&self, listed: SortedProviders) {
        if !self.policy.is_off() {
            lock(&self.state).last = listed;
        }
    }

    /// Whether some vanished provider is kept as a suspect.
    pub(crate) fn has_suspects(&self) -> bool {
        !lock(&self.state).suspects.is_empty()
    }

    /// Drops the suspects that failed a request, answered none in their last period, or whose
    /// hold is over; `true` when one was.
    pub(crate) fn sweep(&self, now: Instant) -> bool {
        let mut st = lock(&self.state);
        let before = st.suspects.len();
        let (service, period) = (&self.service, self.policy.answer_within.max(Duration::from_millis(1)));
        st.suspects.retain(|_, s| {
            let health = s.provider.health_cell();
            let why = if health.vanished() == vanished::FAILED {
                "a request failed"
            } else if s.until <= now {
                "its hold is over"
            } else if s.check > now {
                return true;
            } else if health.vanished() == vanished::ANSWERED {
                health.set_vanished(vanished::SUSPECT);
                s.check = now + period;
                return true;
            } else {
                "no request answered"
            };
            dropped(service, &s.provider, why);
            false
        });
        let changed = st.suspects.len() != before;
        if changed {
            crate::metrics::suspects(service, st.suspects.len());
        }
        changed
    }

    /// When the next suspect's hold ends.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        lock(&self.state).suspects.values().map(|s| s.until.min(s.check)).min()
    }

    /// `listed` (sorted by URL) and the suspects, sorted by URL.
    pub(crate) fn with_suspects(&self, mut listed: Vec<Provider>) -> Vec<Provider> {
        let st = lock(&self.state);
        if !st.suspects.is_empty() {
            listed.extend(st.suspects.values().map(|s| s.provider.clone()));
            super::provider_set::sort_by_url(&mut listed);
        }
        listed
    }

    /// The suspect registered under `name`, if any (a node listed again is the same provider).
    pub(crate) fn suspect(&self, name: &str) -> Option<Provider> {
        lock(&self.state).suspects.get(name).map(|s| s.provider.clone())
    }
}

/// A list of providers compared by [`diff`]: the last listing (in chunks) or a new one.
trait Listed {
    fn count(&self) -> usize;
    fn nth(&self, index: usize) -> &Provider;
}

impl Listed for [Provider] {
    fn count(&self) -> usize {
        self.len()
    }
    fn nth(&self, index: usize) -> &Provider {
        &self[index]
    }
}

impl Listed for SortedProviders {
    fn count(&self) -> usize {
        self.len()
    }
    fn nth(&self, index: usize) -> &Provider {
        self.at(index)
    }
}

/// The providers of `last` not in `listed` (departed) and those of `listed` not in `last`
/// (arrived). A change applied from a watch event removes or inserts providers without
/// reordering the others, so one list is usually a subsequence of the other and a walk
/// comparing pointers finds the difference in O(n) without hashing; otherwise, by node name.
fn diff<L: Listed + ?Sized>(last: &L, listed: &[Provider]) -> (Vec<Provider>, Vec<Provider>) {
    if let Some(departed) = extra_in(last, listed) {
        return (departed, Vec::new());
    }
    if let Some(arrived) = extra_in(listed, last) {
        return (Vec::new(), arrived);
    }
    let missing = |names: NameSet<&str>, list: &mut dyn Iterator<Item = &Provider>| -> Vec<Provider> {
        list.filter(|p| !names.contains(p.node_name())).cloned().collect()
    };
    let last_all = || (0..last.count()).map(|i| last.nth(i));
    let departed = missing(listed.iter().map(Provider::node_name).collect(), &mut last_all());
    let arrived = missing(last_all().map(Provider::node_name).collect(), &mut listed.iter());
    (departed, arrived)
}

/// The providers of `long` not in `short` when `short` is a subsequence of `long` (the same
/// registrations, in the same order), else `None`.
fn extra_in<L: Listed + ?Sized, S: Listed + ?Sized>(long: &L, short: &S) -> Option<Vec<Provider>> {
    let (n, m) = (long.count(), short.count());
    if m > n {
        return None;
    }
    // A change leaves long runs alike at both ends: skip them by comparing pointers only.
    let same = |i: usize, j: usize| long.nth(i).same_registration(short.nth(j));
    let head = (0..m).take_while(|&i| same(i, i)).count();
    let tail = (0..m - head).take_while(|&k| same(n - 1 - k, m - 1 - k)).count();
    let mut extra = Vec::with_capacity(n - m);
    let mut next = head;
    for i in head..n - tail {
        if next < m - tail && same(i, next) {
            next += 1;
        } else {
            extra.push(long.nth(i).clone());
        }
    }
    (next == m - tail).then_some(extra)
}

/// One departure of `p` less in `counts` (its address and its node name).
fn forget(counts: &mut NameMap<Box<str>, usize>, p: &Provider) {
    for key in [p.address(), p.node_name()] {
        if let Some(n) = counts.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(key);
            }
        }
    }
}

fn dropped(service: &str, p: &Provider, why: &'static str) {
    tracing::info!(%service, address = p.address(), why, "a suspect of the protection threshold is dropped");
    crate::metrics::suspect_dropped(service, why);
}

#[cfg(test)]
mod tests;
