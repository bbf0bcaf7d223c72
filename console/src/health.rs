//! The consumers' ejections of one service: the health nodes
//! `<root>/<service>/health/<instance>` that each consumer publishes
//! ([`registry::EjectionReport`]), read so that a provider shows "ejected by K of N consumers".
//!
//! A node that does not decode is left out (it is a consumer's, not the operator's, to fix);
//! one deleted while read is left out too.

use std::collections::BTreeMap;

use futures::future::join_all;
use registry::EjectionReport;
use zookeeper_client::{Client, Error as ZkError};

use crate::failure;
use crate::reply::ApiError;

/// Who ejects what: by provider address, the instances that eject it and since when.
#[derive(Debug, Default)]
pub(crate) struct Ejections {
    /// The consumer instances that publish a health node.
    pub reports: usize,
    /// By provider address: `(instance, since_ms)`, sorted by instance.
    pub by_address: BTreeMap<String, Vec<(String, u64)>>,
}

impl Ejections {
    /// The instances that eject `address`, and the earliest ejection time.
    pub(crate) fn of(&self, address: &str) -> (Vec<&str>, Option<u64>) {
        let Some(ejecting) = self.by_address.get(address) else { return (Vec::new(), None) };
        (ejecting.iter().map(|(i, _)| i.as_str()).collect(), ejecting.iter().map(|(_, s)| *s).min())
    }
}

/// Reads the health nodes under `service_path` (none: no ejections).
pub(crate) async fn read(client: &Client, service_path: &str) -> Result<Ejections, ApiError> {
    let dir = registry::join(service_path, registry::HEALTH_DIR);
    let mut nodes = match client.list_children(&dir).await {
        Ok(nodes) => nodes,
        Err(ZkError::NoNode) => return Ok(Ejections::default()),
        Err(e) => return Err(failure::zk("list", &dir, e)),
    };
    nodes.sort();
    let reads = join_all(nodes.into_iter().map(|node| {
        let at = registry::join(&dir, &node);
        async move { (client.get_data(&at).await, node, at) }
    }))
    .await;
    let mut ejections = Ejections::default();
    for (read, node, at) in reads {
        let data = match read {
            Ok((data, _)) => data,
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(failure::zk("read", &at, e)),
        };
        let Ok(report) = EjectionReport::from_json(&at, &data) else { continue };
        ejections.reports += 1;
        for ejected in report.ejected {
            let list = ejections.by_address.entry(ejected.address).or_default();
            if !list.iter().any(|(i, _)| *i == node) {
                list.push((node.clone(), ejected.since_ms));
            }
        }
    }
    Ok(ejections)
}
