//! [`ServiceListing`]: what lives under a root, service by service, and in which layout.
//!
//! A service directory's children tell its layout: `providers`, `consumers` (and
//! `configurators`, `routers`, `rules`) are zkmesh's or Dubbo's (Dubbo's when the root is read
//! as Dubbo's or a `configurators` / `routers` directory is there); any other child is a
//! Curator instance when its data is a Curator `ServiceInstance`, and unknown otherwise. Both
//! kinds under one name is the collision `zkmesh doctor` explains: Curator's
//! `queryForInstances` reads `providers` as an instance and fails.

use futures::future::join_all;
use zookeeper_client::{Client, Error as ZkError};

use super::{CuratorInstance, Layout};
use crate::error::{Error, Result};
use crate::session::join;

/// The children of a service directory that zkmesh's and Dubbo's layouts create.
pub const ZKMESH_CHILDREN: [&str; 6] =
    ["providers", "consumers", "configurators", "routers", "rules", "health"];

/// One service under a root, as [`Registry::services`](crate::Registry::services) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceListing {
    /// The child of the root.
    pub name: String,
    /// The layouts found under it (none: an empty directory; two: a collision).
    pub layouts: Vec<Layout>,
    /// Nodes under `providers` (zkmesh, Dubbo).
    pub providers: usize,
    /// Nodes under `consumers` (zkmesh, Dubbo).
    pub consumers: usize,
    /// Curator instances (children whose data is a Curator `ServiceInstance`).
    pub instances: usize,
    /// Children that fit no layout (neither a layout's directory nor a Curator instance).
    pub unknown: Vec<String>,
}

impl ServiceListing {
    /// Whether more than one layout writes under this name.
    pub fn is_mixed(&self) -> bool {
        self.layouts.len() > 1
    }
}

/// Every child of `root`, with its layouts and counts; `hint` is the layout the root is read
/// in (it tells Dubbo's services from zkmesh's when nothing else does).
pub(crate) async fn list_services(client: &Client, root: &str, hint: Layout) -> Result<Vec<ServiceListing>> {
    let mut names = match client.list_children(root).await {
        Ok(names) => names,
        Err(ZkError::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(Error::zk("list_children", root, e)),
    };
    names.sort();
    let listings = join_all(names.into_iter().map(|name| list_one(client, root, hint, name))).await;
    listings.into_iter().collect()
}

async fn list_one(client: &Client, root: &str, hint: Layout, name: String) -> Result<ServiceListing> {
    let path = join(root, &name);
    let children = match client.list_children(&path).await {
        Ok(children) => children,
        Err(ZkError::NoNode) => Vec::new(),
        Err(e) => return Err(Error::zk("list_children", path, e)),
    };
    let (dirs, others): (Vec<String>, Vec<String>) =
        children.into_iter().partition(|c| ZKMESH_CHILDREN.contains(&c.as_str()));
    let count = |kind: &'static str| {
        let dir = join(&path, kind);
        async move {
            match client.check_stat(&dir).await {
                Ok(stat) => Ok(stat.map(|s| s.num_children as usize).unwrap_or(0)),
                Err(e) => Err(Error::zk("stat", dir, e)),
            }
        }
    };
    let (providers, consumers) = (count("providers").await?, count("consumers").await?);
    let reads = join_all(others.iter().map(|child| {
        let node = join(&path, child);
        async move { (client.get_data(&node).await, node) }
    }))
    .await;
    let (mut instances, mut unknown) = (0, Vec::new());
    for (child, (read, node)) in others.into_iter().zip(reads) {
        match read {
            Ok((data, _)) if CuratorInstance::from_json(&node, &data).is_ok() => instances += 1,
            Ok(_) => unknown.push(child),
            Err(ZkError::NoNode) => {}
            Err(e) => return Err(Error::zk("get_data", node, e)),
        }
    }
    let mut layouts = Vec::new();
    if !dirs.is_empty() {
        let dubbo = hint == Layout::Dubbo || dirs.iter().any(|d| d == "configurators" || d == "routers");
        layouts.push(if dubbo { Layout::Dubbo } else { Layout::Zkmesh });
    }
    if instances > 0 {
        layouts.push(Layout::Curator);
    }
    Ok(ServiceListing { name, layouts, providers, consumers, instances, unknown })
}
