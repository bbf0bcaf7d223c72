//! Reading a service's providers or consumers: node names decoded as URLs (zkmesh, Dubbo)
//! or instance data decoded (Curator), with each node's creation time.

use futures::future::join_all;
use registry::{CuratorInstance, Layout, ServiceUrl};
use zookeeper_client::{Client, Error as ZkError};

use crate::failure;
use crate::reply::ApiError;

/// One provider or consumer node.
pub(crate) struct Member {
    /// The node's name.
    pub node: String,
    /// Its URL, or why it does not decode.
    pub url: Result<ServiceUrl, String>,
    /// When the node was created, in ms since the epoch (the node's age, not the URL's
    /// `timestamp`: a provider re-registered after a session expiry has a new node).
    pub created_ms: Option<i64>,
}

/// The `kind` (`providers` or `consumers`) of the service at `service_path`, sorted by node
/// name (those deleted while read are left out).
pub(crate) async fn read(
    client: &Client,
    service_path: &str,
    service: &str,
    layout: Layout,
    kind: &str,
) -> Result<Vec<Member>, ApiError> {
    let path =
        if layout == Layout::Curator { service_path.to_owned() } else { registry::join(service_path, kind) };
    let mut nodes = match client.list_children(&path).await {
        Ok(nodes) => nodes,
        Err(ZkError::NoNode) => Vec::new(),
        Err(e) => return Err(failure::zk("list", &path, e)),
    };
    nodes.sort();
    if layout == Layout::Curator {
        nodes.retain(|n| !registry::ZKMESH_CHILDREN.contains(&n.as_str()));
    }
    let reads = join_all(nodes.into_iter().map(|node| {
        let at = registry::join(&path, &node);
        async move { (client.get_data(&at).await, node, at) }
    }))
    .await;
    let mut members = Vec::with_capacity(reads.len());
    for (read, node, at) in reads {
        let (data, stat) = match read {
            Ok(read) => read,
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(failure::zk("read", &at, e)),
        };
        let url = if layout == Layout::Curator {
            CuratorInstance::from_json(&at, &data).and_then(|i| i.to_url(&at, service))
        } else {
            ServiceUrl::from_node_name(&node)
        };
        members.push(Member { node, url: url.map_err(|e| e.to_string()), created_ms: Some(stat.ctime) });
    }
    Ok(members)
}
