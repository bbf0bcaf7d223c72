//! Least-requests balancing by power of two choices, and the in-flight request counters it reads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::random::WeightedRandom;
use super::rng::{bounded, next_u64};

/// Least-requests balancer: power of two choices over in-flight request counts, weight-aware.
///
/// Each pick draws two **distinct** providers (weighted by their weights when the weights differ,
/// uniformly when they are all equal) and returns the one with the lower `in_flight / weight`,
/// compared exactly as `in_flight(a) * weight(b)` vs `in_flight(b) * weight(a)` in `u128`; a tie goes
/// to the first draw. The second draw is weighted over all providers except the first (O(log n), no
/// rejection loop), so a pick is O(log n), lock-free and allocation-free. The load itself is read
/// through the caller's `in_flight` closure, typically backed by one [`InFlight`] per provider.
///
/// - An empty weight list picks `None`; a single pickable provider is returned without drawing.
/// - A zero weight is never picked, unless **all** weights are zero, in which case all providers are
///   treated as equally weighted.
#[derive(Debug, Clone)]
pub struct LeastRequests {
    /// Weighted draws over the weights (uniform when they are all zero).
    random: WeightedRandom,
    /// All weights are equal (including all zero): draw uniformly and compare raw counts.
    uniform: bool,
    /// The only pickable provider, when there is exactly one.
    single: Option<usize>,
}

impl LeastRequests {
    /// Builds the balancer from one weight per provider.
    pub fn new(weights: &[u32]) -> Self {
        let uniform = weights.windows(2).all(|w| w[0] == w[1]);
        let mut pickable = weights.iter().enumerate().filter(|&(_, &w)| uniform || w > 0).map(|(i, _)| i);
        let single = match (pickable.next(), pickable.next()) {
            (Some(i), None) => Some(i),
            _ => None,
        };
        Self { random: WeightedRandom::new(weights), uniform, single }
    }

    /// Picks the provider with the lower weighted load out of two random distinct providers.
    ///
    /// `in_flight(i)` must return the current number of in-flight requests of provider `i`; it is
    /// called at most twice.
    #[inline]
    pub fn pick(&self, in_flight: impl Fn(usize) -> usize) -> Option<usize> {
        if self.random.is_empty() {
            return None;
        }
        self.pick_with(next_u64(), next_u64(), in_flight)
    }

    /// Deterministic [`pick`](Self::pick): the two draws come from the uniform 64-bit values `r1`
    /// (first draw) and `r2` (second draw).
    pub fn pick_with(&self, r1: u64, r2: u64, in_flight: impl Fn(usize) -> usize) -> Option<usize> {
        if self.random.is_empty() {
            return None;
        }
        if let Some(i) = self.single {
            return Some(i);
        }
        let (a, b) = self.draw_two(r1, r2);
        let (wa, wb) = if self.uniform { (1, 1) } else { (self.random.weight(a), self.random.weight(b)) };
        let load_a = in_flight(a) as u128 * u128::from(wb);
        let load_b = in_flight(b) as u128 * u128::from(wa);
        Some(if load_b < load_a { b } else { a })
    }

    /// Two distinct pickable providers (requires at least two).
    fn draw_two(&self, r1: u64, r2: u64) -> (usize, usize) {
        if self.uniform {
            let n = self.random.len() as u64;
            let a = bounded(r1, n);
            let b = bounded(r2, n - 1);
            (a as usize, if b >= a { b as usize + 1 } else { b as usize })
        } else {
            // Not uniform, so the total weight is positive; `single` is None, so at least two
            // providers have a non-zero weight and the exclusion leaves a positive total.
            let a = self.random.pick_with(r1).unwrap_or(0);
            (a, self.random.pick_excluding(r2, a))
        }
    }
}

/// In-flight request counter of one provider, shared (in an `Arc`) between the provider set and the
/// requests that are running.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
}

impl InFlight {
    /// Current number of in-flight requests.
    #[inline]
    pub fn get(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Counts one request as started; it counts as finished when the returned guard is dropped.
    #[inline]
    #[must_use = "the request is counted as finished as soon as the guard is dropped"]
    pub fn start(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::Relaxed);
        InFlightGuard { counter: Arc::clone(self) }
    }
}

/// Guard of one in-flight request: decrements its [`InFlight`] counter when dropped. `Send`, so it can
/// travel with the request's future across threads.
#[derive(Debug)]
#[must_use = "the request is counted as finished as soon as the guard is dropped"]
pub struct InFlightGuard {
    counter: Arc<InFlight>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.counter.count.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::rng::wyrand;
    use super::*;

    fn loads(v: &[usize]) -> impl Fn(usize) -> usize + '_ {
        move |i| v[i]
    }

    #[test]
    fn prefers_the_less_loaded_whichever_is_drawn_first() {
        let lr = LeastRequests::new(&[100, 100]);
        // Ties go to the first draw, so with equal loads both indices come out: draws are not
        // biased towards index 1, and the result below is the comparison's doing.
        let mut seen = [0usize; 2];
        for _ in 0..1_000 {
            seen[lr.pick(loads(&[0, 0])).unwrap()] += 1;
        }
        assert!(seen[0] > 300 && seen[1] > 300, "{seen:?}");
        assert!((0..1_000).all(|_| lr.pick(loads(&[10, 0])) == Some(1)));
        assert!((0..1_000).all(|_| lr.pick(loads(&[0, 10])) == Some(0)));
        // Both draw orders, deterministically: r1 = 0 draws index 0 first, r1 = MAX draws index 1.
        assert_eq!(lr.draw_two(0, 0), (0, 1));
        assert_eq!(lr.draw_two(u64::MAX, 0), (1, 0));
        for r1 in [0, u64::MAX] {
            assert_eq!(lr.pick_with(r1, 0, loads(&[10, 0])), Some(1));
            assert_eq!(lr.pick_with(r1, 0, loads(&[0, 10])), Some(0));
        }
        assert_eq!(lr.pick_with(0, 0, loads(&[3, 3])), Some(0));
        assert_eq!(lr.pick_with(u64::MAX, 0, loads(&[3, 3])), Some(1));
    }

    #[test]
    fn most_loaded_is_never_picked() {
        // Two distinct draws always include someone less loaded than the maximum.
        for weights in [[1u32, 1, 1, 1], [1, 2, 3, 4]] {
            let lr = LeastRequests::new(&weights);
            let in_flight = [0, 0, 0, 50];
            let mut counts = [0usize; 4];
            for _ in 0..10_000 {
                counts[lr.pick(loads(&in_flight)).unwrap()] += 1;
            }
            assert_eq!(counts[3], 0, "{weights:?}: {counts:?}");
        }
    }

    #[test]
    fn draws_are_distinct_and_weighted() {
        let lr = LeastRequests::new(&[1, 0, 3, 4]);
        let mut state = 5;
        let mut first = [0usize; 4];
        let mut pairs = 0usize;
        for _ in 0..100_000 {
            let (a, b) = lr.draw_two(wyrand(&mut state), wyrand(&mut state));
            assert_ne!(a, b);
            assert!(a != 1 && b != 1);
            first[a] += 1;
            pairs += usize::from((a, b) == (2, 3) || (a, b) == (3, 2));
        }
        // First draw: 1/8, 3/8, 4/8 (sd ~0.16 pp). Pair {2, 3}: 3/8*4/5 + 4/8*3/4 = 0.675.
        let share = |c: usize| c as f64 / 100_000.0;
        assert!((share(first[0]) - 0.125).abs() < 0.01, "{first:?}");
        assert!((share(first[2]) - 0.375).abs() < 0.01, "{first:?}");
        assert!((share(first[3]) - 0.5).abs() < 0.01, "{first:?}");
        assert!((share(pairs) - 0.675).abs() < 0.01, "{pairs}");

        let uniform = LeastRequests::new(&[7, 7, 7]);
        let mut state = 6;
        for _ in 0..10_000 {
            let (a, b) = uniform.draw_two(wyrand(&mut state), wyrand(&mut state));
            assert!(a != b && a < 3 && b < 3);
        }
    }

    #[test]
    fn load_is_normalised_by_weight() {
        let lr = LeastRequests::new(&[100, 300]);
        for r1 in [0, u64::MAX] {
            // 1/100 vs 2/300: index 1 is relatively less loaded.
            assert_eq!(lr.pick_with(r1, 0, loads(&[1, 2])), Some(1));
            // 1/100 vs 4/300: index 0.
            assert_eq!(lr.pick_with(r1, 0, loads(&[1, 4])), Some(0));
        }
        // Exact tie 1/100 vs 3/300 goes to the first draw.
        assert_eq!(lr.pick_with(0, 0, loads(&[1, 3])), Some(0));
        assert_eq!(lr.pick_with(u64::MAX, 0, loads(&[1, 3])), Some(1));
        // No overflow with extreme counts and weights.
        let lr = LeastRequests::new(&[u32::MAX, 1]);
        assert_eq!(lr.pick_with(0, 0, loads(&[usize::MAX, usize::MAX])), Some(0));
        assert_eq!(lr.pick_with(u64::MAX, 0, loads(&[usize::MAX, usize::MAX])), Some(0));
    }

    #[test]
    fn zero_weight_is_never_picked() {
        let lr = LeastRequests::new(&[0, 5, 0, 5]);
        // Zero-weight providers are idle but must still never be chosen.
        assert!((0..10_000).all(|_| matches!(lr.pick(loads(&[0, 9, 0, 9])), Some(1 | 3))));
        let lr = LeastRequests::new(&[0, 5, 0]);
        assert!((0..100).all(|_| lr.pick(loads(&[0, 9, 0])) == Some(1)));
    }

    #[test]
    fn all_zero_is_uniform() {
        let lr = LeastRequests::new(&[0, 0, 0]);
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[lr.pick(loads(&[0, 0, 0])).unwrap()] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..=11_000).contains(&c)), "{counts:?}");
        // Index 1 is idle, so it wins whenever drawn: 2 of the 3 equally likely pairs.
        let idle = (0..30_000).filter(|_| lr.pick(loads(&[5, 0, 5])) == Some(1)).count();
        assert!((19_000..=21_000).contains(&idle), "{idle}");
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(LeastRequests::new(&[]).pick(|_| 0), None);
        assert_eq!(LeastRequests::new(&[0]).pick(|_| 0), Some(0));
        assert_eq!(LeastRequests::new(&[3]).pick(|_| 7), Some(0));
    }

    #[test]
    fn in_flight_guard_counts_and_decrements() {
        let counter = Arc::new(InFlight::default());
        assert_eq!(counter.get(), 0);
        let g1 = counter.start();
        let g2 = counter.start();
        assert_eq!(counter.get(), 2);
        drop(g1);
        assert_eq!(counter.get(), 1);
        std::thread::spawn(move || drop(g2)).join().unwrap();
        assert_eq!(counter.get(), 0);
    }

    #[test]
    fn in_flight_drives_picks() {
        let counters: Vec<Arc<InFlight>> = (0..2).map(|_| Arc::new(InFlight::default())).collect();
        let lr = LeastRequests::new(&[1, 1]);
        let guards: Vec<InFlightGuard> = (0..3).map(|_| counters[0].start()).collect();
        assert!((0..100).all(|_| lr.pick(|i| counters[i].get()) == Some(1)));
        drop(guards);
        let _busy = counters[1].start();
        assert!((0..100).all(|_| lr.pick(|i| counters[i].get()) == Some(0)));
    }

    #[test]
    fn types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<LeastRequests>();
        check::<InFlight>();
        check::<InFlightGuard>();
    }
}
