//! What providers read from the config center: the greeting and an artificial delay.

use serde::{Deserialize, Serialize};

/// The providers' settings, hot-reloaded from `/config/demo/greeter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The word each reply starts with.
    pub greeting: String,
    /// Milliseconds each request waits before answering (to make latency visible).
    pub delay_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { greeting: "Hello".into(), delay_ms: 0 }
    }
}
