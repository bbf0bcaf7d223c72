//! The zkmesh demo: hyper providers of `greeter` registered in ZooKeeper, and a consumer that
//! balances over them with zkmesh's weighted balancer (`Subscription::balancer`), which ejects a
//! provider at its first connection failure.
//!
//! Providers hot-reload their [`Settings`] from the config center.
//!
//! `cargo run -p rpc-demo` runs the whole story in one process; the `provider` and `consumer`
//! binaries run the pieces in separate terminals.
#![forbid(unsafe_code)]

mod client;
mod provider;
mod settings;

pub use client::{CallError, GreeterClient, Reply, Stats};
pub use provider::GreeterProvider;
pub use settings::Settings;

/// The service the demo registers and calls.
pub const SERVICE: &str = "greeter";

/// The providers' settings live at `/config/<CONFIG_NAMESPACE>/<CONFIG_NAME>`.
pub const CONFIG_NAMESPACE: &str = "demo";
/// See [`CONFIG_NAMESPACE`].
pub const CONFIG_NAME: &str = "greeter";

/// A boxed error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
