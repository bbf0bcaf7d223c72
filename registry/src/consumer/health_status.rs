//! Ejections made visible: each consumer publishes the providers its outlier detection ejects
//! in one ephemeral node per subscription, `<root>/<service>/health/<instance>` (zkmesh layout
//! only), so an operator (the console, `zkmesh providers`) sees "ejected by K of N consumers".
//!
//! The ejector (`ejector.rs`) puts the ejected list in [`Outliers::ejected`](super::outlier)
//! whenever it changes; nothing here runs on the pick path or in the ejection itself. This
//! task wakes on such a change, waits [`PUBLISH_DELAY`] (a burst of ejections, one write),
//! and then: creates the node (with the list as its data) on the first ejection, rewrites it
//! when the list differs from what the node holds, deletes it when nothing is ejected. The
//! node is kept by the session's ephemeral machinery ([`crate::EphemeralNode`]): re-created
//! after a session expiry or a deletion by someone else, with its creation data, which this
//! task then brings up to date. A consumer that ejects nothing writes nothing.
//!
//! The consumer node (`<service>/consumers/<url>`) keeps its empty data: the health node is a
//! separate child of the service, so the wire contract of the consumer nodes is unchanged.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::session::{default_instance, hostname, EphemeralNode, EphemeralStatus, NodeClaim, Session};

/// The child of a service under which consumers publish their ejections.
pub const HEALTH_DIR: &str = "health";

/// How long the publisher waits after a change before it writes: a burst of ejections (a
/// zone going down) becomes one write.
pub const PUBLISH_DELAY: Duration = Duration::from_millis(100);

/// One provider a consumer ejects, as its health node lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EjectedProvider {
    /// The provider's `host:port`.
    pub address: String,
    /// The provider's node name (its encoded URL).
    pub node: String,
    /// When this consumer ejected it (ms since the Unix epoch); a failed probe keeps the time
    /// of the first ejection.
    pub since_ms: u64,
}

/// The data of a consumer's health node, `<root>/<service>/health/<instance>`: JSON,
/// `{"instance":"web-1","host":"web-1.example","pid":42,"ejected":[{"address":"10.0.0.5:8080",
/// "node":"http%3A%2F%2F...","since_ms":1764680000000}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EjectionReport {
    /// The consumer instance (the node's name).
    pub instance: String,
    /// The consumer's host name.
    pub host: String,
    /// The consumer's process id.
    pub pid: u32,
    /// The providers it ejects now (never empty in a stored node: the node goes instead).
    pub ejected: Vec<EjectedProvider>,
}

impl EjectionReport {
    /// Decodes a health node's data.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `path` when the data is not such a document.
    pub fn from_json(path: &str, data: &[u8]) -> Result<Self> {
        serde_json::from_slice(data).map_err(|e| Error::InvalidArgument {
            what: path.to_owned(),
            reason: format!("not an ejection report: {e}"),
        })
    }

    /// The node's data.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `<root>/<service>/health`.
pub fn health_dir(root: &str, service: &str) -> String {
    crate::session::join(&crate::session::join(root, service), HEALTH_DIR)
}

/// The ejected list as the ejector shares it.
pub(crate) type Ejected = Arc<[EjectedProvider]>;

/// Starts the publisher of a subscription's ejections under `<root>/<service>/health`.
pub(crate) fn spawn(
    session: &Session,
    root: &str,
    service: &str,
    ejected: watch::Receiver<Ejected>,
) -> tokio::task::JoinHandle<()> {
    let dir = health_dir(root, service);
    let claim = NodeClaim::take(&session.environment().key(), &dir, default_instance());
    let publisher = Publisher {
        session: session.clone(),
        host: hostname(),
        claim,
        node: None,
        status: None,
        written: None,
    };
    tokio::spawn(publisher.run(ejected))
}

/// What the publisher task holds.
struct Publisher {
    session: Session,
    host: String,
    claim: NodeClaim,
    /// The node, while something is ejected.
    node: Option<EphemeralNode>,
    /// Its status, followed from its creation on.
    status: Option<watch::Receiver<EphemeralStatus>>,
    /// What the node holds when it is active.
    written: Option<Vec<u8>>,
}

impl Publisher {
    async fn run(mut self, mut ejected: watch::Receiver<Ejected>) {
        let mut retry_in: Option<Duration> = None;
        loop {
            let mut status = self.status.take();
            tokio::select! {
                changed = ejected.changed() => {
                    if changed.is_err() {
                        return self.remove().await;
                    }
                    self.status = status;
                    tokio::time::sleep(PUBLISH_DELAY).await;
                }
                () = node_changed(status.as_mut()) => {
                    // Re-created (after an expiry or a deletion) with its creation data, or gone.
                    self.status = status;
                    self.written = self.node.as_ref().filter(|n| n.status().is_active()).map(|n| n.data().to_vec());
                }
                () = tokio::time::sleep(retry_in.unwrap_or(Duration::MAX)), if retry_in.is_some() => {
                    self.status = status;
                }
            }
            let list = ejected.borrow_and_update().clone();
            retry_in = self.publish(&list).await.err();
        }
    }

    /// Brings the node to `list`; `Err(delay)`: try again after it.
    async fn publish(&mut self, list: &Ejected) -> std::result::Result<(), Duration> {
        if list.is_empty() {
            self.remove().await;
            return Ok(());
        }
        let data = EjectionReport {
            instance: self.claim.name().to_owned(),
            host: self.host.clone(),
            pid: std::process::id(),
            ejected: list.to_vec(),
        }
        .to_json();
        let Some(node) = &self.node else {
            return match self.session.create_ephemeral(self.claim.path(), &data).await {
                Ok(node) => {
                    warn_conflict(&node);
                    self.status = Some(node.status_watch());
                    self.node = Some(node);
                    self.written = Some(data);
                    Ok(())
                }
                Err(e) if e.is_retryable() => {
                    tracing::debug!(path = %self.claim.path(), error = %e, "health node not created; retrying");
                    Err(Duration::from_secs(1))
                }
                Err(e) => {
                    // Not allowed (a service whose access policy keeps others out) or refused:
                    // tried again at the next change, not in a loop.
                    tracing::warn!(path = %self.claim.path(), error = %e, "health node not created");
                    Ok(())
                }
            };
        };
        if self.written.as_deref() == Some(&data[..]) || !node.status().is_active() {
            return Ok(());
        }
        let Some(client) = self.session.client() else { return Err(Duration::from_millis(200)) };
        match client.set_data(node.path(), &data, None).await {
            Ok(_) => {
                self.written = Some(data);
                Ok(())
            }
            Err(e) => {
                tracing::debug!(path = %node.path(), error = %e, "health node not written; retrying");
                Err(Duration::from_millis(200))
            }
        }
    }

    /// Deletes the node (nothing is ejected, or the subscription ended).
    async fn remove(&mut self) {
        self.written = None;
        self.status = None;
        if let Some(node) = self.node.take() {
            if let Err(e) = node.delete().await {
                tracing::debug!(path = %self.claim.path(), error = %e, "health node not deleted; it goes with the session");
            }
        }
    }
}

/// Waits for a change of the node's status (forever without a node).
async fn node_changed(status: Option<&mut watch::Receiver<EphemeralStatus>>) {
    match status {
        Some(status) => {
            if status.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

fn warn_conflict(node: &EphemeralNode) {
    if let EphemeralStatus::Conflict { owner } = node.status() {
        tracing::warn!(path = %node.path(), owner, "another session holds this consumer's health node: give each process its own ZKMESH_INSTANCE");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_bad_data_names_its_path() {
        let report = EjectionReport {
            instance: "web-1".into(),
            host: "h".into(),
            pid: 7,
            ejected: vec![EjectedProvider { address: "10.0.0.5:80".into(), node: "n".into(), since_ms: 5 }],
        };
        assert_eq!(EjectionReport::from_json("/p", &report.to_json()).expect("decodes"), report);
        let error = EjectionReport::from_json("/services/s/health/x", b"{").expect_err("refused");
        assert!(error.to_string().contains("/services/s/health/x"), "{error}");
    }
}
