//! `GET /api/overview`: what the console is connected to and whether it may write.

use serde_json::{json, Value};

use crate::console::State;

/// The console's own version.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `{"root", "zookeeper", "writable", "version", "layout", "config_root", "connected",
/// "live"}` (`live`: the watches behind `/api/events` are armed):
/// `zookeeper` is the connect string (hosts and chroot; credentials never are part of it).
pub(crate) fn overview(state: &State) -> Value {
    json!({
        "root": state.registry.root(),
        "zookeeper": state.session.connect_string(),
        "writable": state.write_token.is_some(),
        "version": VERSION,
        "layout": state.registry.layout().name(),
        "config_root": state.config.root(),
        "connected": state.session.client().is_some(),
        "live": state.live.load(std::sync::atomic::Ordering::Relaxed),
    })
}
