//! The provider side: a [`Registration`] is one provider URL held as an ephemeral node, in the
//! registry's layout: `<root>/<service>/providers/<URL node name>` (zkmesh, Dubbo) or
//! `<root>/<service>/<id>` with a Curator `ServiceInstance` as its data.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::layout::Layout;
use crate::session::Session;
use crate::session::{EphemeralNode, EphemeralStatus};
use crate::url::ServiceUrl;

/// A registered provider. The node is re-created after session expiry, re-created if someone
/// deletes it, and retried with back-off while ZooKeeper is unreachable (failback); the state
/// of all this is [`Registration::status`].
///
/// Deregister before draining: [`Registration::deregister`] deletes the node and returns once
/// ZooKeeper confirmed it, so consumers stop picking this provider while it still serves the
/// requests in flight. Dropping the handle deregisters too, in the background (best effort):
/// keep it for as long as the provider serves.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// async fn serve(registry: zkmesh_registry::Registry, url: zkmesh_registry::ServiceUrl) -> zkmesh_registry::Result<()> {
///     registry.register(&url).await?; // dropped at once: deregistered at once
///     Ok(())
/// }
/// ```
#[derive(Debug)]
#[must_use = "dropping a Registration deregisters the provider: keep it while the provider serves"]
pub struct Registration {
    url: ServiceUrl,
    layout: Layout,
    node: EphemeralNode,
}

impl Registration {
    /// The URL as registered (with `timestamp` added when it had none).
    pub fn url(&self) -> &ServiceUrl {
        &self.url
    }

    /// The layout it is written in.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The znode path.
    pub fn path(&self) -> &str {
        self.node.path()
    }

    /// Where the registration stands (active, pending with the last error, in conflict).
    pub fn status(&self) -> EphemeralStatus {
        self.node.status()
    }

    /// A watch of [`Registration::status`].
    pub fn status_watch(&self) -> tokio::sync::watch::Receiver<EphemeralStatus> {
        self.node.status_watch()
    }

    /// Waits until the node is in ZooKeeper.
    ///
    /// # Errors
    /// [`crate::Error::Timeout`] naming the last status.
    pub async fn wait_registered(&self, timeout: Duration) -> Result<()> {
        self.node.wait_active(timeout).await
    }

    /// Deletes the node and stops re-registering.
    ///
    /// # Errors
    /// The ZooKeeper error when the delete failed (the node still goes with the session).
    pub async fn deregister(self) -> Result<()> {
        let path = self.node.path().to_owned();
        let result = self.node.delete().await;
        tracing::info!(url = %self.url, %path, ok = result.is_ok(), "provider deregistered");
        result
    }
}

/// [`crate::Registry::register`].
pub(crate) async fn register(
    session: &Session,
    layout: Layout,
    root: &str,
    url: &ServiceUrl,
) -> Result<Registration> {
    let url = if url.timestamp().is_some() {
        url.clone()
    } else {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        url.clone().with_param("timestamp", now)?
    };
    let (path, data, url) = crate::layout::provider_node(layout, root, &url)?;
    let node = session.create_ephemeral(&path, &data).await?;
    tracing::info!(%url, %layout, status = ?node.status(), "provider registered");
    Ok(Registration { url, layout, node })
}
