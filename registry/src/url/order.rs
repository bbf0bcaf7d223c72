//! [`OrderKey`]: how two [`ServiceUrl`](super::ServiceUrl)s are usually ordered without reading
//! their strings.
//!
//! A provider set is sorted by URL and binary-searched by URL, so URLs are compared a lot, and a
//! comparison of the derived kind reads the scheme's and the host's heap buffers of both URLs:
//! with a few thousand providers, sorting an already sorted set costs thousands of cache
//! misses. The key holds the first bytes of `scheme 0x00 host 0x00 port` (port in two
//! big-endian bytes), zero-padded, inline in the URL. Comparing keys gives the order of
//! `(scheme, host, port)` whenever they differ:
//! - no byte of a scheme or host is 0 (both are validated), so the separators make the bytes
//!   compare as the tuple does, a shorter scheme or host first;
//! - two such byte strings never differ by one being a prefix of the other (their zero
//!   separators fall at the same places, and two port bytes end both), so the zero padding
//!   never decides an order on its own.
//!
//! Equal keys say nothing: the full comparison follows.

use std::cmp::Ordering;

/// Bytes of `scheme 0x00 host 0x00 port` kept (`http`, an IPv4 address and a port fit).
const LEN: usize = 24;

/// See the module docs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct OrderKey([u64; LEN / 8]);

impl OrderKey {
    pub(super) fn of(scheme: &str, host: &str, port: u16) -> Self {
        let mut bytes = [0u8; LEN];
        let port = port.to_be_bytes();
        let all = scheme.bytes().chain([0]).chain(host.bytes()).chain([0]).chain(port);
        for (slot, byte) in bytes.iter_mut().zip(all) {
            *slot = byte;
        }
        let mut words = [0u64; LEN / 8];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut be = [0u8; 8];
            be.copy_from_slice(chunk);
            *word = u64::from_be_bytes(be);
        }
        OrderKey(words)
    }

    /// The order of two keys (see the module docs for what `Equal` means).
    pub(super) fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,3}(\\.[a-z]{1,30}){0,2}",
            "10\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            "[0-9a-f:]{2,12}"
        ]
    }

    proptest! {
        /// Whenever the keys differ, they order like `(scheme, host, port)`.
        #[test]
        fn differing_keys_order_like_scheme_host_port(
            a in ("[a-z]{1,6}", host(), any::<u16>()),
            b in ("[a-z]{1,6}", host(), any::<u16>()),
        ) {
            let (ka, kb) = (OrderKey::of(&a.0, &a.1, a.2), OrderKey::of(&b.0, &b.1, b.2));
            let tuple = (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2));
            match ka.cmp(&kb) {
                Ordering::Equal => prop_assert!(tuple == Ordering::Equal || a.0.len() + a.1.len() + 4 > LEN),
                order => prop_assert_eq!(order, tuple),
            }
        }
    }
}
