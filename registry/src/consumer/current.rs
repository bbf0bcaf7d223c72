//! A subscription's current provider set, and the per-thread copies of it that
//! [`crate::Subscription::select`] picks from.
//!
//! The set lives in an `arc-swap` cell. Every store is followed by a new *stamp*: a number
//! drawn from one process-wide counter, so a stamp names one set of one subscription. Each
//! subscription also has a small *index*, unique among the live ones (reused after a drop).
//! Each thread keeps a table, by index, of the set it last saw of every subscription it picked
//! from, with that set's stamp, in an `Rc`. A pick loads the subscription's stamp (one atomic
//! load, no write to shared memory) and compares it with its copy's: when they match it picks
//! from the copy, and the [`Selected`] it returns holds the copy by a non-atomic `Rc` count;
//! otherwise the thread takes the current set first (once per update).
//!
//! A copy is freed when the thread takes a newer set of its subscription, when the thread
//! takes any set after its subscription was dropped (the first pick from a new subscription,
//! the first pick after any update), or when the thread exits: a thread holds at most one set
//! per subscription it picked from.

use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;

use crate::consumer::{Provider, ProviderSet};
use crate::session::lock;

/// A thread's copy of a set: an `Rc` (a count only this thread touches) on the shared `Arc`.
/// The extra allocation, once per update and thread, is the point: picks count with it
/// instead of with the `Arc`'s atomic count that every thread shares.
#[allow(clippy::redundant_allocation)]
type ThreadCopy = Rc<Arc<ProviderSet>>;

/// A subscription's current provider set.
pub(crate) struct CurrentSet {
    set: ArcSwap<ProviderSet>,
    /// The stamp of the set in `set`, stored after it: whoever loads a stamp finds its set (or a
    /// newer one) in the cell.
    stamp: AtomicU64,
    /// This subscription's row in every thread's table.
    index: usize,
}

/// Where stamps come from: one counter for the process, so a stamp names one set.
static STAMPS: AtomicU64 = AtomicU64::new(1);

/// Counts dropped subscriptions; a thread that sees it move, when it next takes a set, frees
/// its copies of them.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Table indexes free for reuse, and the next never used one.
static INDEXES: Mutex<(Vec<usize>, usize)> = Mutex::new((Vec::new(), 0));

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local { dropped_seen: 0, rows: Vec::new() }) };
}

impl CurrentSet {
    pub(crate) fn new(set: Arc<ProviderSet>) -> Self {
        let index = {
            let mut indexes = lock(&INDEXES);
            match indexes.0.pop() {
                Some(index) => index,
                None => {
                    indexes.1 += 1;
                    indexes.1 - 1
                }
            }
        };
        let stamp = AtomicU64::new(STAMPS.fetch_add(1, Ordering::Relaxed));
        CurrentSet { set: ArcSwap::new(set), stamp, index }
    }

    /// The current set.
    pub(crate) fn load_full(&self) -> Arc<ProviderSet> {
        self.set.load_full()
    }

    /// The current set, through an `arc-swap` guard (for a short look).
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<ProviderSet>> {
        self.set.load()
    }

    /// Makes `set` current (callers serialize their stores).
    pub(crate) fn store(&self, set: Arc<ProviderSet>) {
        let stamp = STAMPS.fetch_add(1, Ordering::Relaxed);
        self.set.store(set);
        self.stamp.store(stamp, Ordering::Release);
    }

    /// The stamp of the current set; it changes with every store.
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp.load(Ordering::Acquire)
    }

    /// Picks from the current set (by `key` when given), through this thread's copy.
    #[inline]
    pub(crate) fn select(self: &Arc<Self>, key: Option<&[u8]>) -> Option<Selected> {
        let set = self.thread_copy();
        let index = set.select_index(key)?;
        Some(Selected { set, index })
    }

    /// Picks from the current set for `context` (routes), through this thread's copy.
    #[inline]
    pub(crate) fn select_with(self: &Arc<Self>, context: &crate::RequestContext<'_>) -> Option<Selected> {
        let set = self.thread_copy();
        let index = set.select_index_with(context)?;
        Some(Selected { set, index })
    }

    /// This thread's copy of the current set (taken first when missing or old).
    #[inline]
    fn thread_copy(self: &Arc<Self>) -> ThreadCopy {
        let stamp = self.stamp();
        let copy = LOCAL
            .try_with(|local| {
                let local = local.try_borrow().ok()?;
                let row = local.rows.get(self.index)?;
                if row.stamp != stamp {
                    return None;
                }
                row.set.clone()
            })
            .ok()
            .flatten();
        match copy {
            Some(set) => set,
            None => self.take_current(stamp),
        }
    }

    /// This thread's copy is missing or old: takes the set current at `stamp` (or newer) into
    /// this thread's table, first freeing copies of dropped subscriptions.
    #[cold]
    #[inline(never)]
    fn take_current(self: &Arc<Self>, stamp: u64) -> ThreadCopy {
        let set = Rc::new(self.set.load_full());
        // Without the thread's table (being torn down), the pick just holds its own `Rc`.
        let _ = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else { return };
            let dropped = DROPPED.load(Ordering::Relaxed);
            if local.dropped_seen != dropped {
                local.dropped_seen = dropped;
                for row in &mut local.rows {
                    if row.owner.strong_count() == 0 {
                        *row = Row::EMPTY;
                    }
                }
            }
            if local.rows.len() <= self.index {
                local.rows.resize_with(self.index + 1, || Row::EMPTY);
            }
            let row = &mut local.rows[self.index];
            if !std::ptr::eq(row.owner.as_ptr(), Arc::as_ptr(self)) {
                row.owner = Arc::downgrade(self);
            }
            row.stamp = stamp;
            row.set = Some(set.clone());
        });
        set
    }
}

impl Drop for CurrentSet {
    fn drop(&mut self) {
        lock(&INDEXES).0.push(self.index);
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// One thread's copies, by subscription index.
struct Local {
    /// [`DROPPED`] when this thread last freed the copies of dropped subscriptions.
    dropped_seen: u64,
    rows: Vec<Row>,
}

/// One subscription's set as this thread last saw it.
struct Row {
    /// The stamp of `set` (0: none; stamps start at 1).
    stamp: u64,
    set: Option<ThreadCopy>,
    /// The subscription: whether it is still alive.
    owner: Weak<CurrentSet>,
}

impl Row {
    const EMPTY: Row = Row { stamp: 0, set: None, owner: Weak::new() };
}

/// A provider picked by [`crate::Subscription::select`]; derefs to [`Provider`].
///
/// It holds the set it was picked from (this thread's copy, by a non-atomic count), so it is
/// neither `Send` nor `Sync`. Keep it for the call; to keep the provider longer or move it to
/// another task or thread, clone the [`Provider`] (an `Arc`: 16 bytes):
///
/// ```no_run
/// # fn f(sub: &zkmesh_registry::Subscription) -> Option<()> {
/// let provider: zkmesh_registry::Provider = sub.select()?.clone(); // Send + Sync
/// std::thread::spawn(move || println!("calling {}", provider.address()));
/// # Some(()) }
/// ```
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// fn pick(sub: &zkmesh_registry::Subscription) {
///     send(sub.select()); // a `Selected` stays on its thread
/// }
/// ```
pub struct Selected {
    set: ThreadCopy,
    index: usize,
}

impl Deref for Selected {
    type Target = Provider;
    #[inline]
    fn deref(&self) -> &Provider {
        self.set.provider(self.index)
    }
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Selected").field(&self.url().to_string()).finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::consumer::{LoadBalance, SetParts};
    use crate::url::ServiceUrl;
    use std::time::SystemTime;

    pub(crate) fn set(addresses: &[&str]) -> Arc<ProviderSet> {
        let outliers = crate::consumer::outlier::Outliers::new("s", Default::default());
        let providers = addresses
            .iter()
            .map(|a| {
                let url = ServiceUrl::parse(&format!("http://{a}/s")).expect("url");
                let node = url.to_node_name();
                Provider::new(url, node.as_str(), &outliers)
            })
            .collect::<Vec<_>>();
        let parts = SetParts::listed(providers);
        Arc::new(ProviderSet::build(parts, LoadBalance::Random, SystemTime::now()))
    }

    fn address(picked: Option<Selected>) -> Option<String> {
        picked.map(|p| p.address().to_owned())
    }

    /// Whether this thread's table holds the set `picked` came from (the pick's `Rc` and the
    /// table's).
    fn from_the_table(picked: &Selected) -> bool {
        Rc::strong_count(&picked.set) == 2
    }

    #[test]
    fn every_pick_sees_the_last_store() {
        let current = Arc::new(CurrentSet::new(set(&[])));
        assert!(current.select(None).is_none());
        for round in 1..=100 {
            let address = format!("a:{round}");
            current.store(set(&[&address]));
            for _ in 0..3 {
                let picked = current.select(None).expect("one provider");
                assert!(from_the_table(&picked));
                assert_eq!(picked.address(), address);
            }
        }
    }

    #[test]
    fn a_pick_keeps_its_set_while_the_thread_moves_on() {
        let current = Arc::new(CurrentSet::new(set(&["a:1"])));
        let old = current.select(None).expect("one");
        current.store(set(&["b:2"]));
        let new = current.select(None).expect("one");
        current.store(set(&[]));
        assert!(current.select(None).is_none());
        // The thread's copy moved twice; both picks still read their own sets.
        assert_eq!((old.address(), new.address()), ("a:1", "b:2"));
        assert_eq!((Rc::strong_count(&old.set), Rc::strong_count(&new.set)), (1, 1));
    }

    #[test]
    fn other_threads_see_every_store() {
        let current = Arc::new(CurrentSet::new(set(&["a:1"])));
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (seen, saw) = std::sync::mpsc::channel::<Option<String>>();
        std::thread::scope(|scope| {
            let current = &current;
            scope.spawn(move || {
                seen.send(address(current.select(None))).expect("send");
                wait.recv().expect("recv");
                seen.send(address(current.select(None))).expect("send");
            });
            assert_eq!(saw.recv().expect("first").as_deref(), Some("a:1"));
            current.store(set(&["b:2"]));
            go.send(()).expect("go");
            assert_eq!(saw.recv().expect("second").as_deref(), Some("b:2"));
        });
    }

    #[test]
    fn picks_never_go_back_to_an_older_set_while_stores_race() {
        // One writer stores sets 1..=2000 (one provider each, port = set number); two readers
        // pick all along: each sees the port numbers only ever grow, and ends on the last.
        const LAST: u16 = 2000;
        let current = Arc::new(CurrentSet::new(set(&["h:1"])));
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let mut last_seen = 0u16;
                        let mut picks = 0u64;
                        loop {
                            let finished = done.load(Ordering::Acquire);
                            let port = current.select(None).expect("one").url().port();
                            assert!(port >= last_seen, "went back from set {last_seen} to {port}");
                            last_seen = port;
                            picks += 1;
                            if finished {
                                return (last_seen, picks);
                            }
                        }
                    })
                })
                .collect();
            for n in 2..=LAST {
                current.store(set(&[&format!("h:{n}")]));
            }
            done.store(true, Ordering::Release);
            for reader in readers {
                let (last_seen, picks) = reader.join().expect("reader");
                assert_eq!(last_seen, LAST, "a pick after the last store sees it ({picks} picks)");
            }
        });
    }

    #[test]
    fn many_subscriptions_each_pick_their_own_from_the_table() {
        let all: Vec<Arc<CurrentSet>> =
            (1..=200).map(|i| Arc::new(CurrentSet::new(set(&[&format!("h:{i}")])))).collect();
        for _ in 0..3 {
            for (i, current) in all.iter().enumerate() {
                let picked = current.select(None).expect("one");
                assert_eq!(picked.address(), format!("h:{}", i + 1));
                assert!(from_the_table(&picked));
            }
        }
    }

    #[test]
    fn a_reused_index_never_serves_the_dropped_subscriptions_set() {
        for round in 1..=50 {
            let gone = Arc::new(CurrentSet::new(set(&[&format!("old:{round}")])));
            assert_eq!(address(gone.select(None)), Some(format!("old:{round}")));
            drop(gone);
            let next = Arc::new(CurrentSet::new(set(&[&format!("new:{round}")])));
            assert_eq!(address(next.select(None)), Some(format!("new:{round}")));
        }
    }

    #[test]
    fn a_dropped_subscriptions_copy_is_freed_when_the_thread_next_takes_a_set() {
        let gone = Arc::new(CurrentSet::new(set(&["a:1"])));
        let kept_set = set(&["b:2"]);
        gone.store(kept_set.clone());
        assert!(gone.select(None).is_some_and(|p| from_the_table(&p)));
        assert_eq!(Arc::strong_count(&kept_set), 3, "ours, the cell's and this thread's copy");
        drop(gone);
        assert_eq!(Arc::strong_count(&kept_set), 2, "the cell is gone");
        let other = Arc::new(CurrentSet::new(set(&["c:3"])));
        assert!(other.select(None).is_some());
        assert_eq!(Arc::strong_count(&kept_set), 1, "the thread's copy is freed");
    }

    #[test]
    fn picks_work_while_the_threads_table_is_torn_down() {
        struct PickOnExit(Arc<CurrentSet>, std::sync::mpsc::Sender<(String, usize)>);
        impl Drop for PickOnExit {
            fn drop(&mut self) {
                let picked = self.0.select(None).expect("one");
                // Only the pick's own `Rc`: the thread's table was already gone.
                let _ = self.1.send((picked.address().to_owned(), Rc::strong_count(&picked.set)));
            }
        }
        thread_local! {
            static ON_EXIT: RefCell<Option<PickOnExit>> = const { RefCell::new(None) };
        }
        let current = Arc::new(CurrentSet::new(set(&["a:1"])));
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = current.clone();
        std::thread::spawn(move || {
            // Registered first, so destroyed after this thread's table.
            ON_EXIT.with(|slot| *slot.borrow_mut() = Some(PickOnExit(worker.clone(), tx)));
            assert!(worker.select(None).is_some());
        })
        .join()
        .expect("thread");
        assert_eq!(rx.recv().expect("picked at exit"), ("a:1".to_owned(), 1));
    }
}
