//! Weighted random selection over cumulative weights.

use super::rng::{bounded, next_u64};

/// Weighted random balancer: picks index `i` with probability `weights[i] / sum(weights)`.
///
/// Built once per provider set from the per-provider weights; stores the cumulative (prefix)
/// sums as `u64`, so picking is one random draw plus a binary search (O(log n)), lock-free and
/// allocation-free.
///
/// - An empty weight list picks `None`.
/// - A zero weight is never picked, unless **all** weights are zero, in which case the pick is uniform.
#[derive(Debug, Clone)]
pub struct WeightedRandom {
    /// `cumulative[i] = weights[0] + ... + weights[i]`.
    cumulative: Box<[u64]>,
    /// Sum of all weights (0 means uniform selection).
    total: u64,
}

impl WeightedRandom {
    /// Builds the balancer from one weight per provider (index `i` of `weights` is provider `i`).
    pub fn new(weights: &[u32]) -> Self {
        let mut total = 0u64;
        let cumulative = weights
            .iter()
            .map(|&w| {
                total += u64::from(w);
                total
            })
            .collect();
        Self { cumulative, total }
    }

    /// Number of providers (including zero-weight ones).
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// `true` if there are no providers (every pick is `None`).
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// Sum of all weights; 0 means every pick is uniform.
    pub fn total_weight(&self) -> u64 {
        self.total
    }

    /// Picks a provider index using the thread-local PRNG.
    #[inline]
    pub fn pick(&self) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        self.pick_with(next_u64())
    }

    /// Picks a provider index deterministically from the uniform 64-bit value `r`.
    ///
    /// `r` is mapped onto `0..total` by multiply-shift (so its high bits matter most), then the first
    /// index whose cumulative weight exceeds it is found by binary search.
    #[inline]
    pub fn pick_with(&self, r: u64) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        if self.total == 0 {
            return Some(bounded(r, self.len() as u64) as usize);
        }
        Some(self.search(bounded(r, self.total)))
    }

    /// Weighted pick among all providers except `excluded`, from the uniform 64-bit value `r`.
    ///
    /// Requires `total > 0` and at least one non-zero weight besides `excluded`'s (the caller checks).
    pub(crate) fn pick_excluding(&self, r: u64, excluded: usize) -> usize {
        let end = self.cumulative[excluded];
        let weight = end - if excluded == 0 { 0 } else { self.cumulative[excluded - 1] };
        let start = end - weight;
        let mut target = bounded(r, self.total - weight);
        if target >= start {
            target += weight;
        }
        self.search(target)
    }

    /// Weight of provider `i` (requires `i < len`).
    pub(crate) fn weight(&self, i: usize) -> u64 {
        self.cumulative[i] - if i == 0 { 0 } else { self.cumulative[i - 1] }
    }

    /// First index whose cumulative weight is `> target` (`target < total`).
    #[inline]
    fn search(&self, target: u64) -> usize {
        self.cumulative.partition_point(|&c| c <= target)
    }
}

#[cfg(test)]
mod tests {
    use super::super::rng::wyrand;
    use super::*;

    fn counts(wr: &WeightedRandom, picks: usize, seed: u64) -> Vec<usize> {
        let mut state = seed;
        let mut counts = vec![0; wr.len()];
        for _ in 0..picks {
            counts[wr.pick_with(wyrand(&mut state)).unwrap()] += 1;
        }
        counts
    }

    fn assert_shares(counts: &[usize], expected: &[f64], tolerance: f64) {
        let total: usize = counts.iter().sum();
        for (i, (&c, &e)) in counts.iter().zip(expected).enumerate() {
            let share = c as f64 / total as f64;
            assert!((share - e).abs() <= tolerance, "index {i}: share {share} vs {e} ({counts:?})");
        }
    }

    #[test]
    fn distribution_matches_weights() {
        // 250,000 picks; sd of a 40% share is ~0.1 pp, so 1.5 pp is > 15 sd.
        let wr = WeightedRandom::new(&[100, 100, 50]);
        assert_shares(&counts(&wr, 250_000, 1), &[0.4, 0.4, 0.2], 0.015);
    }

    #[test]
    fn thread_rng_distribution_matches_weights() {
        let wr = WeightedRandom::new(&[100, 100, 50]);
        let mut counts = [0usize; 3];
        for _ in 0..250_000 {
            counts[wr.pick().unwrap()] += 1;
        }
        assert_shares(&counts, &[0.4, 0.4, 0.2], 0.015);
    }

    #[test]
    fn pick_with_is_deterministic_at_boundaries() {
        // total 6: index 0 owns [0,1), index 1 owns [1,3), index 2 owns [3,6).
        let wr = WeightedRandom::new(&[1, 2, 3]);
        assert_eq!(wr.pick_with(0), Some(0));
        assert_eq!(wr.pick_with(u64::MAX / 6), Some(0));
        assert_eq!(wr.pick_with(u64::MAX / 6 + 1), Some(1));
        assert_eq!(wr.pick_with(u64::MAX / 2), Some(1));
        assert_eq!(wr.pick_with(u64::MAX / 2 + 1), Some(2));
        assert_eq!(wr.pick_with(u64::MAX), Some(2));
        assert_eq!(wr.total_weight(), 6);
    }

    #[test]
    fn zero_weight_is_never_picked() {
        let wr = WeightedRandom::new(&[0, 5, 0, 5, 0]);
        let c = counts(&wr, 100_000, 2);
        assert_eq!((c[0], c[2], c[4]), (0, 0, 0));
        assert_shares(&c, &[0.0, 0.5, 0.0, 0.5, 0.0], 0.015);
        assert_eq!(wr.pick_with(0), Some(1));
        assert_eq!(wr.pick_with(u64::MAX), Some(3));
    }

    #[test]
    fn all_zero_is_uniform() {
        let wr = WeightedRandom::new(&[0, 0, 0, 0]);
        assert_shares(&counts(&wr, 100_000, 3), &[0.25; 4], 0.015);
        assert_eq!(wr.pick_with(0), Some(0));
        assert_eq!(wr.pick_with(u64::MAX), Some(3));
    }

    #[test]
    fn empty_is_none() {
        let wr = WeightedRandom::new(&[]);
        assert!(wr.is_empty());
        assert_eq!(wr.pick(), None);
        assert_eq!(wr.pick_with(123), None);
    }

    #[test]
    fn single_provider() {
        let wr = WeightedRandom::new(&[7]);
        assert!((0..100).all(|_| wr.pick() == Some(0)));
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let wr = WeightedRandom::new(&[u32::MAX; 1000]);
        assert_eq!(wr.total_weight(), u64::from(u32::MAX) * 1000);
        assert_eq!(wr.pick_with(u64::MAX), Some(999));
    }

    #[test]
    fn pick_excluding_never_returns_excluded_and_is_weighted() {
        let wr = WeightedRandom::new(&[1, 0, 3, 4]);
        let mut state = 9;
        let mut counts = [0usize; 4];
        for _ in 0..100_000 {
            let i = wr.pick_excluding(wyrand(&mut state), 2);
            counts[i] += 1;
        }
        assert_eq!((counts[1], counts[2]), (0, 0));
        assert_shares(&counts, &[0.2, 0.0, 0.0, 0.8], 0.015);
        assert_eq!(wr.weight(3), 4);
    }
}
