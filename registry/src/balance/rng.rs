//! Fast, non-cryptographic, thread-local pseudo-random numbers (wyrand).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Increment of the wyrand Weyl sequence.
const WY_INCREMENT: u64 = 0xa076_1d64_78bd_642f;
/// Multiplier xor-ed into the state before the 128-bit multiply.
const WY_XOR: u64 = 0xe703_7ed1_a0b4_28db;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// Fallback state used only when the thread-local state is unavailable (thread being torn down).
static FALLBACK: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);

/// One wyrand step: advances `state` and returns the next output.
///
/// Exposed to the crate so tests can run the same generator from a fixed seed.
pub(crate) fn wyrand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(WY_INCREMENT);
    let t = u128::from(*state) * u128::from(*state ^ WY_XOR);
    ((t >> 64) as u64) ^ (t as u64)
}

/// Maps a uniform `r` onto `0..n` without division (Lemire's multiply-shift). `n == 0` gives 0.
#[inline]
pub(crate) fn bounded(r: u64, n: u64) -> u64 {
    ((u128::from(r) * u128::from(n)) >> 64) as u64
}

/// Per-thread seed: std's randomly keyed SipHash over the thread id, the wall clock and the address
/// of a stack slot, so threads and processes start from unrelated states.
fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    std::thread::current().id().hash(&mut hasher);
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0).hash(&mut hasher);
    let marker = 0u8;
    (std::ptr::addr_of!(marker) as usize).hash(&mut hasher);
    hasher.finish()
}

/// Returns the next 64-bit value of this thread's PRNG (wyrand).
///
/// Each thread owns its state (`thread_local!` `Cell<u64>`), seeded on first use from std's randomly
/// keyed hasher over the thread id and the current time, so calls never contend. **Not
/// cryptographically secure**: use it for load balancing and jitter only. If called while the thread's
/// locals are being destroyed, it falls back to a shared atomic state instead of panicking.
#[inline]
pub fn next_u64() -> u64 {
    STATE
        .try_with(|s| {
            let mut state = s.get();
            let out = wyrand(&mut state);
            s.set(state);
            out
        })
        .unwrap_or_else(|_| {
            let mut state = FALLBACK.fetch_add(WY_INCREMENT, Ordering::Relaxed);
            wyrand(&mut state)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn wyrand_is_deterministic_for_a_seed() {
        let (mut a, mut b) = (7u64, 7u64);
        let xs: Vec<u64> = (0..8).map(|_| wyrand(&mut a)).collect();
        let ys: Vec<u64> = (0..8).map(|_| wyrand(&mut b)).collect();
        assert_eq!(xs, ys);
        assert_eq!(xs.iter().collect::<HashSet<_>>().len(), 8);
    }

    #[test]
    fn bounded_stays_in_range() {
        assert_eq!(bounded(0, 10), 0);
        assert_eq!(bounded(u64::MAX, 10), 9);
        assert_eq!(bounded(u64::MAX, 0), 0);
        assert_eq!(bounded(1 << 63, 10), 5);
    }

    #[test]
    fn next_u64_varies_and_covers_bits() {
        let xs: Vec<u64> = (0..1000).map(|_| next_u64()).collect();
        assert_eq!(xs.iter().collect::<HashSet<_>>().len(), 1000);
        let or = xs.iter().fold(0, |acc, x| acc | x);
        let and = xs.iter().fold(u64::MAX, |acc, x| acc & x);
        assert_eq!((or, and), (u64::MAX, 0));
    }

    #[test]
    fn threads_get_different_streams() {
        let a = std::thread::spawn(|| (0..4).map(|_| next_u64()).collect::<Vec<_>>()).join().unwrap();
        let b = std::thread::spawn(|| (0..4).map(|_| next_u64()).collect::<Vec<_>>()).join().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn uniform_enough() {
        // 100,000 draws into 10 buckets: expected 10,000 each, sd ~95; 1,000 is > 10 sd.
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[bounded(next_u64(), 10) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..=11_000).contains(&c)), "{counts:?}");
    }
}
