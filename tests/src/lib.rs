//! zkmesh end-to-end and fault tests: proxies, ensembles and expiries across crates (each crate's
//! own `tests/` run it against one healthy ZooKeeper).
//!
//! The library holds what the fault tests and `zkbench` (crate `bench`) share:
//! - [`Proxy`]: a loopback TCP proxy switched at runtime between [`Mode::Pass`],
//!   [`Mode::Pause`] (a partition), [`Mode::Blackhole`] and [`Mode::Reset`], to put network
//!   faults between a client and ZooKeeper;
//! - [`soak()`]: random provider churn, config publishes and injected session expiries with a
//!   periodic invariant check, measuring file descriptors, tokio tasks and RSS
//!   ([`SoakReport`]);
//! - [`support`]: ZooKeeper's truth about a service, a session's state log, bounded waits, and
//!   `local_zk::support`'s shared ZooKeeper, raw client and polling;
//! - [`Rng`]: a seeded generator, so that a run replays from its seed.
//!
//! The tests themselves are in `tests/`: `partition.rs` (through the proxy),
//! `ensemble_chaos.rs` (a 3-member ensemble: leader and follower kills, whole ensemble down),
//! `soak.rs`.
#![forbid(unsafe_code)]

mod proxy;
mod rng;
mod soak;
pub mod support;

pub use self::proxy::{Mode, Proxy, ProxyMonitor, ProxyStats};
pub use self::rng::Rng;
pub use self::soak::{soak, Resources, SoakReport};
