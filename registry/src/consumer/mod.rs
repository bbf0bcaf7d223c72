//! The consumer side: what a service's providers are, and who gets the next request.
//!
//! A [`Subscription`] (`subscription.rs`) follows `/services/<service>/providers` with a
//! persistent recursive watch whose events are applied without a read (`membership.rs`:
//! ZooKeeper's names, decoded once each), or with a push-then-pull one-shot watch
//! ([`WatchStrategy`], `options.rs`); what it learns goes through its `Directory`
//! (`directory.rs`: decode, [`Filter`], empty protection, disk writes) and becomes an
//! immutable [`ProviderSet`]
//! (`provider_set.rs`: the decoded [`Provider`]s and their balancer; the providers in shared
//! chunks, `sorted_providers.rs`, so that one provider created or deleted changes the set in
//! place of a rebuild, `one_change.rs`), stored in the
//! subscription's current-set cell (`current.rs`) that [`Subscription::select`] and a
//! [`Selector`] (`selector.rs`) pick from without a lock. [`ProviderChanges`] (`changes.rs`) is
//! a per-reader diff stream, [`ServiceDiscover`] (`discover.rs`) the tower `Discover`, and
//! `disk_snapshot.rs` the file a consumer boots from while ZooKeeper is down.
//!
//! Who gets traffic: every picker reads each provider's effective weight from the set
//! (registered weight x warm-up x override x health). [`Balancer`] (`balancer/`) is the tower
//! balancer that honours it; request outcomes, reported by the balancer or by
//! [`Provider::report`], feed each provider's health (`outlier.rs`), and the subscription's
//! ejector (`ejector.rs`) ejects, probes and brings back providers by rebuilding the set, and a
//! publisher (`health_status.rs`) lists the ejected ones in the consumer's health node;
//! `ejections.rs` reads every consumer's back.
//! When most providers vanish from ZooKeeper at once, the [`ProtectionThreshold`]
//! (`protection.rs`) keeps them as suspects while they answer, and zone preference
//! ([`Filter::prefer_zone`]) narrows to a zone only while it has enough healthy providers.

/// A hash map keyed by what ZooKeeper lists (node names of a few hundred bytes, addresses),
/// looked up on every provider change: rapidhash costs a fraction of std's SipHash there, and
/// its secrets and per-map seeds are drawn at random (std's secure RNG), so that names chosen to
/// collide cannot be computed in advance by whoever may create provider nodes.
pub(crate) type NameMap<K, V> = std::collections::HashMap<K, V, rapidhash::fast::RandomState>;

/// A hash set of what ZooKeeper lists, hashed as a [`NameMap`].
pub(crate) type NameSet<K> = std::collections::HashSet<K, rapidhash::fast::RandomState>;

mod balancer;
mod changes;
mod current;
mod directory;
#[cfg(feature = "tower")]
mod discover;
mod disk_snapshot;
mod ejections;
mod ejector;
mod feed;
mod filter;
mod health_status;
mod membership;
mod one_change;
mod options;
mod outlier;
mod protection;
mod provider;
mod provider_set;
mod routes;
mod rules_watch;
mod selector;
mod sorted_providers;
mod subscription;
mod union;

pub use self::balancer::{
    is_connection_error, is_refused_connection, Classify, ConnectionErrors, ErrorRef, GrpcErrors,
    HttpServerErrors,
};
#[cfg(feature = "tower")]
pub use self::balancer::{
    request_tag, Balancer, BalancerLoad, RequestTag, ResponseFuture, TagLayer, TagService, EWMA_MIN_STEP,
    TAG_HEADER,
};
pub use self::changes::{ProviderChange, ProviderChanges};
pub use self::current::Selected;
#[cfg(feature = "tower")]
pub use self::discover::ServiceDiscover;
pub use self::disk_snapshot::{load_snapshot, save_snapshot, snapshot_path, SavedProviders, SavedRules};
pub use self::ejections::Ejections;
pub use self::feed::ProviderFeed;
pub use self::filter::{Filter, DEFAULT_ZONE_MINIMUM};
pub use self::health_status::{health_dir, EjectedProvider, EjectionReport, HEALTH_DIR, PUBLISH_DELAY};
pub use self::options::{SubscribeOptions, WatchStrategy};
pub use self::outlier::{Outcome, OutlierPolicy, ProviderHealth};
pub use self::protection::ProtectionThreshold;
pub use self::provider::Provider;
pub use self::provider_set::{LoadBalance, ProviderSet, ProviderSource, RejectedNode};
pub use self::selector::Selector;
pub use self::subscription::Subscription;

pub(crate) use self::current::CurrentSet;
pub(crate) use self::directory::Directory;
pub(crate) use self::membership::Membership;
pub(crate) use self::provider::scale;
pub(crate) use self::provider_set::SetParts;
pub(crate) use self::subscription::{subscribe, subscribe_fed, RegistryDefaults};
