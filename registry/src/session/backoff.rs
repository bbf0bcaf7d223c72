//! Exponential back-off with jitter for retries against ZooKeeper.

use std::time::Duration;

/// Doubles from `min` up to `max`, each delay jittered down by up to a quarter so that many
/// clients retrying at once spread out. [`SessionCore::backoff`](super::SessionCore::backoff)
/// gives one with the session's bounds.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    seed: u64,
}

impl Backoff {
    /// A back-off from `min` to `max` (`max` below `min` counts as `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Backoff { min, max: max.max(min), next: min, seed: seed | 1 }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        // xorshift64: a cheap source of jitter, not of security.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let quarter = base / 4;
        let jitter_nanos = if quarter.is_zero() { 0 } else { self.seed % (quarter.as_nanos() as u64 + 1) };
        base - Duration::from_nanos(jitter_nanos)
    }

    /// Back to the shortest delay after a success.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_max_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let delays: Vec<_> = (0..6).map(|_| b.next_delay()).collect();
        for (d, base) in delays.iter().zip([100u64, 200, 400, 800, 800, 800]) {
            assert!(*d <= Duration::from_millis(base), "{d:?} > {base} ms");
            assert!(*d >= Duration::from_millis(base * 3 / 4), "{d:?} < 3/4 of {base} ms");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
