//! Dubbo's warm-up weight ramp for freshly started providers.

use std::time::Duration;

/// Weight of a provider that has been up for `uptime`, ramping linearly to `weight` over `warmup`.
///
/// Dubbo's ramp: if `warmup` is zero or `uptime >= warmup`, the full `weight`; otherwise
/// `max(1, weight * uptime / warmup)` (rounded down, in nanoseconds, computed in `u128` so it cannot
/// overflow). A zero `weight` stays 0 (the provider is disabled, not warming up).
///
/// `uptime` is typically `now.saturating_duration_since(provider_start)`, so a start time in the
/// future (clock skew between hosts) counts as just started and gets weight 1. Unlike Dubbo, an uptime
/// of exactly zero is treated as warming up (weight 1), not as fully warm.
pub fn warmup_weight(weight: u32, uptime: Duration, warmup: Duration) -> u32 {
    if weight == 0 || warmup.is_zero() || uptime >= warmup {
        return weight;
    }
    // weight < 2^32 and uptime < warmup < 2^94 ns, so the product fits in u128 and the quotient is
    // below `weight`.
    let ramped = u128::from(weight) * uptime.as_nanos() / warmup.as_nanos();
    u32::try_from(ramped).unwrap_or(weight).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn full_weight_without_warmup_or_after_it() {
        assert_eq!(warmup_weight(100, Duration::ZERO, Duration::ZERO), 100);
        assert_eq!(warmup_weight(100, MIN, MIN), 100);
        assert_eq!(warmup_weight(100, 2 * MIN, MIN), 100);
    }

    #[test]
    fn linear_ramp() {
        assert_eq!(warmup_weight(100, MIN / 4, MIN), 25);
        assert_eq!(warmup_weight(100, MIN / 2, MIN), 50);
        assert_eq!(warmup_weight(100, MIN - Duration::from_nanos(1), MIN), 99);
        assert_eq!(warmup_weight(7, Duration::from_secs(30), MIN), 3);
    }

    #[test]
    fn at_least_one_while_warming() {
        assert_eq!(warmup_weight(100, Duration::ZERO, MIN), 1);
        assert_eq!(warmup_weight(100, Duration::from_millis(1), MIN), 1);
        assert_eq!(warmup_weight(1, MIN / 2, MIN), 1);
    }

    #[test]
    fn zero_stays_zero() {
        assert_eq!(warmup_weight(0, MIN / 2, MIN), 0);
        assert_eq!(warmup_weight(0, 2 * MIN, MIN), 0);
    }

    #[test]
    fn no_overflow_at_extremes() {
        assert_eq!(warmup_weight(u32::MAX, Duration::MAX / 2, Duration::MAX), u32::MAX / 2);
        assert_eq!(
            warmup_weight(u32::MAX, Duration::MAX - Duration::from_nanos(1), Duration::MAX),
            u32::MAX - 1
        );
        assert_eq!(warmup_weight(u32::MAX, Duration::MAX, Duration::MAX), u32::MAX);
        assert_eq!(warmup_weight(u32::MAX, Duration::from_nanos(1), Duration::MAX), 1);
    }
}
