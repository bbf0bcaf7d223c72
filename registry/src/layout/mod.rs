//! Layouts: how the services under a root are written in ZooKeeper, so that zkmesh joins the
//! meshes that already run there.
//!
//! A [`Layout`] says how a root is read and written; a [`Registry`](crate::Registry) has one
//! (with its root, [`RegistryBuilder::layout`](crate::RegistryBuilder::layout)), and a
//! subscription may read other ones besides ([`SubscribeOptions::source`](crate::SubscribeOptions::source)):
//! the same [`Registration`](crate::Registration) and [`Subscription`](crate::Subscription) work
//! over all three.
//!
//! - `zkmesh.rs`: zkmesh's own layout, `<root>/<service>/{providers,consumers}/<URL node name>`.
//! - `dubbo.rs`: Apache Dubbo's interface-level layout, `/dubbo/<interface>/{providers,consumers,
//!   configurators,routers}/<URL node name>`, Dubbo's parameter names and its consumer URLs;
//!   `dubbo_config.rs`: Dubbo 2.6 `override://` configurators applied as weight overrides.
//! - `curator.rs`: Apache Curator x-discovery's `<root>/<name>/<id>`, data = a JSON
//!   `ServiceInstance` (Spring Cloud Zookeeper, Dubbo 3 application-level discovery);
//!   `curator_watch.rs`: following such a service (a read per instance, concurrent).
//! - `listing.rs`: what lives under a root ([`ServiceListing`]), by layout.

mod curator;
mod curator_watch;
mod dubbo;
mod dubbo_config;
mod kind;
mod listing;
mod zkmesh;

pub use self::curator::{CuratorInstance, CURATOR_SERVICE_TYPES};
pub use self::dubbo_config::DubboOverride;
pub use self::kind::{Layout, Source};
pub use self::listing::{ServiceListing, ZKMESH_CHILDREN};

pub(crate) use self::curator_watch::follow_instances;
pub(crate) use self::dubbo::{application as dubbo_application, consumer_url as dubbo_consumer_url};
pub(crate) use self::dubbo_config::{follow_configurators, override_factor as dubbo_override_factor};
pub(crate) use self::kind::{consumer_registration, decode_node, provider_node};
pub(crate) use self::listing::list_services;
