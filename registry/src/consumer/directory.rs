//! The [`Directory`]: what a subscription's watch task, warm-up ticker and disk writer share,
//! and how a list of provider node names becomes the next [`ProviderSet`].
//!
//! Every full read of `/services/<service>/providers` by the one-shot loop goes through
//! [`Directory::apply`]: node names are decoded (undecodable ones skipped and reported),
//! filtered, and the new set is stored with one `arc-swap` store. The persistent watch's
//! listings and changes go through `Directory::apply_update` (`membership.rs`) and end in the
//! same [`Directory::publish`]. Nothing is removed because ZooKeeper is unreachable: only what
//! ZooKeeper reports changes the set, and an empty list is refused while providers were known
//! (empty protection).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::outlier::Outliers;
use super::protection::Protection;
use super::sorted_providers::SortedProviders;
use super::{
    CurrentSet, NameMap, Provider, ProviderSet, ProviderSource, RejectedNode, SetParts, SubscribeOptions,
};
use crate::error::Error;
use crate::layout::{DubboOverride, Layout};
use crate::session::{lock, Environment};

/// A provider node name, decoded once.
#[derive(Clone)]
pub(crate) enum Decoded {
    /// A provider of this service.
    Provider(Provider),
    /// A name that is not one (the reason is reported in every set's `rejected()`).
    Rejected(Error),
}

/// One read's names, decoded.
struct Decoding {
    /// Every name of the read, for the next one.
    fresh: NameMap<Arc<str>, Decoded>,
    /// The providers among them.
    decoded: Vec<Provider>,
    /// The names that are not providers of this service.
    rejected: Vec<RejectedNode>,
}

/// One listing of the providers, decoded, on its way to becoming a set.
pub(super) struct Listing {
    /// The providers, one per address (`latest_per_address`), sorted by URL, before the filter.
    pub(super) providers: Vec<Provider>,
    /// The names that are not providers of this service.
    pub(super) rejected: Vec<RejectedNode>,
    /// Whether empty protection keeps the current providers instead ([`Directory::refuses_empty`]).
    pub(super) protected: bool,
    pub(super) source: ProviderSource,
    /// Every node name, for the disk snapshot (`None`: not from ZooKeeper).
    pub(super) disk: Option<Vec<Arc<str>>>,
}

/// State the watch loop, the warm-up ticker and the subscription share.
pub(crate) struct Directory {
    pub(super) service: String,
    /// The session's ZooKeeper ensemble and chroot, which keys the disk snapshot.
    pub(super) environment: Environment,
    pub(super) options: SubscribeOptions,
    pub(super) cache: Arc<CurrentSet>,
    pub(super) updates: watch::Sender<Arc<ProviderSet>>,
    /// Every node name of the last read, decoded or refused, reused across reads: a provider
    /// keeps its in-flight counters, and a name that does not decode is decoded and logged once.
    pub(super) known: Mutex<NameMap<Arc<str>, Decoded>>,
    pub(super) version: AtomicU64,
    pub(super) empty_refusals: AtomicU64,
    pub(super) snapshot_error: Mutex<Option<Error>>,
    pub(super) to_disk: watch::Sender<Option<Arc<Vec<Arc<str>>>>>,
    /// ZooKeeper's names as the persistent watch reports them (see `membership.rs`).
    pub(super) membership: Mutex<super::Membership>,
    /// Wakes the warm-up ticker; notified only when a set with a warming provider is stored,
    /// so that ordinary updates cost no extra task wake-up.
    pub(super) warming: tokio::sync::Notify,
    /// Wakes the settler (`one_change.rs`): a set changed in place was stored.
    pub(super) unsettled: tokio::sync::Notify,
    /// The outlier policy and the ejector's wake-up, shared by every provider decoded here.
    pub(super) outliers: Arc<Outliers>,
    /// How node names and data become providers (`layout/`).
    pub(super) layout: Layout,
    /// Dubbo's configurators of the service (Dubbo's layout only; see `membership.rs`).
    pub(super) dubbo_overrides: Mutex<Arc<Vec<DubboOverride>>>,
    /// A part of a union (`union.rs`): its sets feed the union's, and its counts are not the
    /// service's metrics.
    pub(super) part_of_union: bool,
    /// The traffic rules in force and the last read of them (`rules_watch.rs`).
    pub(super) rules: Mutex<super::rules_watch::RulesState>,
    /// Set once the rules node has been read.
    pub(super) rules_read: watch::Sender<bool>,
    /// This consumer's URL parameters, what the rules' conditions match.
    pub(super) consumer: Arc<std::collections::BTreeMap<String, String>>,
    /// The protection threshold's departures and suspects (`protection.rs`).
    pub(super) protection: Protection,
    /// ZooKeeper's providers of the last listing that pass the group and version filter, before
    /// the suspects and the zone preference (which health moves: see [`Directory::compose`]).
    /// Shared with the protection threshold's last listing and, while nothing changes it, with
    /// the current set (one list, not copies: see `one_change.rs`).
    pub(super) matching: Mutex<SortedProviders>,
}

impl Directory {
    /// An empty directory for `service`, read in `layout`.
    pub(super) fn new(
        service: &str,
        environment: Environment,
        options: SubscribeOptions,
        layout: Layout,
    ) -> Self {
        let empty = Arc::new(ProviderSet::empty(options.balance));
        Directory {
            service: service.to_owned(),
            environment,
            cache: Arc::new(CurrentSet::new(empty.clone())),
            outliers: Outliers::new(service, options.outlier.clone()),
            protection: Protection::new(service, options.protection.clone()),
            matching: Mutex::default(),
            options,
            updates: watch::channel(empty).0,
            known: Mutex::default(),
            version: AtomicU64::new(0),
            empty_refusals: AtomicU64::new(0),
            snapshot_error: Mutex::new(None),
            to_disk: watch::channel(None).0,
            membership: Mutex::new(super::Membership::default()),
            warming: tokio::sync::Notify::new(),
            unsettled: tokio::sync::Notify::new(),
            layout,
            dubbo_overrides: Mutex::new(Arc::default()),
            part_of_union: false,
            rules: Mutex::default(),
            rules_read: watch::channel(false).0,
            consumer: Arc::default(),
        }
    }

    /// The same directory, with rules conditions matched against these consumer parameters.
    pub(super) fn with_consumer(mut self, consumer: std::collections::BTreeMap<String, String>) -> Self {
        self.consumer = Arc::new(consumer);
        self
    }

    /// Serves the disk snapshot (stale) because ZooKeeper did not answer in time.
    pub(super) fn boot_from_disk(&self) {
        let Some(snapshot_dir) = &self.options.snapshot_dir else { return };
        let service = &self.service;
        match super::load_snapshot(snapshot_dir, &self.environment, service) {
            Ok(Some(saved)) => {
                tracing::warn!(
                    %service,
                    providers = saved.nodes.len(),
                    "ZooKeeper did not answer in time; serving the disk snapshot (stale)"
                );
                // The rules first, so the set built from the saved list is built with them.
                if let Some(rules) = saved.rules {
                    self.rules_from_disk(rules);
                }
                self.apply(&saved.nodes, ProviderSource::DiskSnapshot);
                crate::metrics::snapshot_loaded(service);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(%service, error = %e, "ignoring an unreadable disk snapshot");
                *lock(&self.snapshot_error) = Some(e);
            }
        }
    }

    /// Applies one list of provider node names read from ZooKeeper (or loaded from disk).
    pub(super) fn apply(&self, names: &[String], source: ProviderSource) {
        let mut known = lock(&self.known);
        let current = self.cache.load_full();
        if source == ProviderSource::DiskSnapshot && current.source() != ProviderSource::Empty {
            return; // ZooKeeper answered first: the disk snapshot is older than what we have.
        }
        let Decoding { fresh, mut decoded, rejected } = self.decode_all(&known, names);
        super::provider_set::sort_by_url(&mut decoded);
        let protected = self.refuses_empty(names.is_empty(), &current);
        if !protected {
            *known = fresh;
        }
        let disk =
            (source == ProviderSource::ZooKeeper).then(|| names.iter().map(|n| n.as_str().into()).collect());
        let listing = Listing { providers: latest_per_address(decoded), rejected, protected, source, disk };
        self.publish(&current, listing);
    }

    /// Whether empty protection keeps `current` instead of a listing of no node (counted and
    /// logged when it does).
    pub(super) fn refuses_empty(&self, listed_none: bool, current: &ProviderSet) -> bool {
        if !(listed_none && self.options.empty_protection && !current.is_empty()) {
            return false;
        }
        self.empty_refusals.fetch_add(1, Ordering::Relaxed);
        crate::metrics::empty_refused(&self.service);
        tracing::warn!(
            service = %self.service,
            kept = current.len(),
            "ZooKeeper lists no providers; empty protection keeps the last known ones"
        );
        true
    }

    /// Builds the next set from `listing` (or, when protected, from `current`'s providers),
    /// stores it and sends the names to the disk writer. The caller holds `known`'s lock, so
    /// that sets are stored in the order of their versions.
    pub(super) fn publish(&self, current: &ProviderSet, listing: Listing) {
        let Listing { providers, rejected, protected, source, disk } = listing;
        let unfiltered = providers.len();
        let ruling = self.ruling();
        // ZooKeeper's providers that pass the filter: the set's own list when nothing changes
        // it (no suspect, zone preference or rule), then shared with the set, not copied.
        let mut matching = None;
        let (providers, source) = if protected {
            (current.candidates().to_vec(), current.source())
        } else {
            let listed = self.options.filter.matching(providers, |p| p.url());
            if self.protection.observe(&listed, tokio::time::Instant::now()) {
                self.outliers.wake.notify_one();
            }
            let as_is = ruling.rules.is_empty()
                && !self.options.filter.prefers_zone()
                && !self.protection.has_suspects();
            if as_is {
                (listed, source)
            } else {
                let composed = self.compose(listed.clone());
                matching = Some(SortedProviders::from_vec(listed));
                (composed, source)
            }
        };
        self.apply_dubbo_overrides(&providers);
        let version = self.version.fetch_add(1, Ordering::Relaxed) + 1;
        let parts = SetParts { providers, version, source, protected, rejected, unfiltered };
        let set = Arc::new(ProviderSet::build_ruled(parts, &ruling, self.options.balance, SystemTime::now()));
        // The last reference to the list it replaces is dropped once the set is out.
        let mut replaced = None;
        if !protected {
            if let Some(listed) = matching.or_else(|| set.shared_providers()) {
                self.protection.remember(listed.clone());
                replaced = Some(std::mem::replace(&mut *lock(&self.matching), listed));
            }
        }
        self.store(set, disk);
        drop(replaced);
    }

    /// Makes `set` current (cache, updates, metrics, warm-up ticker) and sends `disk`, the node
    /// names ZooKeeper listed, to the disk writer. The caller holds `known`'s lock.
    pub(super) fn store(&self, set: Arc<ProviderSet>, disk: Option<Vec<Arc<str>>>) {
        let (warming, version) = (set.is_warming(), set.version());
        if !self.part_of_union {
            crate::metrics::providers(&self.service, set.len(), set.rejected().len());
        }
        self.cache.store(set.clone());
        self.updates.send_replace(set);
        if warming {
            self.warming.notify_one();
        }
        // The disk records what ZooKeeper said, an empty list included: empty protection serves
        // the last providers from memory, but a cold boot must not send traffic to providers
        // that left.
        if let Some(names) = disk.filter(|_| self.options.snapshot_dir.is_some()) {
            self.to_disk.send_replace(Some(Arc::new(names)));
        }
        tracing::debug!(service = %self.service, version, "provider set updated");
    }

    /// The set's providers from ZooKeeper's `matching` ones: with the protection threshold's
    /// suspects, then narrowed to the preferred zone when it has enough healthy providers.
    pub(super) fn compose(&self, matching: Vec<Provider>) -> Vec<Provider> {
        let all = self.protection.with_suspects(matching);
        let healthy =
            |p: &Provider| !p.health_cell().is_out() && !p.is_suspect() && p.weight_before_health() > 0;
        self.options.filter.prefer(all, |p| p.url(), healthy)
    }

    /// Decodes `names`, reusing what `known` (the last read) already decoded.
    fn decode_all(&self, known: &NameMap<Arc<str>, Decoded>, names: &[String]) -> Decoding {
        let mut fresh = NameMap::with_capacity_and_hasher(names.len(), Default::default());
        let mut decoded = Vec::with_capacity(names.len());
        let mut rejected = Vec::new();
        for name in names {
            let (key, entry) = self.decoded(name, known.get_key_value(name.as_str()));
            match &entry {
                Decoded::Provider(provider) => decoded.push(provider.clone()),
                Decoded::Rejected(error) => {
                    rejected.push(RejectedNode { node: name.clone(), error: error.clone() })
                }
            }
            fresh.insert(key, entry);
        }
        if !rejected.is_empty() {
            tracing::debug!(service = %self.service, rejected = rejected.len(), "provider nodes that do not decode");
        }
        Decoding { fresh, decoded, rejected }
    }

    /// `name` decoded, or `cached` when given (a provider keeps its in-flight counters across
    /// sets, and a name that does not decode is decoded and logged once); a suspect of the
    /// protection threshold listed again is the same provider.
    pub(super) fn decoded(&self, name: &str, cached: Option<(&Arc<str>, &Decoded)>) -> (Arc<str>, Decoded) {
        if let Some((key, entry)) = cached {
            return (key.clone(), entry.clone());
        }
        if let Some(suspect) = self.protection.suspect(name) {
            return (name.into(), Decoded::Provider(suspect));
        }
        let key: Arc<str> = name.into();
        let entry = match crate::layout::decode_node(self.layout, name, &self.service) {
            Ok(url) => Decoded::Provider(Provider::new(url, key.clone(), &self.outliers)),
            Err(error) => {
                tracing::warn!(service = %self.service, node = %name, %error, "skipping a provider node");
                Decoded::Rejected(error)
            }
        };
        (key, entry)
    }

    /// Rebuilds the current set with the weights of now (warm-up ramp, health), the suspects
    /// of now and the zone preference they move, and the rules in force.
    pub(super) fn rebuild_weights(&self) {
        let _known = lock(&self.known);
        let current = self.cache.load_full();
        let providers = if current.is_empty_protected() || current.source() == ProviderSource::Empty {
            current.candidates().to_vec()
        } else {
            self.compose(lock(&self.matching).to_vec())
        };
        let parts = SetParts {
            providers,
            version: self.version.fetch_add(1, Ordering::Relaxed) + 1,
            source: current.source(),
            protected: current.is_empty_protected(),
            rejected: current.rejected().to_vec(),
            unfiltered: current.unfiltered_len(),
        };
        let set = Arc::new(ProviderSet::build_ruled(
            parts,
            &self.ruling(),
            self.options.balance,
            SystemTime::now(),
        ));
        self.cache.store(set.clone());
        self.updates.send_replace(set);
    }
}

/// One provider per address (`host:port`): a provider restarted within its session timeout (or
/// registered twice) has two nodes until the old session expires, and counting both would give
/// that instance twice its weight. The newest registration (largest `timestamp`, then the
/// larger node name) stays; order is otherwise kept.
pub(super) fn latest_per_address(providers: Vec<Provider>) -> Vec<Provider> {
    let mut at: NameMap<&str, usize> = NameMap::with_capacity_and_hasher(providers.len(), Default::default());
    let mut keep = vec![true; providers.len()];
    for (i, p) in providers.iter().enumerate() {
        match at.get(p.address()) {
            None => {
                at.insert(p.address(), i);
            }
            Some(&j) => {
                let newer = |p: &Provider| (p.url().timestamp().unwrap_or(0), p.node_name().to_owned());
                let (winner, loser) = if newer(p) > newer(&providers[j]) { (i, j) } else { (j, i) };
                keep[loser] = false;
                at.insert(p.address(), winner);
            }
        }
    }
    if keep.iter().all(|k| *k) {
        return providers;
    }
    providers.into_iter().zip(keep).filter_map(|(p, k)| k.then_some(p)).collect()
}

/// Rebuilds the set once a second while a provider warms up.
pub(super) async fn warmup_ticker(dir: Arc<Directory>) {
    loop {
        if !dir.cache.load().is_warming() {
            dir.warming.notified().await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if dir.cache.load().is_warming() {
            dir.rebuild_weights();
        }
    }
}

/// Writes the latest list read from ZooKeeper to disk, with the rules document in force (a
/// rules change rewrites it); bursts coalesce into one write.
pub(super) async fn snapshot_writer(dir: Arc<Directory>, snapshot_dir: PathBuf) {
    let mut rx = dir.to_disk.subscribe();
    while rx.changed().await.is_ok() {
        let Some(nodes) = rx.borrow_and_update().clone() else { continue };
        let service = dir.service.clone();
        let target = snapshot_dir.clone();
        let environment = dir.environment.clone();
        let rules = dir.saved_rules();
        let saved = tokio::task::spawn_blocking(move || {
            let nodes: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
            crate::consumer::save_snapshot(&target, &environment, &service, &nodes, rules.as_ref())
        })
        .await;
        crate::metrics::snapshot_written(&dir.service, matches!(saved, Ok(Ok(()))));
        match saved {
            Ok(Ok(())) => *lock(&dir.snapshot_error) = None,
            Ok(Err(e)) => {
                tracing::warn!(service = %dir.service, error = %e, "cannot write the disk snapshot");
                *lock(&dir.snapshot_error) = Some(e);
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::url::ServiceUrl;

    fn directory() -> Directory {
        let environment = Environment::of("127.0.0.1:2181/t").expect("environment");
        Directory::new("svc", environment, SubscribeOptions::default(), Layout::Zkmesh)
    }

    fn node(url: &str) -> String {
        ServiceUrl::parse(url).expect("url").to_node_name()
    }

    /// Collects what `tracing` writes on this thread.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_junk_name_is_decoded_and_logged_once_not_on_every_read() {
        let dir = directory();
        let junk: Vec<String> = (0..50).map(|i| format!("not-a-url-{i}")).collect();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber =
            tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..20 {
                let mut names = junk.clone();
                names.push(node(&format!("http://10.0.0.{i}:80/svc")));
                dir.apply(&names, ProviderSource::ZooKeeper);
            }
        });
        let log = String::from_utf8(lock(&captured.0).clone()).expect("utf-8");
        let warnings = log.lines().filter(|l| l.contains("skipping a provider node")).count();
        assert_eq!(warnings, 50, "one warning per junk name, not one per read");
        let set = dir.cache.load_full();
        assert_eq!(set.rejected().len(), 50, "every read still reports the rejected names");
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn one_address_registered_twice_counts_once_and_the_newest_stays() {
        let dir = directory();
        let old = node("http://10.0.0.1:80/svc?timestamp=1000&version=1");
        let new = node("http://10.0.0.1:80/svc?timestamp=2000&version=2");
        let other = node("http://10.0.0.2:80/svc?timestamp=1500");
        dir.apply(&[new.clone(), old.clone(), other.clone()], ProviderSource::ZooKeeper);
        let kept = |dir: &Directory| {
            let mut kept: Vec<String> =
                dir.cache.load_full().providers().iter().map(|p| p.node_name().to_owned()).collect();
            kept.sort();
            kept
        };
        let mut expected = vec![new.clone(), other.clone()];
        expected.sort();
        assert_eq!(kept(&dir), expected);
        dir.apply(&[old.clone(), other.clone(), new.clone()], ProviderSource::ZooKeeper);
        assert_eq!(kept(&dir), expected, "the newest whatever the order");
        dir.apply(std::slice::from_ref(&old), ProviderSource::ZooKeeper);
        assert_eq!(dir.cache.load_full().providers()[0].node_name(), old, "alone, the old one stays");
    }
}
