//! [`Membership`]: the provider node names ZooKeeper lists, as a persistent watch reports them,
//! and how a subscription follows them.
//!
//! With a persistent recursive watch on `/services/<service>/providers`
//! (`session/persistent.rs`) a change arrives as the created or deleted node's name, and the
//! name is the provider's URL: the membership decodes only the new name, removes a deleted
//! one by name, and keeps its providers sorted by URL (the order a [`ProviderSet`] is built
//! in, so that building one does not sort again) and counted by address (so that the
//! one-provider-per-address rule costs nothing while no address is registered twice). A set
//! is then built from it with no read and no re-decoding. A full listing (at start, after a
//! gap) resets it, keeping what it already decoded.
//!
//! The membership is ZooKeeper's truth, even while empty protection serves the last providers
//! instead of an empty list, or the protection threshold (`protection.rs`) keeps vanished
//! providers as suspects: the providers that register next are added to the truth, not to
//! what protection kept, and a kept provider listed again is the same provider (its counters
//! and health kept).
//!
//! [`follow`] is the subscription's watch task: the persistent watch by default, the one-shot
//! loop when [`WatchStrategy::OneShot`] is chosen or the server refuses `addWatch`.
//!
//! Other layouts (`layout/`): Dubbo's provider names go the same way (decoded by Dubbo's
//! rules), and its configurators become weight overrides of the providers
//! ([`Directory::set_dubbo_overrides`]); Curator's instances are read, not named, and a list of
//! them becomes a set through [`Directory::apply_instances`]. [`follow_source`] picks the task.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::directory::{latest_per_address, Decoded, Listing};
use super::one_change::OneChange;
use super::{Directory, NameMap, Provider, ProviderSet, ProviderSource, RejectedNode, WatchStrategy};
use crate::error::{Error, Result};
use crate::layout::{DubboOverride, Layout, Source};
use crate::session::{join, lock, ChildChange, ChildrenUpdate, Read, SessionCore, WatchKind};
use crate::url::ServiceUrl;

/// ZooKeeper's provider node names, decoded once each (see the module docs).
#[derive(Default)]
pub(crate) struct Membership {
    /// Every node name listed, decoded or refused.
    nodes: NameMap<Arc<str>, Decoded>,
    /// The providers among them, sorted by URL.
    sorted: Vec<Provider>,
    /// How many providers each address has.
    per_address: NameMap<Box<str>, u32>,
    /// Addresses with more than one provider.
    shared_addresses: usize,
    /// The names that are not providers of this service, by name.
    rejected: BTreeMap<Arc<str>, Error>,
}

impl Membership {
    /// Replaces the names with `names`, reusing the decoded entries of names it keeps and
    /// decoding the others with `decode`.
    pub(super) fn reset(&mut self, names: Vec<String>, mut decode: impl FnMut(&str) -> (Arc<str>, Decoded)) {
        let mut old = std::mem::take(&mut self.nodes);
        *self = Membership::default();
        self.nodes.reserve(names.len());
        for name in names {
            let (key, entry) = match old.remove_entry(name.as_str()) {
                Some(kept) => kept,
                None => decode(&name),
            };
            self.insert(key, entry, false);
        }
        self.sorted.sort_by(|a, b| a.url().cmp(b.url()));
    }

    /// Adds `name` unless it is listed already, decoding it with `decode`; the provider added,
    /// if it is one.
    pub(super) fn create(
        &mut self,
        name: &str,
        decode: impl FnOnce(&str) -> (Arc<str>, Decoded),
    ) -> Option<Provider> {
        if self.nodes.contains_key(name) {
            return None;
        }
        let (key, entry) = decode(name);
        let added = match &entry {
            Decoded::Provider(provider) => Some(provider.clone()),
            Decoded::Rejected(_) => None,
        };
        self.insert(key, entry, true);
        added
    }

    /// Removes `name` if it is listed; the provider removed, if it was one.
    pub(super) fn delete(&mut self, name: &str) -> Option<Provider> {
        let (key, entry) = self.nodes.remove_entry(name)?;
        let provider = match entry {
            Decoded::Rejected(_) => {
                self.rejected.remove(&key);
                return None;
            }
            Decoded::Provider(provider) => provider,
        };
        let from = self.sorted.partition_point(|p| p.url() < provider.url());
        let found = self.sorted[from..]
            .iter()
            .take_while(|p| p.url() == provider.url())
            .position(|p| p.node_name() == name);
        if let Some(at) = found {
            self.sorted.remove(from + at);
        }
        if let Some(count) = self.per_address.get_mut(provider.address()) {
            *count -= 1;
            match *count {
                0 => {
                    self.per_address.remove(provider.address());
                }
                1 => self.shared_addresses -= 1,
                _ => {}
            }
        }
        Some(provider)
    }

    /// Whether some address has more than one provider (the one-per-address rule then picks).
    pub(super) fn shares_addresses(&self) -> bool {
        self.shared_addresses > 0
    }

    /// How many providers, one per address.
    pub(super) fn provider_count(&self) -> usize {
        self.per_address.len()
    }

    /// Whether ZooKeeper lists no node at all (providers or not).
    pub(super) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The providers, one per address, sorted by URL.
    pub(super) fn providers(&self) -> Vec<Provider> {
        if self.shared_addresses == 0 {
            self.sorted.clone()
        } else {
            latest_per_address(self.sorted.clone())
        }
    }

    /// The names that are not providers of this service.
    pub(super) fn rejected(&self) -> Vec<RejectedNode> {
        self.rejected
            .iter()
            .map(|(node, error)| RejectedNode { node: node.to_string(), error: error.clone() })
            .collect()
    }

    /// Every node name listed.
    pub(super) fn names(&self) -> Vec<Arc<str>> {
        self.nodes.keys().cloned().collect()
    }

    /// Adds an entry for a name not listed yet; `in_order` keeps `sorted` sorted (a reset
    /// sorts once at the end instead).
    fn insert(&mut self, key: Arc<str>, entry: Decoded, in_order: bool) {
        match &entry {
            Decoded::Provider(provider) => {
                let count = self.per_address.entry(provider.address().into()).or_insert(0);
                *count += 1;
                if *count == 2 {
                    self.shared_addresses += 1;
                }
                let at = if in_order {
                    self.sorted.partition_point(|p| p.url() <= provider.url())
                } else {
                    self.sorted.len()
                };
                self.sorted.insert(at, provider.clone());
            }
            Decoded::Rejected(error) => {
                self.rejected.insert(key.clone(), error.clone());
            }
        }
        self.nodes.insert(key, entry);
    }
}

// === impl Directory ===

impl Directory {
    /// Applies what the persistent watch reports: a full listing or a batch of changes.
    pub(super) fn apply_update(&self, update: ChildrenUpdate) {
        let mut known = lock(&self.known);
        let current = self.cache.load_full();
        let mut members = lock(&self.membership);
        // A name seen before (in a disk snapshot, a one-shot read, kept by empty protection or
        // as a suspect) is not decoded again.
        let decode = |name: &str| match known.get_key_value(name) {
            Some(cached) => self.decoded(name, Some(cached)),
            None => match protected_provider(&current, name) {
                Some(provider) => (name.into(), Decoded::Provider(provider)),
                None => self.decoded(name, None),
            },
        };
        // One provider created or deleted, while every address has one provider: applied to
        // the current set in place of a rebuild when it allows (`one_change.rs`).
        let mut single = None;
        match update {
            ChildrenUpdate::Listed(names) => members.reset(names, decode),
            ChildrenUpdate::Changed(changes) => {
                let one = changes.len() == 1 && !members.shares_addresses();
                for change in changes {
                    let changed = match change {
                        ChildChange::Created(name) => members.create(&name, decode).map(OneChange::Arrived),
                        ChildChange::Deleted(name) => members.delete(&name).map(OneChange::Departed),
                    };
                    single = changed.filter(|_| one);
                }
            }
        }
        if let Some(change) = single.filter(|_| !members.shares_addresses() && !members.is_empty()) {
            if self.apply_one(&current, change, &members) {
                drop(members);
                known.clear();
                return;
            }
        }
        let protected = self.refuses_empty(members.is_empty(), &current);
        let listing = Listing {
            providers: members.providers(),
            rejected: members.rejected(),
            protected,
            source: ProviderSource::ZooKeeper,
            disk: self.options.snapshot_dir.is_some().then(|| members.names()),
        };
        drop(members);
        // The membership decodes from now on; what `known` remembered is not needed again.
        known.clear();
        self.publish(&current, listing);
    }
}

// === other layouts ===

impl Directory {
    /// Applies a complete list of Curator instances (id, provider URL or why it is refused):
    /// an instance seen before with the same URL keeps its provider (counters, health).
    pub(crate) fn apply_instances(&self, instances: Vec<(Arc<str>, Result<ServiceUrl>)>) {
        let mut known = lock(&self.known);
        let current = self.cache.load_full();
        let mut fresh = NameMap::with_capacity_and_hasher(instances.len(), Default::default());
        let (mut providers, mut rejected) = (Vec::with_capacity(instances.len()), Vec::new());
        for (id, url) in instances {
            let entry = match (known.get(&id), url) {
                (Some(Decoded::Provider(p)), Ok(url)) if *p.url() == url => Decoded::Provider(p.clone()),
                (_, Ok(url)) => Decoded::Provider(Provider::new(url, id.clone(), &self.outliers)),
                (_, Err(error)) => Decoded::Rejected(error),
            };
            match &entry {
                Decoded::Provider(p) => providers.push(p.clone()),
                Decoded::Rejected(error) => {
                    rejected.push(RejectedNode { node: id.to_string(), error: error.clone() })
                }
            }
            fresh.insert(id, entry);
        }
        rejected.sort_by(|a, b| a.node.cmp(&b.node));
        let protected = self.refuses_empty(fresh.is_empty(), &current);
        if !protected {
            *known = fresh;
        }
        // On disk as URL node names: a boot from disk decodes them with zkmesh's codec.
        let disk = Some(providers.iter().map(|p| p.url().to_node_name().into()).collect());
        let mut providers = latest_per_address(providers);
        super::provider_set::sort_by_url(&mut providers);
        let listing = Listing { providers, rejected, protected, source: ProviderSource::ZooKeeper, disk };
        self.publish(&current, listing);
    }

    /// Replaces the Dubbo configurators of the service and applies them to the current set.
    pub(crate) fn set_dubbo_overrides(&self, overrides: Vec<DubboOverride>) {
        *lock(&self.dubbo_overrides) = Arc::new(overrides);
        let current = self.cache.load_full();
        self.apply_dubbo_overrides(current.providers());
        self.rebuild_weights();
    }

    /// Sets each provider's weight override from the Dubbo configurators (Dubbo's layout only,
    /// so that nothing else's overrides are reset).
    pub(super) fn apply_dubbo_overrides(&self, providers: &[Provider]) {
        // A union's parts apply their own; the union itself has none to apply.
        if self.layout != Layout::Dubbo || self.options.sources.len() > 1 {
            return;
        }
        let overrides = lock(&self.dubbo_overrides).clone();
        let application =
            self.options.consumer_url.as_ref().and_then(|u| u.param("application").map(str::to_owned));
        let application = application.or_else(|| Some(crate::layout::dubbo_application()));
        for p in providers {
            p.set_layout_override(crate::layout::dubbo_override_factor(
                &overrides,
                p.url(),
                application.as_deref(),
            ));
        }
    }
}

/// The watch task of `source`: zkmesh's and Dubbo's providers by name (Dubbo's configurators
/// besides), Curator's instances by reading them.
pub(super) async fn follow_source(core: Arc<SessionCore>, dir: Arc<Directory>, source: Source) {
    let service = dir.service.clone();
    match source.layout {
        Layout::Zkmesh => follow(core, dir, source.members_path(&service)).await,
        Layout::Dubbo => {
            let sink = dir.clone();
            let configurators = join(&join(&source.root, &service), "configurators");
            let overrides = crate::layout::follow_configurators(core.clone(), configurators, move |list| {
                sink.set_dubbo_overrides(list)
            });
            futures::future::join(follow(core, dir, source.members_path(&service)), overrides).await;
        }
        Layout::Curator => {
            let path = source.members_path(&service);
            crate::layout::follow_instances(core, path, service, move |list| dir.apply_instances(list)).await
        }
    }
}

/// The provider named `name` in `current` when empty protection keeps it there (a provider
/// that comes back keeps its in-flight counters).
fn protected_provider(current: &ProviderSet, name: &str) -> Option<Provider> {
    if !current.is_empty_protected() {
        return None;
    }
    current.providers().iter().find(|p| p.node_name() == name).cloned()
}

/// The subscription's watch task on `providers_path` (see the module docs).
pub(super) async fn follow(core: Arc<SessionCore>, dir: Arc<Directory>, providers_path: String) {
    if dir.options.watch == WatchStrategy::Persistent {
        let sink = dir.clone();
        let followed = crate::session::follow_children(core.clone(), providers_path.clone(), move |update| {
            sink.apply_update(update)
        });
        if followed.await.is_ok() {
            return; // the session closed
        }
        tracing::info!(service = %dir.service, "following providers with one-shot watches");
    }
    crate::session::run(core, providers_path, WatchKind::Children, move |read| match read {
        Ok(Read::Children(names, _)) => dir.apply(&names, ProviderSource::ZooKeeper),
        Ok(Read::Absent) => dir.apply(&[], ProviderSource::ZooKeeper),
        Ok(Read::Data(..)) | Err(_) => {}
    })
    .await
}

#[cfg(test)]
pub(super) mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::session::Environment;
    use crate::url::ServiceUrl;
    use crate::SubscribeOptions;

    fn directory() -> Directory {
        let environment = Environment::of("127.0.0.1:2181/t").expect("environment");
        Directory::new("svc", environment, SubscribeOptions::default(), Layout::Zkmesh)
    }

    /// Candidate node names: providers (two of them on one address), a name that is no URL,
    /// a provider of another service.
    fn candidates() -> Vec<String> {
        let mut names: Vec<String> = (0..8)
            .map(|i| ServiceUrl::parse(&format!("http://10.0.0.{i}:80/svc?weight={}", 10 + i)).expect("url"))
            .map(|url| url.to_node_name())
            .collect();
        names.push(ServiceUrl::parse("http://10.0.0.1:80/svc?timestamp=5").expect("url").to_node_name());
        names.push("not-a-url".to_owned());
        names.push(ServiceUrl::parse("http://10.0.0.9:80/other").expect("url").to_node_name());
        names
    }

    /// What a user sees of a set: its providers' node names in order, rejected names, flags.
    pub(crate) fn seen(set: &ProviderSet) -> (Vec<(String, u32)>, Vec<String>, usize, bool) {
        let providers = set.providers().iter().map(|p| (p.node_name().to_owned(), p.weight())).collect();
        let mut rejected: Vec<String> = set.rejected().iter().map(|r| r.node.clone()).collect();
        rejected.sort();
        (providers, rejected, set.unfiltered_len(), set.is_empty_protected())
    }

    proptest! {
        /// The incremental path gives the set a full read of the same names gives, after any
        /// sequence of creates and deletes (empty protection included).
        #[test]
        fn changes_applied_one_by_one_equal_a_full_read(ops in prop::collection::vec((0..11usize, any::<bool>()), 1..40)) {
            let names = candidates();
            let (incremental, full) = (directory(), directory());
            incremental.apply_update(ChildrenUpdate::Listed(Vec::new()));
            full.apply(&[], ProviderSource::ZooKeeper);
            let mut truth: Vec<String> = Vec::new();
            for (i, create) in ops {
                let name = names[i].clone();
                let change = if create {
                    if !truth.contains(&name) {
                        truth.push(name.clone());
                    }
                    ChildChange::Created(name)
                } else {
                    truth.retain(|n| *n != name);
                    ChildChange::Deleted(name)
                };
                incremental.apply_update(ChildrenUpdate::Changed(vec![change]));
                full.apply(&truth, ProviderSource::ZooKeeper);
                prop_assert_eq!(seen(&incremental.cache.load_full()), seen(&full.cache.load_full()));
            }
        }
    }

    #[test]
    fn a_listing_resets_the_names_and_keeps_what_it_decoded() {
        let dir = directory();
        let names = candidates();
        dir.apply_update(ChildrenUpdate::Listed(names[..3].to_vec()));
        let before = dir.cache.load_full().providers()[1].clone();
        dir.apply_update(ChildrenUpdate::Listed(names[1..5].to_vec()));
        let set = dir.cache.load_full();
        let node_names: Vec<&str> = set.providers().iter().map(|p| p.node_name()).collect();
        assert_eq!(node_names, names[1..5].iter().map(String::as_str).collect::<Vec<_>>());
        let _guard = set.providers()[0].start();
        assert_eq!(before.in_flight(), 1, "the provider kept is the same (its counters too)");
    }

    #[test]
    fn after_empty_protection_the_next_provider_replaces_the_protected_ones() {
        let dir = directory();
        let names = candidates();
        dir.apply_update(ChildrenUpdate::Listed(names[..2].to_vec()));
        dir.apply_update(ChildrenUpdate::Changed(vec![
            ChildChange::Deleted(names[0].clone()),
            ChildChange::Deleted(names[1].clone()),
        ]));
        let protected = dir.cache.load_full();
        assert!(protected.is_empty_protected());
        assert_eq!(protected.len(), 2, "the last providers are kept");
        dir.apply_update(ChildrenUpdate::Changed(vec![ChildChange::Created(names[1].clone())]));
        let set = dir.cache.load_full();
        assert!(!set.is_empty_protected());
        assert_eq!(seen(&set).0, [(names[1].clone(), 11)], "ZooKeeper's one provider, not the two kept");
        assert_eq!(dir.empty_refusals.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    /// The fallback's selection end to end, short of a server that refuses `addWatch` (no
    /// ZooKeeper here does; the refusal's classification is tested in `session/persistent.rs`):
    /// a session that was refused once follows with one-shot watches, a read per change.
    #[tokio::test]
    async fn a_session_refused_addwatch_once_follows_with_one_shot_watches() {
        let connect = local_zk::support::chroot("unit", "fallback");
        let registry = |connect: String| async move {
            crate::Registry::builder().register_consumers(false).connect(&connect).await.expect("connect")
        };
        let (consumer, provider) = (registry(connect.clone()).await, registry(connect).await);
        consumer
            .session()
            .core()
            .persistent_watches_refused
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let sub = consumer.subscribe("svc").await.expect("subscribe");
        let wait = std::time::Duration::from_secs(20);
        let mut registrations = Vec::new();
        for i in 1..=3u8 {
            let reads = consumer.session().reads_issued();
            let url = ServiceUrl::parse(&format!("http://10.0.0.{i}:80/svc")).expect("url");
            registrations.push(provider.register(&url).await.expect("register"));
            sub.wait_for(wait, |s| s.len() == usize::from(i)).await.expect("seen");
            assert!(consumer.session().reads_issued() > reads, "a one-shot watch reads the list again");
        }
    }
}
