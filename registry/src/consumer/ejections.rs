//! Who ejects what, read back: the health nodes `<root>/<service>/health/<instance>` that the
//! consumers of one service publish ([`EjectionReport`], `health_status.rs`), folded by provider
//! address, so that a provider shows "ejected by K of N consumers" (the console, `zkmesh
//! providers`).
//!
//! A node that does not decode is left out (it is a consumer's to fix, not the reader's); one
//! deleted while read is left out too.

use std::collections::BTreeMap;

use futures::future::join_all;
use zookeeper_client::{Client, Error as ZkError};

use super::{EjectionReport, HEALTH_DIR};
use crate::error::{Error, Result};
use crate::session::join;

/// The ejections the consumers of one service publish, by provider address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ejections {
    /// The consumer instances that publish a health node (those that eject something now).
    pub reports: usize,
    /// By provider address (`host:port`): `(instance, since_ms)`, sorted by instance.
    pub by_address: BTreeMap<String, Vec<(String, u64)>>,
}

impl Ejections {
    /// Reads the health nodes of the service at `service_path` (the service's node, e.g.
    /// `/services/greeter`; none there: no ejections).
    ///
    /// # Errors
    /// [`Error::Zookeeper`] / [`Error::NotAuthorized`] when a listing or a read fails for
    /// another reason than the node being gone.
    pub async fn read(client: &Client, service_path: &str) -> Result<Ejections> {
        let dir = join(service_path, HEALTH_DIR);
        let mut nodes = match client.list_children(&dir).await {
            Ok(nodes) => nodes,
            Err(ZkError::NoNode) => return Ok(Ejections::default()),
            Err(e) => return Err(Error::zk("list", &dir, e)),
        };
        nodes.sort();
        let reads = join_all(nodes.into_iter().map(|node| {
            let at = join(&dir, &node);
            async move { (client.get_data(&at).await, node, at) }
        }))
        .await;
        let mut ejections = Ejections::default();
        for (read, node, at) in reads {
            let data = match read {
                Ok((data, _)) => data,
                Err(ZkError::NoNode) => continue,
                Err(e) => return Err(Error::zk("read", &at, e)),
            };
            let Ok(report) = EjectionReport::from_json(&at, &data) else { continue };
            ejections.add(&node, report);
        }
        Ok(ejections)
    }

    /// Folds in `instance`'s report.
    fn add(&mut self, instance: &str, report: EjectionReport) {
        self.reports += 1;
        for ejected in report.ejected {
            let list = self.by_address.entry(ejected.address).or_default();
            if !list.iter().any(|(i, _)| i == instance) {
                list.push((instance.to_owned(), ejected.since_ms));
            }
        }
    }

    /// The instances that eject `address` (`host:port`), and the earliest ejection time in
    /// milliseconds since the epoch.
    pub fn of(&self, address: &str) -> (Vec<&str>, Option<u64>) {
        let Some(ejecting) = self.by_address.get(address) else { return (Vec::new(), None) };
        (ejecting.iter().map(|(i, _)| i.as_str()).collect(), ejecting.iter().map(|(_, s)| *s).min())
    }
}
