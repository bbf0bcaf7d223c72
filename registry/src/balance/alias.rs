//! Weighted random selection in O(1): Vose's alias method.

use super::rng::next_u64;

/// Weighted random balancer with constant-time picks: one table slot chosen uniformly, then
/// either that slot or its alias (Vose's alias method). Built in O(n) once per provider set;
/// a pick costs the same for 10 providers as for 10,000 (no search), lock-free and
/// allocation-free.
///
/// Same rules as [`super::WeightedRandom`]: empty picks `None`; a zero weight is never picked
/// unless all weights are zero, then the pick is uniform.
///
/// A slot is 8 bytes (threshold and alias side by side), so a pick touches one cache line of
/// the table whatever its size, and draws one 64-bit random number. When every provider has
/// the same weight (the common case: no warm-up, no override, nobody ejected) there is no
/// table at all: building costs one pass over the weights and a pick is the uniform draw.
#[derive(Debug, Clone)]
pub struct AliasTable {
    /// How many providers.
    len: usize,
    /// The slots; empty when the pick is uniform (all weights equal, or all zero).
    slots: Box<[Slot]>,
}

/// One slot of the table.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Keep this slot when the coin (32 random bits) is below it; `u32::MAX`: always keep.
    threshold: u32,
    /// The slot taken otherwise.
    alias: u32,
}

impl AliasTable {
    /// Builds the table from one weight per provider.
    ///
    /// # Panics
    /// With more than `u32::MAX` providers.
    pub fn new(weights: &[u32]) -> Self {
        let n = weights.len();
        assert!(n <= u32::MAX as usize, "at most u32::MAX providers");
        // Without an early exit, so that the check runs a vector of weights at a time.
        let first = weights.first().copied().unwrap_or(0);
        if weights.iter().fold(true, |equal, &w| equal & (w == first)) {
            // Equal weights (all zero included, which pick uniformly too).
            return AliasTable { len: n, slots: Box::default() };
        }
        let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        let mut slots: Vec<Slot> = (0..n as u32).map(|i| Slot { threshold: u32::MAX, alias: i }).collect();
        // Scaled so that the average slot holds exactly `total`.
        let mut scaled: Vec<u128> = weights.iter().map(|&w| u128::from(w) * n as u128).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < total);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            // Keep `s` with probability scaled[s] / total, else go to `l`.
            let threshold = ((scaled[s] << 32) / total).min(u128::from(u32::MAX)) as u32;
            slots[s] = Slot { threshold, alias: l as u32 };
            scaled[l] = scaled[l] + scaled[s] - total;
            if scaled[l] < total {
                large.pop();
                small.push(l);
            }
        }
        // What is left holds exactly `total` (up to rounding): always kept.
        for i in small.into_iter().chain(large) {
            slots[i] = Slot { threshold: u32::MAX, alias: i as u32 };
        }
        AliasTable { len: n, slots: slots.into() }
    }

    /// Number of providers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if there are no providers.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Picks a provider index using the thread-local PRNG.
    #[inline]
    pub fn pick(&self) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        Some(self.pick_with(next_u64()))
    }

    /// Picks deterministically from one uniform 64-bit value (`is_empty()` must be false): the
    /// high half of `r * len` chooses the slot (Lemire's multiply-shift), the top 32 bits of
    /// the low half, uniform and independent of the slot up to `len / 2^64`, are the coin.
    #[inline]
    pub fn pick_with(&self, r: u64) -> usize {
        let product = u128::from(r) * self.len as u128;
        let i = (product >> 64) as usize;
        let Some(&slot) = self.slots.get(i) else { return i }; // uniform: no table
        let coin = ((product as u64) >> 32) as u32;
        if coin < slot.threshold || slot.threshold == u32::MAX {
            i
        } else {
            slot.alias as usize
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
            counts[table.pick_with(next())] += 1;
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
    fn equal_weights_build_no_table_and_pick_uniformly() {
        let table = AliasTable::new(&[40; 8]);
        assert!(table.slots.is_empty());
        assert_eq!(table.len(), 8);
        for g in shares(&table, 200_000) {
            assert!((g - 0.125).abs() < 0.01, "{g}");
        }
        assert!(!AliasTable::new(&[40, 40, 41]).slots.is_empty(), "one weight apart: a table");
    }

    #[test]
    fn empty_single_and_huge() {
        assert_eq!(AliasTable::new(&[]).pick(), None);
        let one = AliasTable::new(&[7]);
        assert_eq!((one.pick(), one.pick_with(u64::MAX)), (Some(0), 0));
        let huge = AliasTable::new(&[u32::MAX, u32::MAX, 1]);
        let got = shares(&huge, 100_000);
        assert!((got[0] - 0.5).abs() < 0.01 && got[2] < 0.001, "{got:?}");
    }
}
