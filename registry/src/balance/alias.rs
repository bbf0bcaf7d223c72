//! Weighted random selection in O(1): Vose's alias method.

use super::rng::{bounded, next_u64};

/// Weighted random balancer with constant-time picks: one table slot chosen uniformly, then
/// either that slot or its alias (Vose's alias method). Built in O(n) once per provider snapshot;
/// a pick costs the same for 10 providers as for 10,000 (no search), lock-free and
/// allocation-free.
///
/// Same rules as [`super::WeightedRandom`]: empty picks `None`; a zero weight is never picked
/// unless all weights are zero, then the pick is uniform.
#[derive(Debug, Clone)]
pub struct AliasTable {
    /// `threshold[i]`: keep slot `i` when the second draw is below it (`u64::MAX`: always keep).
    threshold: Box<[u64]>,
    /// The slot taken otherwise.
    alias: Box<[u32]>,
}

impl AliasTable {
    /// Builds the table from one weight per provider.
    ///
    /// # Panics
    /// With more than `u32::MAX` providers.
    pub fn new(weights: &[u32]) -> Self {
        let n = weights.len();
        assert!(n <= u32::MAX as usize, "at most u32::MAX providers");
        let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        let mut threshold = vec![u64::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        if total == 0 || n == 0 {
            return AliasTable { threshold: threshold.into(), alias: alias.into() };
        }
        // Scaled so that the average slot holds exactly `total`.
        let mut scaled: Vec<u128> = weights.iter().map(|&w| u128::from(w) * n as u128).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < total);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            // Keep `s` with probability scaled[s] / total, else go to `l`.
            threshold[s] = ((scaled[s] << 64) / total).min(u128::from(u64::MAX)) as u64;
            alias[s] = l as u32;
            scaled[l] = scaled[l] + scaled[s] - total;
            if scaled[l] < total {
                large.pop();
                small.push(l);
            }
        }
        // What is left holds exactly `total` (up to rounding): always kept.
        for i in small.into_iter().chain(large) {
            threshold[i] = u64::MAX;
            alias[i] = i as u32;
        }
        AliasTable { threshold: threshold.into(), alias: alias.into() }
    }

    /// Number of providers.
    pub fn len(&self) -> usize {
        self.threshold.len()
    }

    /// `true` if there are no providers.
    pub fn is_empty(&self) -> bool {
        self.threshold.is_empty()
    }

    /// Picks a provider index using the thread-local PRNG.
    #[inline]
    pub fn pick(&self) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        Some(self.pick_with(next_u64(), next_u64()))
    }

    /// Picks deterministically from two uniform 64-bit values (`is_empty()` must be false).
    #[inline]
    pub fn pick_with(&self, slot: u64, coin: u64) -> usize {
        let i = bounded(slot, self.len() as u64) as usize;
        if coin < self.threshold[i] || self.threshold[i] == u64::MAX {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(table: &AliasTable, picks: usize) -> Vec<f64> {
        let mut counts = vec![0usize; table.len()];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x = x.wrapping_add(0xA076_1D64_78BD_642F);
            let t = u128::from(x) * u128::from(x ^ 0xE703_7ED1_A0B4_28DB);
            ((t >> 64) as u64) ^ (t as u64)
        };
        for _ in 0..picks {
            counts[table.pick_with(next(), next())] += 1;
        }
        counts.iter().map(|&c| c as f64 / picks as f64).collect()
    }

    #[test]
    fn distribution_matches_weights() {
        let got = shares(&AliasTable::new(&[100, 100, 50]), 250_000);
        for (g, want) in got.iter().zip([0.4, 0.4, 0.2]) {
            assert!((g - want).abs() < 0.015, "{got:?}");
        }
        let weights: Vec<u32> = (1..=50).collect();
        let total: u32 = weights.iter().sum();
        let got = shares(&AliasTable::new(&weights), 500_000);
        for (g, w) in got.iter().zip(&weights) {
            let want = f64::from(*w) / f64::from(total);
            assert!((g - want).abs() < 0.004, "weight {w}: {g} vs {want}");
        }
    }

    #[test]
    fn zero_weights_are_never_picked_and_all_zero_is_uniform() {
        let table = AliasTable::new(&[0, 5, 0, 5, 0]);
        let got = shares(&table, 100_000);
        assert_eq!((got[0], got[2], got[4]), (0.0, 0.0, 0.0), "{got:?}");
        assert!((got[1] - 0.5).abs() < 0.01, "{got:?}");
        let uniform = shares(&AliasTable::new(&[0, 0, 0, 0]), 100_000);
        for g in uniform {
            assert!((g - 0.25).abs() < 0.01);
        }
    }

    #[test]
    fn empty_single_and_huge() {
        assert_eq!(AliasTable::new(&[]).pick(), None);
        let one = AliasTable::new(&[7]);
        assert_eq!((one.pick(), one.pick_with(u64::MAX, u64::MAX)), (Some(0), 0));
        let huge = AliasTable::new(&[u32::MAX, u32::MAX, 1]);
        let got = shares(&huge, 100_000);
        assert!((got[0] - 0.5).abs() < 0.01 && got[2] < 0.001, "{got:?}");
    }
}
