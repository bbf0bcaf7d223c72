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

impl Settings {
    /// Refuses settings the providers cannot serve with (watchers keep the last good ones).
    ///
    /// # Errors
    /// A message naming the bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.greeting.trim().is_empty() {
            return Err("greeting must not be empty".into());
        }
        if self.delay_ms > 5_000 {
            return Err(format!("delay_ms {} is over 5000", self.delay_ms));
        }
        Ok(())
    }
}
