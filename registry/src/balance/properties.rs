//! Every balancer over arbitrary weights: zero, huge (up to the URL limit and beyond),
//! mixed; never a panic, never a zero-weight pick while a positive weight exists, every
//! pick in range.
use std::sync::atomic::AtomicUsize;

use proptest::prelude::*;

use super::*;

fn weights() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(prop_oneof![Just(0u32), 1u32..=100, 1u32..=1_000_000, Just(u32::MAX)], 0..40)
}

proptest! {
    #[test]
    fn picks_respect_weights(weights in weights(), r in any::<u64>(), r2 in any::<u64>()) {
        let any_positive = weights.iter().any(|&w| w > 0);
        let ok = |i: Option<usize>| -> bool {
            match i {
                None => weights.is_empty(),
                Some(i) => i < weights.len() && (!any_positive || weights[i] > 0),
            }
        };
        prop_assert!(ok(WeightedRandom::new(&weights).pick_with(r)));
        prop_assert!(ok(WeightedRandom::new(&weights).pick()));
        let rr = SmoothRoundRobin::new(&weights);
        for _ in 0..8 {
            prop_assert!(ok(rr.pick()));
        }
        let load: Vec<AtomicUsize> = weights.iter().map(|_| AtomicUsize::new(0)).collect();
        let lr = LeastRequests::new(&weights);
        prop_assert!(ok(lr.pick_with(r, r2, |i| load[i].load(std::sync::atomic::Ordering::Relaxed))));
        let ids: Vec<String> = (0..weights.len()).map(|i| format!("10.0.0.{i}:80")).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let capped: Vec<u32> = weights.iter().map(|&w| w.min(10_000)).collect();
        let ring = HashRing::new(&id_refs, &capped, 10);
        prop_assert!(ok(ring.pick(&r.to_be_bytes())));
        prop_assert!(warmup_weight(weights.first().copied().unwrap_or(0), std::time::Duration::from_secs(r % 100), std::time::Duration::from_secs(60)) <= weights.first().copied().unwrap_or(0).max(1));
    }
}
