//! Fleet status: what every watcher of a document runs, read from its status node.
//!
//! Each [`crate::Config`] keeps an ephemeral node `<path>/status/<instance>` (see
//! `status_writer.rs`) whose data is a small TOML document (any language reads it):
//!
//! ```toml
//! instance = "web-1"
//! host = "web-1.example"
//! pid = 4242
//! state = "accepted"        # accepted | refused | absent | stale
//! version = 7               # the document version in use; absent: defaults only
//! canary = 3                # the canary in use (its id), when the watcher runs one
//! refused = "version 8"     # what it refused, when state = "refused"
//! error = "cannot load …"   # why
//! since_ms = 1764661507123  # when it entered this state (ms since the Unix epoch)
//! zone = "az1"              # when set
//! layers = ["/config/shop/shared", "/config/shop/app"]   # the documents it merges
//! [labels]
//! team = "checkout"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use serde::{Deserialize, Serialize};
use zookeeper_client::{AddWatchMode, Client, Error as ZkError, EventType};

use crate::center::Inner;
use crate::error::{Error, Result};

/// `<path>/status`.
pub(crate) fn dir(path: &str) -> String {
    format!("{path}/status")
}

/// Where a watcher stands with the latest document it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WatcherState {
    /// It runs the latest document it read (or canary, or layers).
    Accepted,
    /// It refused the latest document and keeps the value it had ([`WatcherStatus::error`]).
    Refused,
    /// The document does not exist (the watcher keeps its last value or the defaults).
    Absent,
    /// It started from its cache or defaults and has not heard from ZooKeeper yet.
    Stale,
}

impl std::fmt::Display for WatcherState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WatcherState::Accepted => "accepted",
            WatcherState::Refused => "refused",
            WatcherState::Absent => "absent",
            WatcherState::Stale => "stale",
        })
    }
}

/// One watcher's status node, as [`crate::ConfigCenter::status`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WatcherStatus {
    /// The instance name (the node's name).
    pub instance: String,
    /// The watcher's host name.
    #[serde(default)]
    pub host: String,
    /// The watcher's process id.
    #[serde(default)]
    pub pid: u32,
    /// Accepted, refused, absent or stale.
    pub state: WatcherState,
    /// The document version in use (`None`: defaults only). For a watcher on a canary, the
    /// version the canary was published over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The id of the canary in use, when the watcher runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<u64>,
    /// What it refused (`version 8`, `canary 3`), when [`WatcherState::Refused`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Why, when [`WatcherState::Refused`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it entered this state, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub since_ms: u64,
    /// Its zone, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The ZooKeeper documents it merges, lowest first, when more than its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// Its labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl WatcherStatus {
    /// A status with only a name (for tests of selection).
    #[cfg(test)]
    pub(crate) fn named(name: &str) -> WatcherStatus {
        WatcherStatus {
            instance: name.to_owned(),
            host: String::new(),
            pid: 0,
            state: WatcherState::Accepted,
            version: None,
            canary: None,
            refused: None,
            error: None,
            since_ms: 0,
            zone: None,
            layers: Vec::new(),
            labels: BTreeMap::new(),
        }
    }

    /// When it entered this state.
    pub fn since(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.since_ms)
    }

    /// Whether it runs `version` itself (accepted, not a canary).
    pub fn runs(&self, version: i32) -> bool {
        self.state == WatcherState::Accepted && self.version == Some(version) && self.canary.is_none()
    }

    /// The node's data.
    pub(crate) fn encode(&self) -> Vec<u8> {
        toml::to_string(self).unwrap_or_default().into_bytes()
    }

    /// A node's data; `None` for data that is not a status (written by something else).
    pub(crate) fn decode(data: &[u8]) -> Option<WatcherStatus> {
        toml::from_str(std::str::from_utf8(data).ok()?).ok()
    }

    /// Whether the two say the same apart from when.
    pub(crate) fn same_state(&self, other: &WatcherStatus) -> bool {
        WatcherStatus { since_ms: 0, ..self.clone() } == WatcherStatus { since_ms: 0, ..other.clone() }
    }
}

/// The live watchers of `path`, by instance name.
pub(crate) async fn list(inner: &Inner, path: &str) -> Result<Vec<WatcherStatus>> {
    let client = inner.client(path)?;
    Ok(read_all(&client, path).await?.into_values().collect())
}

async fn read_all(client: &Client, path: &str) -> Result<BTreeMap<String, WatcherStatus>> {
    let dir = dir(path);
    let names = match client.list_children(&dir).await {
        Ok(names) => names,
        Err(ZkError::NoNode) => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::zk("get_children", dir, e)),
    };
    let paths: Vec<String> = names.iter().map(|n| format!("{dir}/{n}")).collect();
    let pending: Vec<_> = paths.iter().map(|p| client.get_data(p)).collect();
    let mut all = BTreeMap::new();
    for ((name, node), read) in names.into_iter().zip(&paths).zip(pending) {
        match read.await {
            Ok((data, _)) => {
                if let Some(status) = decode_named(&name, &data) {
                    all.insert(name, status);
                }
            }
            Err(ZkError::NoNode) => {}
            Err(e) => return Err(Error::zk("get_data", node, e)),
        }
    }
    Ok(all)
}

/// A status node's data, named after its node.
fn decode_named(name: &str, data: &[u8]) -> Option<WatcherStatus> {
    let mut status = WatcherStatus::decode(data)?;
    status.instance = name.to_owned();
    Some(status)
}

/// Waits until `done` holds for the live watchers of `path`, following the status nodes with
/// one persistent recursive watch (each change reads the node that changed).
pub(crate) async fn wait_until(
    inner: &Inner,
    path: &str,
    timeout: Duration,
    mut done: impl FnMut(&[WatcherStatus]) -> bool,
) -> Result<Vec<WatcherStatus>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let dir = dir(path);
    let mut last = Vec::new();
    loop {
        let client = inner.client(path)?;
        let followed = follow(&client, path, &dir, &mut last, &mut done);
        match tokio::time::timeout_at(deadline, followed).await {
            Ok(Ok(true)) => return Ok(last),
            // The session changed under the watch: again on the next client.
            Ok(Ok(false)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(Err(e)) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(Error::WaitTimedOut { path: path.to_owned(), waited: timeout, watchers: last })
            }
        }
    }
}

/// Follows the status nodes on `client` until `done` holds (`true`) or the watch ends (`false`).
async fn follow(
    client: &Client,
    path: &str,
    dir: &str,
    last: &mut Vec<WatcherStatus>,
    done: &mut impl FnMut(&[WatcherStatus]) -> bool,
) -> Result<bool> {
    let mut watcher = client
        .watch(dir, AddWatchMode::PersistentRecursive)
        .await
        .map_err(|e| Error::zk("add_watch", dir, e))?;
    let mut all: HashMap<String, WatcherStatus> = read_all(client, path).await?.into_iter().collect();
    loop {
        *last = all.values().cloned().collect();
        last.sort_by(|a, b| a.instance.cmp(&b.instance));
        if done(last) {
            return Ok(true);
        }
        // zookeeper-client 0.11 panics when a watcher outlives its session: that ends the watch.
        let Ok(event) = std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind().await else {
            return Ok(false);
        };
        let Some(name) = event.path.strip_prefix(dir).and_then(|p| p.strip_prefix('/')) else { continue };
        if name.contains('/') {
            continue;
        }
        match event.event_type {
            EventType::NodeDeleted => {
                all.remove(name);
            }
            EventType::NodeCreated | EventType::NodeDataChanged => match client.get_data(&event.path).await {
                Ok((data, _)) => match decode_named(name, &data) {
                    Some(status) => drop(all.insert(name.to_owned(), status)),
                    None => drop(all.remove(name)),
                },
                Err(ZkError::NoNode) => drop(all.remove(name)),
                Err(e) => return Err(Error::zk("get_data", event.path, e)),
            },
            EventType::Session => return Ok(false),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_round_trips_through_its_node_data() {
        let status = WatcherStatus {
            instance: "web-1".into(),
            host: "h".into(),
            pid: 7,
            state: WatcherState::Refused,
            version: Some(3),
            canary: None,
            refused: Some("version 4".into()),
            error: Some("cannot load: \"x\"\nline 2".into()),
            since_ms: 1_764_661_507_123,
            zone: Some("az1".into()),
            layers: vec!["/config/a/shared".into()],
            labels: [("team".to_owned(), "x".to_owned())].into(),
        };
        let data = status.encode();
        let text = String::from_utf8(data.clone()).expect("utf-8");
        assert!(text.contains("state = \"refused\""), "{text}");
        assert_eq!(WatcherStatus::decode(&data), Some(status.clone()));
        assert!(!status.runs(3), "refused");
        assert_eq!(WatcherStatus::decode(b"not = [a status"), None);
    }
}
