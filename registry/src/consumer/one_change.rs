//! One provider created or deleted, applied to the current set in place of a rebuild.
//!
//! The persistent watch reports a change as the node's name (`membership.rs`), so the directory
//! knows which provider arrived or left without comparing lists. When the current set is
//! ZooKeeper's listing as is, which the directory knows because the set still shares its
//! chunks with the directory's `matching` list (`sorted_providers.rs`), the next set is that list
//! with one chunk copied: the other providers keep their allocations, reference counts and
//! effective weights, the protection threshold counts the one departure or arrival, and only
//! the balancer is built again, from the weights. A change at 2,000 providers no longer touches
//! 2,000 providers' memory (issue 23).
//!
//! Everything else goes the general way (`Directory::publish`, a full build): traffic rules, a
//! zone preference, suspects of the protection threshold, a provider being probed or warming
//! up, consistent hashing, a filter that refuses the provider, an address registered twice, a
//! set served by empty protection or from the disk snapshot. The property test in
//! `membership.rs` holds both ways to the same sets.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::membership::Membership;
use super::sorted_providers::SortedProviders;
use super::{Directory, LoadBalance, Provider, ProviderSet, ProviderSource, SetParts};
use crate::session::lock;

/// How long a set changed in place stays current before the settler copies it into one slice
/// for picks: a burst of changes pays one copy, after its last change.
pub(super) const SETTLE_AFTER: Duration = Duration::from_millis(20);

/// How many times the settler waits [`SETTLE_AFTER`] for changes to stop before it copies the
/// set current then anyway (a service that never stops changing still gets one-slice picks).
const SETTLE_TRIES: u32 = 5;

/// What a watch event did to the providers.
pub(super) enum OneChange {
    /// This provider was added.
    Arrived(Provider),
    /// This provider was removed.
    Departed(Provider),
}

impl Directory {
    /// Applies `change` to `current` without a rebuild when the set is the listing as is (see
    /// the module docs); `false`, with nothing done, when it is not (the caller then publishes
    /// the membership's listing the general way). `members` already holds the change. The
    /// caller holds `known`'s lock.
    pub(super) fn apply_one(&self, current: &ProviderSet, change: OneChange, members: &Membership) -> bool {
        if !self.changes_in_place(current) {
            return false;
        }
        let mut matching = lock(&self.matching);
        if !matching.is_same_list(current.sorted_providers()) {
            return false; // the set was composed, ruled or rebuilt since the last listing
        }
        let now = SystemTime::now();
        let Some((next, warming)) = self.next_list(current.sorted_providers(), &change, now) else {
            return false;
        };
        let (departed, arrived) = match &change {
            OneChange::Departed(p) => (Some(p), None),
            OneChange::Arrived(p) => (None, Some(p)),
        };
        if self.protection.observe_one(departed, arrived, next.len(), tokio::time::Instant::now()) {
            self.outliers.wake.notify_one();
        }
        self.protection.remember(next.clone());
        let replaced = std::mem::replace(&mut *matching, next.clone());
        drop(matching);
        let version = self.version.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let unfiltered = members.provider_count();
        let balance = self.options.balance;
        let set = if self.protection.has_suspects() {
            // The departure tripped the threshold: the window's departures are suspects now,
            // composed into the set as after a listing.
            let providers = self.compose(next.to_vec());
            let rejected = current.rejected().to_vec();
            let source = ProviderSource::ZooKeeper;
            let parts = SetParts { providers, version, source, protected: false, rejected, unfiltered };
            ProviderSet::build_ruled(parts, &self.ruling(), balance, now)
        } else {
            current.changed(next, version, unfiltered, warming, balance)
        };
        let disk = self.options.snapshot_dir.is_some().then(|| members.names());
        let settled = set.is_settled();
        self.store(Arc::new(set), disk);
        if !settled {
            self.unsettled.notify_one();
        }
        drop(replaced);
        true
    }

    /// Whether nothing but ZooKeeper's listing makes `current` (and the next set): no rule,
    /// zone preference, suspect, probe or warm-up, not consistent hashing, not kept by empty
    /// protection or read from disk.
    fn changes_in_place(&self, current: &ProviderSet) -> bool {
        self.options.balance != LoadBalance::ConsistentHash
            && current.source() == ProviderSource::ZooKeeper
            && !current.is_empty_protected()
            && !current.is_probing()
            && !current.is_warming()
            && !self.options.filter.prefers_zone()
            && !self.protection.has_suspects()
            && self.ruling().rules.is_empty()
    }

    /// `list` with `change` (an arrival weighed at `now`), and whether the arrival warms up;
    /// `None` when the change is not one the list can take in place: a departure it does not
    /// hold (filtered out), an arrival the filter refuses, or one being probed.
    fn next_list(
        &self,
        list: &SortedProviders,
        change: &OneChange,
        now: SystemTime,
    ) -> Option<(SortedProviders, bool)> {
        match change {
            OneChange::Departed(gone) => match list.search(gone.url()) {
                Ok(at) if list.at(at).same_registration(gone) => Some((list.without(at), false)),
                _ => None,
            },
            OneChange::Arrived(new) => {
                let at = list.search(new.url()).err()?;
                if !self.options.filter.matches(new.url()) {
                    return None;
                }
                let mut new = new.clone();
                self.apply_dubbo_overrides(std::slice::from_ref(&new));
                let (_, warming, probed) = new.reweigh(now, true);
                (!probed).then(|| (list.with(at, new), warming))
            }
        }
    }
}

/// The subscription's settler: once a set changed in place has been current for
/// [`SETTLE_AFTER`] (or changes kept coming for [`SETTLE_TRIES`] times that), copies the current
/// set's providers into the one slice picks read ([`ProviderSet::settle`]). Until then picks
/// look them up in their chunks, a few nanoseconds slower. The copy is O(n) (about 15 µs at
/// 2,000 providers): made here, it is paid once per burst, off the watch task.
pub(super) async fn settler(dir: Arc<Directory>) {
    loop {
        dir.unsettled.notified().await;
        for _ in 0..SETTLE_TRIES {
            let stamp = dir.cache.stamp();
            tokio::time::sleep(SETTLE_AFTER).await;
            if dir.cache.stamp() == stamp {
                break;
            }
        }
        dir.cache.load().settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::membership::tests::seen;
    use crate::consumer::outlier::state;
    use crate::layout::Layout;
    use crate::session::{ChildChange, ChildrenUpdate, Environment};
    use crate::url::ServiceUrl;
    use crate::SubscribeOptions;

    fn directory() -> Directory {
        let environment = Environment::of("127.0.0.1:2181/t").expect("environment");
        Directory::new("svc", environment, SubscribeOptions::default(), Layout::Zkmesh)
    }

    /// Provider `i`'s node name (weights 50 to 56).
    fn name(i: usize) -> String {
        let url = format!("http://10.1.{}.{}:80/svc?weight={}", i / 250, i % 250, 50 + i % 7);
        ServiceUrl::parse(&url).expect("url").to_node_name()
    }

    fn change(dir: &Directory, change: ChildChange) -> Arc<ProviderSet> {
        dir.apply_update(ChildrenUpdate::Changed(vec![change]));
        dir.cache.load_full()
    }

    #[test]
    fn single_changes_to_a_large_listing_copy_a_chunk_and_equal_a_full_read() {
        let (incremental, full) = (directory(), directory());
        let mut truth: Vec<String> = (0..400).map(name).collect();
        incremental.apply_update(ChildrenUpdate::Listed(truth.clone()));
        full.apply(&truth, ProviderSource::ZooKeeper);
        for k in 0..150usize {
            let before = incremental.cache.load_full();
            let after = if k % 3 == 0 {
                truth.push(name(400 + k));
                change(&incremental, ChildChange::Created(name(400 + k)))
            } else {
                let gone = truth.remove((k * 37) % truth.len());
                change(&incremental, ChildChange::Deleted(gone))
            };
            full.apply(&truth, ProviderSource::ZooKeeper);
            assert_eq!(seen(&after), seen(&full.cache.load_full()), "change {k}");
            // The first change cuts the listing's one slice into chunks; the others copy one.
            let (shared, count) = after.sorted_providers().chunks_shared_with(before.sorted_providers());
            assert!(k == 0 || count - shared <= 2, "change {k}: {shared} of {count} chunks shared: rebuilt");
            assert!(after.version() > before.version());
            assert!(lock(&incremental.matching).is_same_list(after.sorted_providers()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_set_changed_in_place_is_settled_once_changes_stop() {
        let dir = Arc::new(directory());
        let settler = tokio::spawn(settler(dir.clone()));
        dir.apply_update(ChildrenUpdate::Listed((0..300).map(name).collect()));
        assert!(dir.cache.load().is_settled(), "a full build is one slice");
        // A burst: a change every 10 ms, each before the last one settled.
        for k in 0..4 {
            let set = change(&dir, ChildChange::Deleted(name(k)));
            assert!(!set.is_settled(), "change {k}: picks read the chunks for now");
            tokio::time::sleep(SETTLE_AFTER / 2).await;
        }
        let last = dir.cache.load_full();
        assert!(!last.is_settled());
        tokio::time::sleep(SETTLE_AFTER * 2).await;
        assert!(last.is_settled(), "settled once it stayed current");
        // Changes that never stop still get settled after SETTLE_TRIES waits.
        let started = tokio::time::Instant::now();
        let mut k = 10;
        while !dir.cache.load().is_settled() || started.elapsed() < SETTLE_AFTER {
            change(&dir, ChildChange::Deleted(name(k)));
            k += 1;
            tokio::time::sleep(SETTLE_AFTER / 4).await;
            assert!(started.elapsed() < SETTLE_AFTER * (SETTLE_TRIES + 2), "never settled");
        }
        settler.abort();
    }

    #[test]
    fn an_ejected_provider_stays_out_through_the_changes_that_follow() {
        let dir = directory();
        dir.apply_update(ChildrenUpdate::Listed((0..300).map(name).collect()));
        let ejected = dir.cache.load_full().providers()[5].clone();
        ejected.health_cell().reset(state::EJECTED);
        dir.rebuild_weights();
        for step in 0..4 {
            let set = match step % 2 {
                0 => change(&dir, ChildChange::Created(name(1000 + step))),
                _ => change(&dir, ChildChange::Deleted(name(200 + step))),
            };
            let kept = set.get(ejected.url()).expect("still listed");
            assert_eq!(kept.weight(), 0, "step {step}");
            assert!((0..3000).all(|_| !set.select().expect("one").same_registration(&ejected)));
        }
    }

    #[test]
    fn departures_one_by_one_trip_the_threshold_as_a_listing_does() {
        let (incremental, full) = (directory(), directory());
        let mut truth: Vec<String> = (0..20).map(name).collect();
        incremental.apply_update(ChildrenUpdate::Listed(truth.clone()));
        full.apply(&truth, ProviderSource::ZooKeeper);
        for k in 0..11 {
            let gone = truth.pop().expect("one");
            let set = change(&incremental, ChildChange::Deleted(gone));
            full.apply(&truth, ProviderSource::ZooKeeper);
            assert_eq!(seen(&set), seen(&full.cache.load_full()), "departure {k}");
        }
        let set = incremental.cache.load_full();
        assert_eq!(set.len(), 20, "11 of 20 gone within the window: all kept as suspects");
        assert!(set.providers().iter().filter(|p| p.is_suspect()).count() == 11);
    }
}
