//! The ejector: one task per subscription that turns reported outcomes into ejections, probes
//! and returns, and rebuilds the provider set when one happens (as the warm-up ticker does for
//! the ramp), so every picker sees the same effective weights.
//!
//! It sleeps until a report changes a provider's state (`Outliers::wake`) or an ejection's
//! back-off ends. On each wake-up it looks at the current set: a suspect provider is ejected
//! unless the cap is reached (then it stays in, with a clean count), a probe's answer brings
//! its provider back or ejects it for twice as long, and an ejection whose back-off is over
//! becomes a probe. It also drops the protection threshold's suspects that failed or whose
//! hold is over (`protection.rs`). Nothing here runs per request.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::health_status::EjectedProvider;
use super::outlier::{state, Outliers};
use super::{Directory, Provider, ProviderSet};

/// An ejected or probing provider and when the ejector looks at it next.
struct Watched {
    provider: Provider,
    at: Instant,
    /// When it was first ejected (a failed probe keeps it).
    since: SystemTime,
}

/// What the ejector remembers between wake-ups, by node name.
#[derive(Default)]
pub(crate) struct Ejector {
    watched: HashMap<Arc<str>, Watched>,
}

/// Runs the ejector of `dir`'s subscription until the subscription stops it.
pub(super) async fn run(dir: Arc<Directory>) {
    let mut ejector = Ejector::default();
    loop {
        let next = match (ejector.next_deadline(), dir.protection.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            () = dir.outliers.wake.notified() => {}
            () = sleep_until(next) => {}
        }
        let now = Instant::now();
        let dropped = dir.protection.sweep(now);
        let set = dir.cache.load_full();
        if ejector.step(&dir.outliers, &set, now) | dropped {
            dir.rebuild_weights();
            crate::metrics::ejected(&dir.service, ejector.watched.len());
        }
        ejector.share(&dir.outliers);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Ejector {
    fn next_deadline(&self) -> Option<Instant> {
        self.watched.values().map(|w| w.at).min()
    }

    /// Tells the health publisher which providers are out, when that changed.
    pub(crate) fn share(&self, outliers: &Outliers) {
        if self.watched.is_empty() && outliers.ejected.borrow().is_empty() {
            return;
        }
        let mut list: Vec<EjectedProvider> = self
            .watched
            .values()
            .map(|w| EjectedProvider {
                address: w.provider.address().to_owned(),
                node: w.provider.node_name().to_owned(),
                since_ms: w.since.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            })
            .collect();
        list.sort_by(|a, b| (&a.address, &a.node).cmp(&(&b.address, &b.node)));
        outliers.ejected.send_if_modified(|current| {
            let changed = **current != list[..];
            if changed {
                *current = list.into();
            }
            changed
        });
    }

    /// Applies what was reported since the last step to `set`'s providers; `true` when the set
    /// must be rebuilt.
    pub(crate) fn step(&mut self, outliers: &Outliers, set: &ProviderSet, now: Instant) -> bool {
        let members: HashSet<&str> = set.iter().map(|p| p.node_name()).collect();
        self.watched.retain(|node, _| members.contains(&**node));
        let limit = ejection_limit(set, outliers.policy.max_ejected_share);
        let mut out = set.iter().filter(|p| p.health_cell().is_out()).count();
        let mut changed = false;
        for p in set.iter() {
            match p.health_cell().state() {
                state::SUSPECT if out < limit => {
                    self.eject(outliers, p, now, "failed requests");
                    out += 1;
                    changed = true;
                }
                state::SUSPECT => {
                    p.health_cell().reset(state::HEALTHY);
                    tracing::warn!(
                        service = %outliers.service, address = p.address(), ejected = out, limit,
                        "not ejecting a failing provider: the ejection cap is reached"
                    );
                    crate::metrics::ejection_refused(&outliers.service);
                }
                state::PROBE_PASSED => {
                    self.watched.remove(p.node_name());
                    p.health_cell().ejections.store(0, Ordering::Relaxed);
                    p.health_cell().reset(state::HEALTHY);
                    tracing::info!(service = %outliers.service, address = p.address(), "provider back after a successful probe");
                    crate::metrics::probe(&outliers.service, true);
                    changed = true;
                }
                state::PROBE_FAILED => {
                    crate::metrics::probe(&outliers.service, false);
                    self.eject(outliers, p, now, "failed probe");
                    changed = true;
                }
                _ => {}
            }
        }
        changed | self.due(outliers, now)
    }

    /// Ejects `p` (weight 0) until its back-off is over.
    fn eject(&mut self, outliers: &Outliers, p: &Provider, now: Instant, why: &'static str) {
        let ejections = p.health_cell().ejections.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        let back_off = outliers.policy.ejection_time(ejections);
        p.health_cell().reset(state::EJECTED);
        let at = now + back_off;
        let since = self.watched.get(p.node_name()).map_or_else(SystemTime::now, |w| w.since);
        self.watched.insert(p.node_name().into(), Watched { provider: p.clone(), at, since });
        tracing::warn!(
            service = %outliers.service, address = p.address(), why, ejections,
            back_off_ms = back_off.as_millis() as u64, "provider ejected"
        );
        crate::metrics::ejection(&outliers.service);
    }

    /// Ejections whose back-off is over become probes; probes nobody answered are offered
    /// again. `true` when a provider became a probe (the set shows it).
    fn due(&mut self, outliers: &Outliers, now: Instant) -> bool {
        let mut changed = false;
        let probe_timeout = outliers.policy.probe_timeout.max(Duration::from_millis(1));
        for w in self.watched.values_mut().filter(|w| w.at <= now) {
            let health = w.provider.health_cell();
            w.at = now + probe_timeout;
            if health.moved(state::EJECTED, state::PROBING) {
                tracing::info!(service = %outliers.service, address = w.provider.address(), "probing an ejected provider");
                changed = true;
            } else if health.state() == state::PROBING && health.probe_taken() {
                tracing::debug!(service = %outliers.service, address = w.provider.address(), "probe unanswered; offering another");
                health.offer_probe();
            }
        }
        changed
    }
}

/// How many of `set`'s providers may be out at once: the share of those with a non-zero
/// weight before health (suspects of the protection threshold not counted), rounded down, and
/// never all of them.
pub(crate) fn ejection_limit(set: &ProviderSet, share: f64) -> usize {
    let active = set.iter().filter(|p| p.weight_before_health() > 0 && !p.is_suspect()).count();
    let by_share = (active as f64 * share).floor() as usize;
    by_share.min(active.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::outlier::OutlierPolicy;
    use crate::consumer::{LoadBalance, Outcome, ProviderHealth, SetParts};
    use crate::url::ServiceUrl;

    fn fixture(weights: &[u32], policy: OutlierPolicy) -> (Arc<Outliers>, Vec<Provider>) {
        let outliers = Outliers::new("s", policy);
        let providers = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let url = ServiceUrl::parse(&format!("http://h:{}/s?weight={w}", i + 1)).expect("url");
                let node = url.to_node_name();
                Provider::new(url, node.as_str(), &outliers)
            })
            .collect();
        (outliers, providers)
    }

    fn set(providers: &[Provider]) -> ProviderSet {
        let parts = SetParts::listed(providers.to_vec());
        ProviderSet::build(parts, LoadBalance::Random, std::time::SystemTime::now())
    }

    fn fail(p: &Provider, n: usize) {
        (0..n).for_each(|_| p.report(Outcome::Failure));
    }

    fn health(providers: &[Provider]) -> Vec<ProviderHealth> {
        providers.iter().map(Provider::health).collect()
    }

    #[test]
    fn never_ejects_more_than_the_cap_nor_the_last_provider() {
        use ProviderHealth::*;
        let policy = OutlierPolicy::default().consecutive_failures(1);
        let (outliers, providers) = fixture(&[100, 100, 100, 100, 0], policy.clone());
        let mut ejector = Ejector::default();
        let now = Instant::now();
        providers.iter().for_each(|p| fail(p, 3));
        assert!(ejector.step(&outliers, &set(&providers), now));
        assert_eq!(
            health(&providers),
            [Ejected, Ejected, Healthy, Healthy, Healthy],
            "half of the 4 with a weight"
        );
        assert_eq!(providers[2].health_cell().state(), state::HEALTHY, "a refused ejection clears the count");

        let (outliers, providers) = fixture(&[100, 100], policy.clone().max_ejected_share(1.0));
        providers.iter().for_each(|p| fail(p, 1));
        Ejector::default().step(&outliers, &set(&providers), now);
        assert_eq!(health(&providers), [Ejected, Healthy], "a share of 100% still leaves one");

        let (outliers, providers) = fixture(&[100], policy);
        fail(&providers[0], 10);
        assert!(!Ejector::default().step(&outliers, &set(&providers), now));
        assert_eq!(health(&providers), [Healthy], "a lone provider is never ejected");
    }

    #[test]
    fn a_failed_probe_doubles_the_back_off_and_a_passed_one_brings_the_provider_back() {
        let second = Duration::from_secs(1);
        let policy = OutlierPolicy::default().consecutive_failures(2).base_ejection(second);
        let (outliers, providers) = fixture(&[100, 100, 100], policy);
        let p = &providers[0];
        let mut ejector = Ejector::default();
        let t0 = Instant::now();
        fail(p, 2);
        assert!(ejector.step(&outliers, &set(&providers), t0));
        assert_eq!(p.health(), ProviderHealth::Ejected);
        assert_eq!(ejector.next_deadline(), Some(t0 + second));
        assert!(!ejector.step(&outliers, &set(&providers), t0 + second / 2), "not yet");
        assert!(ejector.step(&outliers, &set(&providers), t0 + second), "back-off over: probe");
        let probing = set(&providers);
        assert_eq!((p.health(), probing.probe_indexes()), (ProviderHealth::Probing, &[0][..]));
        assert_eq!(probing.take_probe(), Some(0));
        p.report(Outcome::Failure);
        let t1 = t0 + second;
        assert!(ejector.step(&outliers, &set(&providers), t1));
        assert_eq!(p.health(), ProviderHealth::Ejected);
        assert_eq!(ejector.next_deadline(), Some(t1 + 2 * second), "twice as long");
        let t2 = t1 + 2 * second;
        assert!(ejector.step(&outliers, &set(&providers), t2));
        assert_eq!(set(&providers).take_probe(), Some(0));
        p.report(Outcome::Success);
        assert!(ejector.step(&outliers, &set(&providers), t2));
        assert_eq!(p.health(), ProviderHealth::Healthy);
        assert_eq!(set(&providers).providers()[0].weight(), 100);
        assert_eq!(ejector.next_deadline(), None);
        fail(p, 2);
        ejector.step(&outliers, &set(&providers), t2);
        assert_eq!(ejector.next_deadline(), Some(t2 + second), "a returned provider starts over");
    }

    #[test]
    fn the_ejected_list_is_shared_only_when_it_changes_and_keeps_the_first_ejection_time() {
        let policy = OutlierPolicy::default().consecutive_failures(1).base_ejection(Duration::from_secs(1));
        let (outliers, providers) = fixture(&[100, 100, 100], policy);
        let mut seen = outliers.ejected.subscribe();
        let mut ejector = Ejector::default();
        let t0 = Instant::now();
        ejector.share(&outliers);
        assert!(!seen.has_changed().expect("open"), "nothing ejected, nothing sent");
        fail(&providers[1], 1);
        ejector.step(&outliers, &set(&providers), t0);
        ejector.share(&outliers);
        let first = seen.borrow_and_update().clone();
        assert_eq!(first.iter().map(|e| e.address.as_str()).collect::<Vec<_>>(), ["h:2"]);
        ejector.step(&outliers, &set(&providers), t0 + Duration::from_secs(1));
        assert_eq!(set(&providers).take_probe(), Some(1));
        providers[1].report(Outcome::Failure);
        ejector.step(&outliers, &set(&providers), t0 + Duration::from_secs(1));
        ejector.share(&outliers);
        assert!(
            !seen.has_changed().expect("open"),
            "ejected again after a failed probe: same list, same time"
        );
        assert_eq!(seen.borrow()[0].since_ms, first[0].since_ms);
        ejector.step(&outliers, &set(&providers), t0 + Duration::from_secs(3));
        assert_eq!(set(&providers).take_probe(), Some(1));
        providers[1].report(Outcome::Success);
        ejector.step(&outliers, &set(&providers), t0 + Duration::from_secs(3));
        ejector.share(&outliers);
        assert!(seen.has_changed().expect("open") && seen.borrow().is_empty(), "back: the list is empty");
    }

    #[test]
    fn an_unanswered_probe_is_offered_again_and_a_provider_that_left_is_forgotten() {
        let policy = OutlierPolicy::default().consecutive_failures(1).probe_timeout(Duration::from_secs(5));
        let (outliers, providers) = fixture(&[100, 100, 100], policy);
        let mut ejector = Ejector::default();
        let t0 = Instant::now();
        fail(&providers[0], 1);
        ejector.step(&outliers, &set(&providers), t0);
        let t1 = t0 + Duration::from_secs(1);
        ejector.step(&outliers, &set(&providers), t1);
        let probing = set(&providers);
        assert_eq!(probing.take_probe(), Some(0));
        assert_eq!(probing.take_probe(), None);
        assert!(!ejector.step(&outliers, &probing, t1 + Duration::from_secs(5)), "the set already offers it");
        assert_eq!(probing.take_probe(), Some(0), "offered again after the probe timeout");
        ejector.step(&outliers, &set(&providers[1..]), t1 + Duration::from_secs(6));
        assert_eq!(ejector.next_deadline(), None);
    }
}
