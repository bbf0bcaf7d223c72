#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use zkmesh_registry::*;

/// The registry crate ([`zkmesh-registry`](https://docs.rs/zkmesh-registry)), whose items are
/// also re-exported at the top of this crate.
pub use zkmesh_registry as registry;

/// The config center ([`zkmesh-config`](https://docs.rs/zkmesh-config)); its main types are
/// also at the top of this crate ([`ConfigCenter`], [`Config`], [`Expect`], ...). Feature
/// `config`.
#[cfg(feature = "config")]
pub use zkmesh_config as config;
#[cfg(feature = "config")]
pub use zkmesh_config::{
    Canary, Config, ConfigCenter, ConfigCenterBuilder, ConfigSpec, Expect, HistoryEntry, PublishMeta,
    Published, RulesStore, Status, WatcherStatus,
};

/// The recipes ([`zkmesh-recipes`](https://docs.rs/zkmesh-recipes)): leader election, locks,
/// semaphore, shared count, group, tree cache, scheduled jobs, ids, queue, barrier. Feature
/// `recipes`.
#[cfg(feature = "recipes")]
pub use zkmesh_recipes as recipes;

/// Real ZooKeeper servers on loopback for tests and development
/// ([`zkmesh-local-zk`](https://docs.rs/zkmesh-local-zk)). Feature `local-zk`.
#[cfg(feature = "local-zk")]
pub use zkmesh_local_zk as local_zk;
