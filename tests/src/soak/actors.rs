//! The sessions a run drives: providers, consumers and the publisher, and the document it
//! publishes.

use std::collections::BTreeMap;

use config_center::{Config, ConfigCenter};
use registry::{Registration, Registry, Subscription};
use serde::{Deserialize, Serialize};

use super::params::SESSION_TIMEOUT;
use crate::support::StateLog;

/// The document the publisher publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SoakDoc {
    pub(super) seq: u64,
    pub(super) note: String,
}

pub(super) struct ProviderSide {
    pub(super) registry: Registry,
    /// (service, address index) -> registration.
    pub(super) held: BTreeMap<(usize, usize), Registration>,
    pub(super) states: StateLog,
}

pub(super) struct ConsumerSide {
    pub(super) registry: Registry,
    pub(super) subs: Vec<Subscription>,
    pub(super) configs: Vec<Config<SoakDoc>>,
    pub(super) states: StateLog,
    /// Per service: had providers once (so must never be seen empty again).
    pub(super) had_providers: Vec<bool>,
    /// Per document: the highest version seen.
    pub(super) highest_seq: Vec<u64>,
}

pub(super) struct Publisher {
    pub(super) center: ConfigCenter,
    pub(super) states: StateLog,
    pub(super) next_seq: u64,
    /// Per document: the last version published successfully.
    pub(super) last: Vec<u64>,
    /// Per document: a publish failed after the last success (it may or may not have landed).
    pub(super) uncertain: Vec<bool>,
}

pub(super) async fn connect_registry(connect: &str) -> Result<Registry, String> {
    Registry::builder()
        .session_timeout(SESSION_TIMEOUT)
        .connect(connect)
        .await
        .map_err(|e| format!("cannot connect to {connect}: {e}"))
}
