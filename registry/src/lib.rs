//! zkmesh registry: Dubbo-style service discovery on Apache ZooKeeper.
//!
//! Features:
//! - [`Session`]: one logical ZooKeeper session that survives disconnections and expiry, with
//!   Curator-style [`SessionState`]s, ephemeral nodes it re-creates by itself
//!   ([`EphemeralNode`]) and push-then-pull watches ([`NodeWatch`]).
//! - [`Registry`]: providers [`register`](Registry::register) a [`ServiceUrl`] as an ephemeral
//!   node; consumers [`subscribe`](Registry::subscribe) and get a [`Subscription`]: a lock-free,
//!   load-balanced ([`LoadBalance`]) address cache, filtered ([`Filter`]), with empty protection,
//!   a disk snapshot to boot from while ZooKeeper is down, a stream of
//!   [`ProviderChange`]s and a tower `Discover` ([`Subscription::discover`]).
//!   [`Subscription::select`] picks from the calling thread's copy of the current set (one
//!   atomic load, no write to shared memory); [`Subscription::selector`] gives a [`Selector`]
//!   that one thread or task owns, returning plain borrows.
//! - [`recipes`]: leader election with an observable leader ([`LeaderElection`],
//!   [`LeaderObserver`]), locks ([`Lock`], [`ReadWriteLock`]), ids ([`IdGenerator`]), a FIFO queue
//!   ([`DistributedQueue`]) and a double barrier ([`DoubleBarrier`]); waiters watch only their
//!   predecessor.
//! - Observability: `tracing` events (session states, registrations, subscriptions, refusals)
//!   and metrics through the `metrics` facade (names in the README), nothing per pick.
//!
//! ```no_run
//! # async fn demo() -> registry::Result<()> {
//! use registry::{Registry, ServiceUrl};
//! let registry = Registry::builder().connect("127.0.0.1:2181/prod").await?;
//! let me = registry.register(&ServiceUrl::parse("http://10.0.0.5:8080/greeter?weight=100")?).await?;
//! let greeter = registry.subscribe("greeter").await?;
//! if let Some(provider) = greeter.select() {
//!     println!("calling {}", provider.address());
//! }
//! let mut picker = greeter.selector(); // one per thread or task
//! if let Some(provider) = picker.select() {
//!     println!("calling {}", provider.address());
//! }
//! me.deregister().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod backoff;
pub mod balance;
mod cache;
mod changes;
mod consumer;
mod current;
mod discover;
mod ephemeral;
mod error;
mod filter;
mod metrics;
mod path;
mod provider;
pub mod recipes;
mod registry;
mod selector;
mod session;
mod snapshot;
mod url;
mod watch;

pub use self::balance::InFlightGuard;
pub use self::cache::{LoadBalance, Provider, ProviderSet, RejectedNode, Source};
pub use self::changes::{ProviderChange, ProviderChanges};
pub use self::consumer::{SubscribeOptions, Subscription};
pub use self::current::Selected;
pub use self::discover::ServiceDiscover;
pub use self::ephemeral::{EphemeralNode, EphemeralStatus};
pub use self::error::{Error, Result};
pub use self::filter::Filter;
pub use self::path::{join, validate_path};
pub use self::provider::Registration;
#[allow(unused_imports)]
pub use self::recipes::*;
pub use self::registry::{Registry, RegistryBuilder};
pub use self::selector::Selector;
pub use self::session::{NodeAcl, Session, SessionBuilder, SessionState};
pub use self::snapshot::{load_snapshot, save_snapshot, snapshot_path, SavedProviders};
pub use self::url::{
    validate_service_name, ServiceUrl, CONSUMER_SCHEME, DEFAULT_WEIGHT, MAX_SERVICE_NAME_LEN, MAX_URL_LEN,
    MAX_WARMUP_SECS, MAX_WEIGHT,
};
pub use self::watch::{NodeEvent, NodeWatch, WatchTask};
#[cfg(feature = "tls")]
pub use zookeeper_client::TlsOptions;
pub use zookeeper_client::{Acl, AuthId, Client, Permission, SessionInfo, Stat};
