//! zkmesh config center: typed configuration hot-reloaded from ZooKeeper.
//!
//! Not built yet: this crate is a skeleton until the config-center issue lands.
#![forbid(unsafe_code)]
