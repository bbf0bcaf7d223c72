//! Load-balancing building blocks.
//!
//! A consumer keeps an immutable set of its providers, rebuilt on every membership change and
//! shared through `arc-swap`. Each balancer in this module is built **once per provider set** from
//! per-provider inputs (weights, ids) and then picks an **index** into that set's provider list.
//!
//! Every `pick` is lock-free, allocation-free, O(1) or O(log n), and callable concurrently through
//! `&self`; every type is `Send + Sync`.
//!
//! Common rules shared by the weighted balancers:
//! - an empty provider list picks `None`;
//! - a provider with weight 0 is never picked, unless **all** weights are 0, in which case every
//!   provider is treated as having the same weight (uniform selection).
//!
//! | type | strategy |
//! |------|----------|
//! | [`AliasTable`] | weighted random in O(1) (Vose's alias method): what `select()` uses |
//! | [`WeightedRandom`] | weighted random (prefix sums + binary search) |
//! | [`SmoothRoundRobin`] | nginx smooth weighted round-robin, precomputed schedule |
//! | [`LeastRequests`] | power-of-two-choices over in-flight counts ([`InFlight`]) |
//! | [`HashRing`] | ketama-style consistent hashing over a stable hash ([`stable_hash`]) |
//!
//! [`warmup_weight`] implements Dubbo's warm-up ramp to compute the weights fed to the balancers,
//! and a fast thread-local PRNG (wyrand) feeds the random picks.

mod alias;
mod consistent_hash;
mod least_requests;
mod random;
mod rng;
mod round_robin;
mod warmup;

pub use alias::AliasTable;
pub use consistent_hash::{stable_hash, HashRing, DEFAULT_REPLICAS, MAX_VNODES_PER_ID};
pub use least_requests::{InFlight, InFlightGuard, LeastRequests};
pub use random::WeightedRandom;
pub use round_robin::{SmoothRoundRobin, MAX_PERIOD};
pub use warmup::warmup_weight;

#[cfg(test)]
mod properties;
