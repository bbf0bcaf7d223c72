//! The sessions a run drives: providers, consumers and the publisher, and the document it
//! publishes.

use std::collections::BTreeMap;

use config_center::{Config, ConfigCenter, Expect};
use registry::{Registration, Registry, Session, Subscription};
use serde::{Deserialize, Serialize};

use super::params::{doc_name, service, DOCS, NAMESPACE, SERVICES, SESSION_TIMEOUT};
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

async fn connect_registry(connect: &str) -> Result<Registry, String> {
    Registry::builder()
        .session_timeout(SESSION_TIMEOUT)
        .connect(connect)
        .await
        .map_err(|e| format!("cannot connect to {connect}: {e}"))
}

impl ProviderSide {
    /// A provider session, holding nothing yet.
    pub(super) async fn connect(connect: &str) -> Result<ProviderSide, String> {
        let registry = connect_registry(connect).await?;
        let states = StateLog::start(registry.session());
        Ok(ProviderSide { registry, held: BTreeMap::new(), states })
    }
}

impl ConsumerSide {
    /// A consumer session subscribed to every service and watching every document.
    pub(super) async fn connect(connect: &str) -> Result<ConsumerSide, String> {
        let registry = connect_registry(connect).await?;
        let mut subs = Vec::new();
        for s in 0..SERVICES {
            subs.push(registry.subscribe(&service(s)).await.map_err(|e| format!("subscribe: {e}"))?);
        }
        let center = ConfigCenter::builder().build(registry.session().clone()).map_err(|e| e.to_string())?;
        let mut configs = Vec::new();
        for d in 0..DOCS {
            configs.push(
                center.watch::<SoakDoc>(NAMESPACE, &doc_name(d)).await.map_err(|e| format!("watch: {e}"))?,
            );
        }
        let states = StateLog::start(registry.session());
        Ok(ConsumerSide {
            registry,
            subs,
            configs,
            states,
            had_providers: vec![false; SERVICES],
            highest_seq: vec![0; DOCS],
        })
    }
}

impl Publisher {
    /// The publisher's session, once it published the first version of every document.
    pub(super) async fn start(connect: &str) -> Result<Publisher, String> {
        let publisher_session = Session::builder()
            .session_timeout(SESSION_TIMEOUT)
            .connect(connect)
            .await
            .map_err(|e| format!("publisher session: {e}"))?;
        let center = ConfigCenter::builder().build(publisher_session.clone()).map_err(|e| e.to_string())?;
        let mut publisher = Publisher {
            center,
            states: StateLog::start(&publisher_session),
            next_seq: 1,
            last: vec![0; DOCS],
            uncertain: vec![false; DOCS],
        };
        for d in 0..DOCS {
            let seq = publisher.next_seq;
            publisher.next_seq += 1;
            let doc = SoakDoc { seq, note: format!("document {d}, first version") };
            publisher
                .center
                .publish(NAMESPACE, &doc_name(d), &doc, Expect::Any)
                .await
                .map_err(|e| format!("first publish of {}: {e}", doc_name(d)))?;
            publisher.last[d] = seq;
        }
        Ok(publisher)
    }
}
