//! [`Selector`]: picking in a hot loop without an `arc-swap` guard per pick.

use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

use crate::cache::{Provider, ProviderSet};

/// A picker for one thread or task, from [`crate::Subscription::selector`].
///
/// It keeps the provider set it last saw and, on each pick, compares it with the
/// subscription's current one (one atomic load, no write to shared memory): when an update has
/// been applied it moves to the new set, so it never picks from a set older than the one
/// current at the call. Picks borrow from the set (`&mut self`), so a `Selector` is not shared:
/// make one per thread or task (it is cheap: one `Arc` clone) and keep it.
///
/// It holds on to the last set it saw until its next pick or its drop; an idle selector keeps a
/// replaced set (and its providers' in-flight counters) alive meanwhile.
#[derive(Clone)]
pub struct Selector {
    cache: Cache<Arc<ArcSwap<ProviderSet>>, Arc<ProviderSet>>,
}

impl Selector {
    pub(crate) fn new(current: Arc<ArcSwap<ProviderSet>>) -> Self {
        Selector { cache: Cache::new(current) }
    }

    /// The current provider set.
    pub fn snapshot(&mut self) -> &Arc<ProviderSet> {
        self.cache.load()
    }

    /// Picks a provider by the subscription's balancer (lock-free, allocation-free), or `None`
    /// when there is none.
    pub fn select(&mut self) -> Option<&Provider> {
        self.cache.load().select()
    }

    /// Picks a provider for `key` (sticky with [`crate::LoadBalance::ConsistentHash`]).
    pub fn select_by_key(&mut self, key: &[u8]) -> Option<&Provider> {
        self.cache.load().select_by_key(key)
    }
}

impl std::fmt::Debug for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selector").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{LoadBalance, SetParts, Source};
    use crate::url::ServiceUrl;
    use std::time::SystemTime;

    fn set(addresses: &[&str]) -> Arc<ProviderSet> {
        let providers = addresses
            .iter()
            .map(|a| {
                let url = ServiceUrl::parse(&format!("http://{a}/s")).expect("url");
                let node = url.to_node_name();
                Provider::new(url, &node)
            })
            .collect::<Vec<_>>();
        let unfiltered = providers.len();
        let parts = SetParts {
            providers,
            version: 1,
            source: Source::ZooKeeper,
            protected: false,
            rejected: vec![],
            unfiltered,
        };
        Arc::new(ProviderSet::build(parts, LoadBalance::Random, SystemTime::now()))
    }

    #[test]
    fn a_selector_follows_every_update() {
        let current = Arc::new(ArcSwap::new(set(&[])));
        let mut selector = Selector::new(current.clone());
        assert!(selector.select().is_none());
        current.store(set(&["a:1"]));
        assert_eq!(selector.select().map(|p| p.address().to_owned()).as_deref(), Some("a:1"));
        let mut other = selector.clone();
        current.store(set(&["b:2"]));
        for _ in 0..100 {
            assert_eq!(selector.select().map(|p| p.address().to_owned()).as_deref(), Some("b:2"));
            assert_eq!(other.select().map(|p| p.address().to_owned()).as_deref(), Some("b:2"));
        }
        assert_eq!(selector.snapshot().len(), 1);
    }
}
