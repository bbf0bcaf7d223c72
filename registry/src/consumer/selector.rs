//! [`Selector`]: a picker owned by one thread or task, returning plain borrows.

use std::sync::Arc;

use crate::consumer::subscription::KeepAlive;
use crate::consumer::CurrentSet;
use crate::consumer::{Provider, ProviderSet};

/// A picker for one thread or task, from [`crate::Subscription::selector`].
///
/// It keeps the provider set it last saw and, on each pick, compares the stamp it saw it
/// with the subscription's (one atomic load, no write to shared memory): when an update has
/// been applied it moves to the new set, so it never picks from a set older than the one
/// published at the call. Picks borrow from the set (`&mut self`), so a `Selector` is not
/// shared: make one per thread or task (it is cheap: two `Arc` clones) and keep it.
///
/// It holds on to the last set it saw until its next pick or its drop; an idle selector keeps a
/// replaced set (and its providers' in-flight counters) alive meanwhile.
#[derive(Clone)]
pub struct Selector {
    current: Arc<CurrentSet>,
    stamp: u64,
    set: Arc<ProviderSet>,
    _alive: KeepAlive,
}

impl Selector {
    pub(crate) fn new(current: Arc<CurrentSet>, alive: KeepAlive) -> Self {
        let stamp = current.stamp();
        let set = current.load_full();
        Selector { current, stamp, set, _alive: alive }
    }

    /// The current provider set.
    pub fn current(&mut self) -> &Arc<ProviderSet> {
        let stamp = self.current.stamp();
        if stamp != self.stamp {
            self.stamp = stamp;
            self.set = self.current.load_full();
        }
        &self.set
    }

    /// Picks a provider by the subscription's balancer (lock-free, allocation-free), or `None`
    /// when there is none.
    pub fn select(&mut self) -> Option<&Provider> {
        self.current().select()
    }

    /// Picks a provider for `key` (sticky with [`crate::LoadBalance::ConsistentHash`]).
    pub fn select_by_key(&mut self, key: &[u8]) -> Option<&Provider> {
        self.current().select_by_key(key)
    }

    /// Picks a provider for a request with this context (routes; see
    /// [`crate::Subscription::select_with`]).
    pub fn select_with(&mut self, context: &crate::RequestContext<'_>) -> Option<&Provider> {
        self.current().select_with(context)
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
    use crate::consumer::current::tests::set;

    #[test]
    fn a_selector_follows_every_update() {
        let current = Arc::new(CurrentSet::new(set(&[])));
        let mut selector = Selector::new(current.clone(), Arc::new(()));
        assert!(selector.select().is_none());
        current.store(set(&["a:1"]));
        assert_eq!(selector.select().map(|p| p.address().to_owned()).as_deref(), Some("a:1"));
        let mut other = selector.clone();
        current.store(set(&["b:2"]));
        for _ in 0..100 {
            assert_eq!(selector.select().map(|p| p.address().to_owned()).as_deref(), Some("b:2"));
            assert_eq!(other.select().map(|p| p.address().to_owned()).as_deref(), Some("b:2"));
        }
        assert_eq!(selector.current().len(), 1);
    }
}
