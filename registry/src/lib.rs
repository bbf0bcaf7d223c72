//! zkmesh registry: Dubbo-style service discovery on Apache ZooKeeper.
//!
//! Package `zkmesh-registry`. Applications usually depend on `zkmesh`, which re-exports this
//! crate at its top (`zkmesh::Registry`) with the config center and the recipes behind
//! features. Feature `tower` (on by default): `Subscription::balancer` (zkmesh's weighted tower
//! balancer), `Subscription::discover` (tower's `Discover`) and the `tower` re-export; `tls`, `sasl`, `gssapi`: ways to authenticate to ZooKeeper.
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
//! - Who gets traffic: every picker uses each provider's effective weight (registered x warm-up
//!   x override x health, fixed in each [`ProviderSet`]). [`Subscription::balancer`] gives a
//!   [`Balancer`], a tower `Service` that draws two providers by effective weight and sends to
//!   the lower load per unit of weight; request outcomes (its [`Classify`], or
//!   [`Provider::report`] after a `select()`) eject failing providers for every picker, with
//!   exponential back-off, one probe to come back and a cap ([`OutlierPolicy`]).
//! - Layouts ([`Layout`]): the root is a setting ([`RegistryBuilder::root`]) and the services
//!   under it are written in zkmesh's own layout, Apache Dubbo's (`/dubbo/<interface>/providers`,
//!   its `override://` configurators as weight overrides) or Apache Curator x-discovery's (JSON
//!   instances, as Spring Cloud Zookeeper writes them), behind the same [`Registration`] and
//!   [`Subscription`]; a subscription may read several sources ([`SubscribeOptions::source`])
//!   and use their union, and [`Registry::services`] lists each service with its layouts.
//! - Observability: `tracing` events (session states, registrations, subscriptions, refusals,
//!   ejections) and metrics through the `metrics` facade (names in the README), nothing per pick.
//!
//! ```no_run
//! # async fn demo() -> zkmesh_registry::Result<()> {
//! use zkmesh_registry::{Registry, ServiceUrl};
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
#![deny(missing_docs)]
// Without `tower`, the helpers only the balancer calls (tag routes, pick weights, probes) rest.
#![cfg_attr(not(feature = "tower"), allow(dead_code))]

mod access;
mod atomic_file;
pub mod balance;
mod consumer;
mod error;
mod layout;
mod metrics;
mod registration;
mod registry;
mod rules;
mod session;
mod url;

pub use self::access::{AccessPolicy, AccessTarget, Identity, CONFIG_ROOT, SERVICES_ROOT};
pub use self::atomic_file::write_file_atomically;
pub use self::balance::InFlightGuard;
pub use self::consumer::{health_dir, EjectedProvider, EjectionReport, Ejections, HEALTH_DIR, PUBLISH_DELAY};
pub use self::consumer::{
    is_connection_error, load_snapshot, save_snapshot, snapshot_path, Classify, ConnectionErrors, ErrorRef,
    Filter, HttpServerErrors, LoadBalance, Outcome, OutlierPolicy, Provider, ProviderChange, ProviderChanges,
    ProviderFeed, ProviderHealth, ProviderSet, ProviderSource, RejectedNode, SavedProviders, SavedRules,
    Selected, Selector, SubscribeOptions, Subscription, WatchStrategy,
};
pub use self::consumer::{is_refused_connection, GrpcErrors, ProtectionThreshold, DEFAULT_ZONE_MINIMUM};
#[cfg(feature = "tower")]
pub use self::consumer::{
    request_tag, Balancer, BalancerLoad, RequestTag, ResponseFuture, ServiceDiscover, TagLayer, TagService,
    EWMA_MIN_STEP, TAG_HEADER,
};
pub use self::error::{Error, Result, UNKNOWN_IDENTITY};
pub use self::layout::{
    CuratorInstance, DubboOverride, Layout, ServiceListing, Source, CURATOR_SERVICE_TYPES, ZKMESH_CHILDREN,
};
pub use self::registration::Registration;
pub use self::registry::{Registry, RegistryBuilder, DEFAULT_CONSUMER_HOST, DEFAULT_ROOT};
pub use self::rules::{
    Action, Condition, Override, RequestContext, Rules, RulesCheck, Share, Split, TagRouting,
    DEFAULT_MAX_DISABLED_SHARE, MAX_FACTOR, TAG_PARAM,
};
pub use self::session::{
    default_instance, hostname, is_transient, join, validate_path, watch_event, Backoff, Environment,
    EphemeralNode, EphemeralStatus, LiveClient, NodeAcl, NodeClaim, NodeEvent, NodeWatch, Retry, Session,
    SessionBuilder, SessionCore, SessionState, TreeWatch, TreeWatchEvent, WatchTask, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RETRY_MAX, DEFAULT_RETRY_MIN, DEFAULT_SESSION_TIMEOUT,
};
pub use self::url::{
    validate_service_name, ServiceUrl, CONSUMER_SCHEME, DEFAULT_WEIGHT, MAX_SERVICE_NAME_LEN, MAX_URL_LEN,
    MAX_WARMUP_SECS, MAX_WEIGHT,
};
/// The tower version [`Subscription::discover`] is built for (0.5, with `balance`, `discover`
/// and `load`), so that a balancer built on it always matches.
#[cfg(feature = "tower")]
pub use tower;
#[cfg(feature = "tls")]
pub use zookeeper_client::TlsOptions;
pub use zookeeper_client::{Acl, AuthId, Client, Permission, SessionInfo, Stat};
