//! Ketama-style consistent hashing over a stable 64-bit hash (XXH64).

use std::fmt::Write as _;

/// Default number of virtual nodes for a provider of weight 100 (Dubbo's default weight).
pub const DEFAULT_REPLICAS: usize = 160;

/// Cap on the virtual nodes of a single provider, so that a misconfigured huge weight cannot make the
/// ring allocate gigabytes (reached at weight 40,960 with [`DEFAULT_REPLICAS`]).
pub const MAX_VNODES_PER_ID: usize = 1 << 16;

const P1: u64 = 0x9e37_79b1_85eb_ca87;
const P2: u64 = 0xc2b2_ae3d_27d4_eb4f;
const P3: u64 = 0x1656_67b1_9e37_79f9;
const P4: u64 = 0x85eb_ca77_c2b2_ae63;
const P5: u64 = 0x27d4_eb2f_1656_67c5;

/// Stable 64-bit hash used by [`HashRing`]: XXH64 with seed 0, over the raw bytes.
///
/// This is the reference xxHash64 algorithm (<https://github.com/Cyan4973/xxHash>), implemented here
/// without dependencies; it is **not** std's randomly keyed hasher, so the value of a given input is
/// the same in every process, on every platform (bytes are read little-endian) and in every version of
/// this crate, and matches any other XXH64 implementation (`stable_hash(b"") == 0xef46db3751d8e999`).
/// Changing it would remap every key of every consistent-hash consumer, so it must never change.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    xxh64(bytes, 0)
}

#[inline]
fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

#[inline]
fn merge_round(acc: u64, v: u64) -> u64 {
    (acc ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4)
}

fn read_u64(b: &[u8]) -> u64 {
    let mut lane = [0u8; 8];
    lane.copy_from_slice(&b[..8]);
    u64::from_le_bytes(lane)
}

fn read_u32(b: &[u8]) -> u64 {
    let mut lane = [0u8; 4];
    lane.copy_from_slice(&b[..4]);
    u64::from(u32::from_le_bytes(lane))
}

fn xxh64(input: &[u8], seed: u64) -> u64 {
    let mut rest = input;
    let mut h = if input.len() >= 32 {
        let mut v =
            [seed.wrapping_add(P1).wrapping_add(P2), seed.wrapping_add(P2), seed, seed.wrapping_sub(P1)];
        while rest.len() >= 32 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, read_u64(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        v.iter().fold(h, |h, &lane| merge_round(h, lane))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(input.len() as u64);
    while rest.len() >= 8 {
        h = (h ^ round(0, read_u64(rest))).rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        h = (h ^ read_u32(rest).wrapping_mul(P1)).rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &byte in rest {
        h = (h ^ u64::from(byte).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

/// Consistent-hash ring (ketama style): the same key keeps going to the same provider, and a
/// membership change only remaps about `1/n` of the keys.
///
/// Each provider id with weight `w` gets `replicas * w / 100` virtual nodes (at least 1 for a non-zero
/// weight, at most [`MAX_VNODES_PER_ID`]), placed at [`stable_hash`]`("{id}-{i}")` for
/// `i in 0..nodes`. The ring is a sorted boxed slice of `(point, provider index)`; a key goes to the
/// first point `>= stable_hash(key)`, wrapping around, found by binary search (O(log n),
/// allocation-free).
///
/// Placement depends only on the ids and weights, never on their order in the provider set, so every
/// consumer (in any process) maps a key to the same provider id. Ids are expected to be unique.
///
/// - An empty id list picks `None`.
/// - A zero weight gets no virtual node (never picked), unless **all** weights are zero, in which case
///   every id is placed as if its weight were 100.
#[derive(Debug, Clone)]
pub struct HashRing {
    ring: Box<[(u64, u32)]>,
}

impl HashRing {
    /// Builds the ring from one id and one weight per provider; `replicas` is the number of virtual
    /// nodes of a weight-100 provider (usually [`DEFAULT_REPLICAS`]).
    ///
    /// # Panics
    /// If `ids` and `weights` differ in length, or there are more than `u32::MAX` providers.
    pub fn new(ids: &[&str], weights: &[u32], replicas: usize) -> Self {
        assert_eq!(ids.len(), weights.len(), "HashRing::new: one weight per id is required");
        let all_zero = weights.iter().all(|&w| w == 0);
        let mut ring = Vec::new();
        let mut point = String::new();
        for (index, (id, &weight)) in ids.iter().zip(weights).enumerate() {
            let weight = if all_zero { 100 } else { weight };
            if weight == 0 {
                continue;
            }
            let index = u32::try_from(index).expect("more than u32::MAX providers");
            let nodes = replicas as u128 * u128::from(weight) / 100;
            let nodes = usize::try_from(nodes).unwrap_or(usize::MAX).clamp(1, MAX_VNODES_PER_ID);
            ring.reserve(nodes);
            for i in 0..nodes {
                point.clear();
                // Writing into a String cannot fail.
                let _ = write!(point, "{id}-{i}");
                ring.push((stable_hash(point.as_bytes()), index));
            }
        }
        ring.sort_unstable();
        Self { ring: ring.into_boxed_slice() }
    }

    /// Picks the provider index owning `key` (`None` if the ring is empty).
    #[inline]
    pub fn pick(&self, key: &[u8]) -> Option<usize> {
        let hash = stable_hash(key);
        let at = self.ring.partition_point(|&(point, _)| point < hash);
        let &(_, index) = self.ring.get(at).or_else(|| self.ring.first())?;
        Some(index as usize)
    }

    /// Number of virtual nodes on the ring.
    pub fn virtual_nodes(&self) -> usize {
        self.ring.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:20880")).collect()
    }

    fn ring(ids: &[String], weights: &[u32]) -> HashRing {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        HashRing::new(&refs, weights, DEFAULT_REPLICAS)
    }

    fn key(k: usize) -> String {
        format!("key-{k}")
    }

    #[test]
    fn hash_matches_reference_xxh64() {
        assert_eq!(stable_hash(b""), 0xef46_db37_51d8_e999);
        assert_eq!(stable_hash(b"a"), 0xd24e_c4f1_a98c_6e5b);
        assert_eq!(stable_hash(b"abc"), 0x44bc_2cf5_ad77_0999);
        assert_eq!(stable_hash(b"ABC"), 0xe66a_e735_4fcf_ee98);
        assert_eq!(stable_hash(b"0123"), 0x4c33_072b_4564_7dcb);
        assert_eq!(stable_hash(b"xxhash"), 0x32dd_3895_2c4b_c720);
        // 71 bytes with a seed: covers the 32-byte stripes and every tail path.
        let long = b"This code is derived from software contributed to The DragonFly Project";
        assert_eq!(xxh64(long, 0x4d61_7474_446c_6c6e), 0x103c_241e_eddc_8d32);
    }

    #[test]
    fn ring_points_and_picks_are_pinned() {
        // Virtual-node and key hashes are part of the wire-level contract between consumers.
        assert_eq!(stable_hash(b"10.0.0.1:20880-0"), PINNED_POINT);
        let r = ring(&ids(10), &[100; 10]);
        let picks: Vec<usize> = (0..8).map(|k| r.pick(key(k).as_bytes()).unwrap()).collect();
        assert_eq!(picks, PINNED_PICKS, "{picks:?}");
    }

    const PINNED_POINT: u64 = 0xc24d_2265_84da_c45d;
    const PINNED_PICKS: [usize; 8] = [3, 8, 9, 8, 2, 1, 0, 6];

    #[test]
    fn stable_across_rebuilds_and_orderings() {
        let ids_a = ids(10);
        let mut ids_b = ids_a.clone();
        ids_b.reverse();
        ids_b.swap(2, 7);
        let weights_a: Vec<u32> = (0..10).map(|i| 50 + 10 * i).collect();
        let weights_b: Vec<u32> =
            ids_b.iter().map(|id| weights_a[ids_a.iter().position(|x| x == id).unwrap()]).collect();
        let (r1, r2, r3) = (ring(&ids_a, &weights_a), ring(&ids_a, &weights_a), ring(&ids_b, &weights_b));
        for k in 0..10_000 {
            let key = key(k);
            let a = r1.pick(key.as_bytes()).unwrap();
            assert_eq!(r2.pick(key.as_bytes()), Some(a));
            assert_eq!(ids_b[r3.pick(key.as_bytes()).unwrap()], ids_a[a]);
        }
    }

    #[test]
    fn adding_a_provider_moves_few_keys_all_to_it() {
        let before = ids(10);
        let after = ids(11);
        let (r10, r11) = (ring(&before, &[100; 10]), ring(&after, &[100; 11]));
        let mut moved = 0;
        for k in 0..10_000 {
            let key = key(k);
            let old = &before[r10.pick(key.as_bytes()).unwrap()];
            let new = &after[r11.pick(key.as_bytes()).unwrap()];
            if old != new {
                assert_eq!(new, &after[10], "{key} moved from {old} to {new}");
                moved += 1;
            }
        }
        // Ideal is 1/11 (~909 keys).
        assert!(moved > 0 && moved < 2_000, "{moved} keys moved");
    }

    #[test]
    fn removing_a_provider_moves_only_its_keys() {
        let all = ids(10);
        let rest: Vec<String> = all.iter().filter(|id| *id != &all[3]).cloned().collect();
        let (full, less) = (ring(&all, &[100; 10]), ring(&rest, &[100; 9]));
        for k in 0..10_000 {
            let key = key(k);
            let old = &all[full.pick(key.as_bytes()).unwrap()];
            let new = &rest[less.pick(key.as_bytes()).unwrap()];
            assert!(old == new || old == &all[3], "{key} moved from {old} to {new}");
        }
    }

    fn shares(r: &HashRing, n: usize, keys: usize) -> Vec<f64> {
        let mut counts = vec![0usize; n];
        for k in 0..keys {
            counts[r.pick(key(k).as_bytes()).unwrap()] += 1;
        }
        counts.iter().map(|&c| c as f64 / keys as f64).collect()
    }

    #[test]
    fn load_follows_weights() {
        // Deterministic (stable hash, fixed keys); ketama with 160 nodes deviates a few percent.
        let even = shares(&ring(&ids(10), &[100; 10]), 10, 100_000);
        assert!(even.iter().all(|&s| (0.06..0.14).contains(&s)), "{even:?}");
        let r = ring(&ids(2), &[100, 300]);
        assert_eq!(r.virtual_nodes(), 160 + 480);
        let weighted = shares(&r, 2, 100_000);
        assert!((weighted[1] - 0.75).abs() < 0.05, "{weighted:?}");
    }

    #[test]
    fn zero_weight_all_zero_and_empty() {
        let r = ring(&ids(3), &[100, 0, 100]);
        assert_eq!(r.virtual_nodes(), 320);
        assert!(shares(&r, 3, 10_000)[1] == 0.0);
        let r = ring(&ids(4), &[0; 4]);
        assert_eq!(r.virtual_nodes(), 4 * DEFAULT_REPLICAS);
        assert!(shares(&r, 4, 10_000).iter().all(|&s| s > 0.15), "all-zero weights are uniform");
        assert_eq!(HashRing::new(&[], &[], DEFAULT_REPLICAS).pick(b"k"), None);
    }

    #[test]
    fn node_count_bounds() {
        // At least one node per non-zero weight, even with tiny weights or zero replicas.
        let r = HashRing::new(&["a", "b"], &[1, 0], DEFAULT_REPLICAS);
        assert_eq!(r.virtual_nodes(), 1);
        assert!((0..100).all(|k| r.pick(key(k).as_bytes()) == Some(0)));
        assert_eq!(HashRing::new(&["a", "b"], &[100, 100], 0).virtual_nodes(), 2);
        assert_eq!(HashRing::new(&["a"], &[u32::MAX], DEFAULT_REPLICAS).virtual_nodes(), MAX_VNODES_PER_ID);
    }

    #[test]
    fn keys_past_the_last_point_wrap_to_the_first() {
        let r = HashRing::new(&["a", "b", "c"], &[100, 100, 100], 4);
        let (last, first) = (r.ring[r.ring.len() - 1], r.ring[0]);
        let beyond = (0..100_000u32)
            .map(|k| k.to_le_bytes())
            .find(|k| stable_hash(k) > last.0)
            .expect("some key hashes past the last point");
        assert_eq!(r.pick(&beyond), Some(first.1 as usize));
    }

    #[test]
    #[should_panic(expected = "one weight per id")]
    fn mismatched_lengths_panic() {
        let _ = HashRing::new(&["a", "b"], &[1], DEFAULT_REPLICAS);
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<HashRing>();
    }
}
