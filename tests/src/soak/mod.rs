//! The soak engine: random provider churn, config publishes and injected session expiries
//! against one ZooKeeper, with an invariant check run periodically, and the process's file
//! descriptors, tokio tasks and RSS measured at the start and at the end.
//!
//! Actors (each its own ZooKeeper session, under a chroot of its own):
//! - 3 provider sessions registering and deregistering (or dropping) providers of 2 services
//!   from a pool of 12 addresses each, never leaving a service without one;
//! - 2 consumer sessions, each subscribed to both services (default options: empty protection
//!   on) and watching 2 config documents;
//! - 1 publisher session publishing numbered versions of those documents.
//!
//! Every few seconds the churn pauses and the engine waits (bounded) for everything to settle,
//! then checks:
//! - ZooKeeper (read with a raw client) holds exactly the live registrations, each once,
//!   owned by its provider's current session, and each registration says it is active;
//! - every consumer's cache equals ZooKeeper's list;
//! - every config watcher holds the last published version, and so does ZooKeeper;
//! - every session is connected.
//!
//! Between checks, at every step: no consumer cache that had providers is empty, and no config
//! watcher goes back to an older version. Injected expiries (`expire_session`) hit any session.
//!
//! Resources are measured after the first settle and, at the end, after the providers went
//! back to the starting population and everything settled again, so that the two figures can
//! be compared ("flat").
//!
//! `engine.rs` holds [`soak()`] and the run (set-up, churn loop, finish), `actors.rs` the
//! sessions it drives, `churn.rs` their random steps, `invariants.rs` the checks,
//! `params.rs` the run's sizes, timings and names, `report.rs` the [`SoakReport`] and
//! `resources.rs` the [`Resources`] measured.

mod actors;
mod churn;
mod engine;
mod invariants;
mod params;
mod report;
mod resources;

pub use self::engine::soak;
pub use self::report::SoakReport;
pub use self::resources::Resources;
