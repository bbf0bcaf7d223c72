//! nginx smooth weighted round-robin with a precomputed, lock-free schedule.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::rng::next_u64;

/// Upper bound on the length of a [`SmoothRoundRobin`] schedule (one full period), unless there are
/// more non-zero-weight providers than this (then the period is one pick per provider).
pub const MAX_PERIOD: usize = 65_536;

/// Smooth weighted round-robin (nginx's algorithm), made lock-free by precomputing its schedule.
///
/// [`new`](Self::new) divides the weights by their gcd and runs nginx's algorithm (every step:
/// `current[i] += weight[i]`; pick the first `i` with maximal `current[i]`; `current[i] -= total`) for
/// one full period (`sum(weight) / gcd` picks) into a boxed schedule of indices. [`pick`](Self::pick)
/// is then `schedule[counter.fetch_add(1) % period]`: one atomic increment, no lock, no allocation.
///
/// Over every window of one period, index `i` appears exactly `weight[i] / gcd` times, and the
/// sequence is smooth (weights `[5, 1, 1]` give `a a b a c a a`).
///
/// # Bounded schedule
/// If the gcd-reduced period exceeds [`MAX_PERIOD`] (65,536), the weights are first scaled down
/// proportionally: with `k` non-zero weights and reduced period `p`, each non-zero weight `w` becomes
/// `max(1, floor(w * (MAX_PERIOD - k) / p))` (then reduced by the new gcd), so the period never
/// exceeds `MAX_PERIOD`, every non-zero weight stays at least 1, and each share is off by less than
/// one pick per period. If `k >= MAX_PERIOD`, every non-zero weight becomes 1 (period `k`).
///
/// Building costs O(period x distinct weights), which the bound keeps below ~24 million steps (`d`
/// distinct positive weights sum to at least `d(d+1)/2`, so `d <= 361`); providers sharing a weight
/// are scheduled as one group.
///
/// - An empty weight list picks `None`.
/// - A zero weight is never picked, unless **all** weights are zero, in which case every provider is
///   given weight 1 (plain round-robin).
#[derive(Debug)]
pub struct SmoothRoundRobin {
    /// One full period of provider indices; empty when it would be every provider once in
    /// index order (equal weights, the common case: no warm-up, override or ejection), which
    /// costs no schedule to build.
    schedule: Box<[u32]>,
    /// The period when `schedule` is empty (0: no providers).
    in_order: usize,
    /// Monotonic pick counter (wraps only after `usize::MAX` picks).
    counter: AtomicUsize,
}

impl SmoothRoundRobin {
    /// Builds the schedule from one weight per provider, starting at a random position in the period.
    ///
    /// The random start keeps the many consumers that rebuild their provider set on the same ZooKeeper
    /// notification from all sending their first request to the same (heaviest) provider. Use
    /// [`with_offset`](Self::with_offset) for a deterministic start.
    ///
    /// # Panics
    /// If there are more than `u32::MAX` providers.
    pub fn new(weights: &[u32]) -> Self {
        Self::with_offset(weights, next_u64() as usize)
    }

    /// Builds the schedule from one weight per provider; the first pick is schedule position
    /// `offset % period` (`0` starts at the beginning of the nginx sequence).
    ///
    /// # Panics
    /// If there are more than `u32::MAX` providers.
    pub fn with_offset(weights: &[u32], offset: usize) -> Self {
        assert!(weights.len() <= u32::MAX as usize, "more than u32::MAX providers");
        // Equal weights (all zero included: each counts as 1) schedule every provider once, in
        // index order. Checked without an early exit, so that it runs a vector at a time.
        let first = weights.first().copied().unwrap_or(0);
        let (schedule, in_order) = if weights.iter().fold(true, |equal, &w| equal & (w == first)) {
            (Box::default(), weights.len())
        } else {
            (build_schedule(&effective_weights(weights)), 0)
        };
        let period = if schedule.is_empty() { in_order } else { schedule.len() };
        let start = if period == 0 { 0 } else { offset % period };
        Self { schedule, in_order, counter: AtomicUsize::new(start) }
    }

    /// Picks the next provider index in the schedule (`None` if there are no providers).
    #[inline]
    pub fn pick(&self) -> Option<usize> {
        if self.schedule.is_empty() {
            if self.in_order == 0 {
                return None;
            }
            return Some(self.counter.fetch_add(1, Ordering::Relaxed) % self.in_order);
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        Some(self.schedule[n % self.schedule.len()] as usize)
    }

    /// Length of one full period of the schedule (0 if there are no providers).
    pub fn period(&self) -> usize {
        if self.schedule.is_empty() {
            self.in_order
        } else {
            self.schedule.len()
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Applies the zero rules, divides by the gcd and scales down to the [`MAX_PERIOD`] bound.
fn effective_weights(weights: &[u32]) -> Vec<u64> {
    let all_zero = weights.iter().all(|&w| w == 0);
    let mut w: Vec<u64> = weights.iter().map(|&w| if all_zero { 1 } else { u64::from(w) }).collect();
    reduce_by_gcd(&mut w);
    let period: u64 = w.iter().sum();
    let limit = MAX_PERIOD as u64;
    if period > limit {
        let non_zero = w.iter().filter(|&&x| x > 0).count() as u64;
        let budget = limit.saturating_sub(non_zero);
        for x in w.iter_mut().filter(|x| **x > 0) {
            let scaled = u128::from(*x) * u128::from(budget) / u128::from(period);
            // `scaled <= budget <= MAX_PERIOD`, so the conversion cannot fail.
            *x = u64::try_from(scaled).unwrap_or(limit).max(1);
        }
        reduce_by_gcd(&mut w);
    }
    w
}

fn reduce_by_gcd(w: &mut [u64]) {
    let g = w.iter().fold(0, |g, &x| gcd(g, x));
    if g > 1 {
        w.iter_mut().for_each(|x| *x /= g);
    }
}

/// Providers sharing one weight: nginx picks them in index order, one full cycle at a time.
struct Group<'a> {
    weight: i64,
    /// Member indices, ascending.
    members: &'a [u32],
    /// Position of the next member to pick.
    next: usize,
    /// nginx `current` weight of `members[next]`.
    current: i64,
}

/// Runs nginx's smooth weighted round-robin over one full period of the (reduced) weights.
///
/// Exact nginx semantics (first maximal `current` wins), computed per group of equal weights: within
/// a group, the member with the maximal `current` is the one picked fewest times, ties broken by the
/// lowest index, so members are picked in cyclic index order and only the next one needs tracking.
fn build_schedule(weights: &[u64]) -> Box<[u32]> {
    let mut order: Vec<(u64, u32)> = weights
        .iter()
        .enumerate()
        .filter(|(_, &w)| w > 0)
        .map(|(i, &w)| (w, u32::try_from(i).expect("more than u32::MAX providers")))
        .collect();
    order.sort_unstable();
    let members: Vec<u32> = order.iter().map(|&(_, i)| i).collect();
    let mut groups = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let weight = order[start].0;
        let end = start + order[start..].iter().take_while(|&&(w, _)| w == weight).count();
        // Reduced weights are at most max(MAX_PERIOD, u32::MAX), so they fit in i64.
        let weight = i64::try_from(weight).unwrap_or(i64::MAX);
        groups.push(Group { weight, members: &members[start..end], next: 0, current: 0 });
        start = end;
    }

    let period: i64 = groups.iter().map(|g| g.weight * g.members.len() as i64).sum();
    let mut schedule = Vec::with_capacity(usize::try_from(period).unwrap_or(0));
    for _ in 0..period {
        groups.iter_mut().for_each(|g| g.current += g.weight);
        let mut best = 0;
        for (j, g) in groups.iter().enumerate().skip(1) {
            let b = &groups[best];
            if g.current > b.current || (g.current == b.current && g.members[g.next] < b.members[b.next]) {
                best = j;
            }
        }
        let g = &mut groups[best];
        schedule.push(g.members[g.next]);
        g.next += 1;
        if g.next == g.members.len() {
            // Every member has now been picked once more: the next one's `current` is `total` lower.
            g.next = 0;
            g.current -= period;
        }
    }
    schedule.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::super::rng::wyrand;
    use super::*;

    /// Textbook nginx smooth weighted round-robin (O(n) per pick), as a reference.
    fn nginx_reference(weights: &[u64], picks: usize) -> Vec<u32> {
        let total: i64 = weights.iter().map(|&w| w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        let mut out = Vec::with_capacity(picks);
        for _ in 0..picks {
            let mut best: Option<usize> = None;
            for (i, &w) in weights.iter().enumerate().filter(|(_, &w)| w > 0) {
                current[i] += w as i64;
                if best.is_none_or(|b| current[i] > current[b]) {
                    best = Some(i);
                }
            }
            let b = best.unwrap();
            current[b] -= total;
            out.push(b as u32);
        }
        out
    }

    fn picks(rr: &SmoothRoundRobin, n: usize) -> Vec<usize> {
        (0..n).map(|_| rr.pick().unwrap()).collect()
    }

    fn counts(seq: &[usize], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        seq.iter().for_each(|&i| c[i] += 1);
        c
    }

    #[test]
    fn nginx_sequence() {
        let rr = SmoothRoundRobin::with_offset(&[5, 1, 1], 0);
        assert_eq!(rr.period(), 7);
        assert_eq!(picks(&rr, 14), [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn offset_rotates_the_sequence() {
        let rr = SmoothRoundRobin::with_offset(&[5, 1, 1], 9);
        assert_eq!(picks(&rr, 7), [1, 0, 2, 0, 0, 0, 0]);
    }

    #[test]
    fn exact_counts_per_period_from_any_start() {
        // gcd 3: reduced weights [1, 0, 2, 3], period 6.
        let weights = [3, 0, 6, 9];
        for offset in 0..6 {
            let rr = SmoothRoundRobin::with_offset(&weights, offset);
            assert_eq!(rr.period(), 6);
            assert_eq!(counts(&picks(&rr, 6 * 5), 4), [5, 0, 10, 15]);
        }
        let rr = SmoothRoundRobin::new(&[100, 100, 50, 1]);
        assert_eq!(rr.period(), 251);
        assert_eq!(counts(&picks(&rr, 251 * 3), 4), [300, 300, 150, 3]);
    }

    #[test]
    fn matches_textbook_nginx_on_random_weights() {
        let mut state = 11;
        for case in 0..300 {
            let n = 1 + (wyrand(&mut state) % 12) as usize;
            // Small weight alphabet so duplicates (grouped scheduling) and zeros are common.
            let weights: Vec<u32> =
                (0..n).map(|_| (wyrand(&mut state) % 6) as u32 * (1 + case % 3)).collect();
            let rr = SmoothRoundRobin::with_offset(&weights, 0);
            let reduced = effective_weights(&weights);
            let period: u64 = reduced.iter().sum();
            assert_eq!(rr.period() as u64, period, "{weights:?}");
            let expected = nginx_reference(&reduced, 2 * rr.period());
            let got: Vec<u32> = picks(&rr, 2 * rr.period()).iter().map(|&i| i as u32).collect();
            assert_eq!(got, expected, "{weights:?}");
        }
    }

    #[test]
    fn smooth_no_burst_of_the_heavy_provider() {
        // The naive schedule would be 9 x a then b; smooth puts b in the middle of the period.
        let rr = SmoothRoundRobin::with_offset(&[9, 1], 0);
        assert_eq!(picks(&rr, 10), [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        // Every prefix stays within one pick of its proportional share.
        let weights = [50, 30, 20, 7, 1];
        let rr = SmoothRoundRobin::with_offset(&weights, 0);
        let total: u32 = weights.iter().sum();
        let mut c = [0f64; 5];
        for t in 1..=rr.period() {
            c[rr.pick().unwrap()] += 1.0;
            for (i, &w) in weights.iter().enumerate() {
                let ideal = t as f64 * f64::from(w) / f64::from(total);
                assert!((c[i] - ideal).abs() < 1.5, "t={t} i={i} {c:?}");
            }
        }
    }

    #[test]
    fn zero_weight_is_never_picked() {
        let rr = SmoothRoundRobin::new(&[0, 2, 0, 1]);
        assert_eq!(rr.period(), 3);
        assert_eq!(counts(&picks(&rr, 300), 4), [0, 200, 0, 100]);
    }

    #[test]
    fn equal_weights_build_no_schedule_and_follow_nginx_from_any_start() {
        for n in [1usize, 2, 7, 2_000] {
            let weights = vec![40u32; n];
            let want: Vec<usize> =
                nginx_reference(&vec![40; n], 3 * n).into_iter().map(|i| i as usize).collect();
            for offset in [0, 1, n / 2, n + 3] {
                let rr = SmoothRoundRobin::with_offset(&weights, offset);
                assert!(rr.schedule.is_empty());
                assert_eq!(rr.period(), n);
                let start = offset % n;
                assert_eq!(picks(&rr, 2 * n), want[start..start + 2 * n]);
            }
        }
    }

    #[test]
    fn all_zero_is_plain_round_robin() {
        let rr = SmoothRoundRobin::with_offset(&[0, 0, 0], 0);
        assert_eq!(picks(&rr, 6), [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn empty_is_none() {
        let rr = SmoothRoundRobin::new(&[]);
        assert_eq!(rr.period(), 0);
        assert_eq!(rr.pick(), None);
    }

    #[test]
    fn long_period_is_scaled_down() {
        // Reduced period 100,001 > MAX_PERIOD: scaled, the light provider keeps one slot.
        let rr = SmoothRoundRobin::new(&[100_000, 1]);
        assert!(rr.period() <= MAX_PERIOD);
        let c = counts(&picks(&rr, rr.period()), 2);
        assert_eq!(c, [rr.period() - 1, 1]);

        let weights = [300_001u32, 200_000, 100_000, 1];
        let rr = SmoothRoundRobin::with_offset(&weights, 0);
        assert!(rr.period() <= MAX_PERIOD && rr.period() > MAX_PERIOD - 10, "{}", rr.period());
        let c = counts(&picks(&rr, rr.period()), 4);
        let total: u32 = weights.iter().sum();
        for i in 0..3 {
            let share = c[i] as f64 / rr.period() as f64;
            let expected = f64::from(weights[i]) / f64::from(total);
            assert!((share - expected).abs() < 1e-4, "{i}: {share} vs {expected}");
        }
        assert_eq!(c[3], 1);
    }

    #[test]
    fn huge_weights_and_many_providers() {
        let rr = SmoothRoundRobin::with_offset(&[u32::MAX, u32::MAX - 1, 1], 0);
        assert!(rr.period() <= MAX_PERIOD);
        // More non-zero providers than MAX_PERIOD: one slot each, in index order.
        let weights: Vec<u32> = (0..70_000).map(|i| 1 + i % 7).collect();
        let rr = SmoothRoundRobin::with_offset(&weights, 0);
        assert_eq!(rr.period(), 70_000);
        assert_eq!(picks(&rr, 3), [0, 1, 2]);
    }

    #[test]
    fn concurrent_picks_give_exact_counts() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 500;
        let weights = [5u32, 1, 1, 3];
        let rr = SmoothRoundRobin::new(&weights);
        let period = rr.period();
        assert_eq!(period, 10);
        let per_thread: Vec<Vec<usize>> = std::thread::scope(|s| {
            let handles: Vec<_> =
                (0..THREADS).map(|_| s.spawn(|| counts(&picks(&rr, ROUNDS * period), 4))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut total = vec![0; 4];
        per_thread.iter().flatten().enumerate().for_each(|(k, &c)| total[k % 4] += c);
        let expected: Vec<usize> = weights.iter().map(|&w| THREADS * ROUNDS * w as usize).collect();
        assert_eq!(total, expected);
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SmoothRoundRobin>();
    }
}
