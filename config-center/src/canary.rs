//! Canary publish: a document that only the watchers a [`Selector`] picks load, the others
//! keeping the current version, until it is promoted (published for all) or aborted.
//!
//! Wire format: `<path>/canary`, PERSISTENT; empty data: no canary. Otherwise a TOML document
//! (any language reads it):
//!
//! ```toml
//! id = 3                  # the canary's number (grows with every canary of this document)
//! base = 7                # the document version it was published over
//! published_ms = 1764661507123
//! author = "alice"        # optional, as message
//! document = "pool = 16\n"            # the canary document
//! [selector]              # every criterion given must hold
//! percent = 10
//! hash_below = 922337203685477580     # selected: hash(instance) < hash_below
//! zone = "az1"
//! labels = { team = "checkout" }
//! [halted]                # set by the first selected watcher that refused the document
//! instance = "web-2"
//! error = "cannot load … at line 1, column 8: …"
//! at_ms = 1764661508000
//! ```
//!
//! A percentage selects by a stable hash of the instance name: `hash = fnv1a64(path + "\n" +
//! instance) >> 1` (FNV-1a, 64 bits: offset basis `0xcbf29ce484222325`, prime `0x100000001b3`).
//! The publisher sizes it on the live watchers that match the other criteria: it sorts their
//! hashes and sets `hash_below` just above the `ceil(percent x n / 100)`-th, so that exactly that
//! many are selected; a watcher that starts later is selected when its hash is below, which
//! holds for about `percent` % of names. Names that survive restarts give the same selection
//! after a restart; a larger percentage later selects a superset.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use zookeeper_client::{Acls, CreateMode, Error as ZkError, MultiReadResult, Stat};

use crate::center::Inner;
use crate::error::{Error, Result};
use crate::fleet::WatcherStatus;
use crate::instance::Instance;

/// `<path>/canary`.
pub(crate) fn node(path: &str) -> String {
    format!("{path}/canary")
}

/// Which watchers load a canary: every criterion given must hold.
///
/// ```
/// use zkmesh_config::Selector;
/// let tenth = Selector::percent(10);
/// let checkout_in_az1 = Selector::label("team", "checkout").and_zone("az1");
/// assert_eq!(checkout_in_az1.to_string(), "label team=checkout, zone az1");
/// # let _ = tenth;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percent: Option<u32>,
    /// Set by the publisher from the live fleet (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash_below: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
}

impl Selector {
    /// A percentage of the watchers, by a stable hash of their instance names (0 to 100).
    pub fn percent(percent: u32) -> Self {
        Selector { percent: Some(percent), ..Selector::default() }
    }

    /// The watchers with this label (see [`crate::ConfigCenterBuilder::label`]).
    pub fn label(key: impl Into<String>, value: impl Into<String>) -> Self {
        Selector::default().and_label(key, value)
    }

    /// The watchers in this zone (see [`crate::ConfigCenterBuilder::zone`]).
    pub fn zone(zone: impl Into<String>) -> Self {
        Selector::default().and_zone(zone)
    }

    /// Also a label.
    pub fn and_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Also a zone.
    pub fn and_zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// Also a percentage of those.
    pub fn and_percent(mut self, percent: u32) -> Self {
        self.percent = Some(percent);
        self
    }

    fn check(&self, path: &str) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidSelector { path: path.to_owned(), reason });
        match self.percent {
            Some(p) if p > 100 => return invalid(format!("percentage {p} is outside 0..=100")),
            None if self.labels.is_empty() && self.zone.is_none() => {
                return invalid("no criterion: give a percentage, a label or a zone".into())
            }
            _ => {}
        }
        if let Some(key) = self.labels.keys().find(|k| k.is_empty()) {
            return invalid(format!("empty label key {key:?}"));
        }
        Ok(())
    }

    /// Whether labels and zone hold for a watcher.
    fn matches(&self, labels: &BTreeMap<String, String>, zone: Option<&str>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.zone.as_deref().is_none_or(|z| zone == Some(z))
    }

    /// Whether the canary of `path` selects `instance` (after the publisher sized it).
    pub(crate) fn selects(&self, path: &str, instance: &Instance) -> bool {
        let below = match (self.percent, self.hash_below) {
            (None, _) => true,
            (Some(_), Some(limit)) => instance_hash(path, &instance.name) < limit,
            (Some(p), None) => p == 100,
        };
        below && self.matches(&instance.labels, instance.zone.as_deref())
    }

    /// Sizes the percentage on the live watchers; the number selected.
    fn size(&mut self, path: &str, live: &[WatcherStatus]) -> usize {
        let mut hashes: Vec<i64> = live
            .iter()
            .filter(|w| self.matches(&w.labels, w.zone.as_deref()))
            .map(|w| instance_hash(path, &w.instance))
            .collect();
        let Some(percent) = self.percent else { return hashes.len() };
        hashes.sort_unstable();
        let n = (hashes.len() * percent as usize).div_ceil(100);
        self.hash_below = Some(match n {
            0 => 0,
            n if percent == 100 || n == hashes.len() => i64::MAX,
            n => hashes[n - 1] + 1,
        });
        n
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = self.percent {
            parts.push(format!("{p}%"));
        }
        parts.extend(self.labels.iter().map(|(k, v)| format!("label {k}={v}")));
        if let Some(z) = &self.zone {
            parts.push(format!("zone {z}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// The stable hash a percentage selects by (see the module docs).
pub(crate) fn instance_hash(path: &str, instance: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes().chain(std::iter::once(b'\n')).chain(instance.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash >> 1) as i64
}

/// Why a canary halted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CanaryHalt {
    /// The selected watcher that refused it.
    pub instance: String,
    /// Why.
    pub error: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// A canary, as `<path>/canary` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Canary {
    /// Its number, larger for every new canary of the document.
    pub id: u64,
    /// The document version it was published over (promote expects it still current).
    pub base: i32,
    /// When it was published, in milliseconds since the Unix epoch.
    pub published_ms: u64,
    /// Who published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The document.
    pub document: String,
    /// Who it selects.
    pub selector: Selector,
    /// Set when a selected watcher refused it: it is then loaded by nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted: Option<CanaryHalt>,
}

impl Canary {
    /// A canary node's data (`None`: empty, no canary, or not a canary).
    pub(crate) fn decode(data: &[u8]) -> Option<Canary> {
        if data.is_empty() {
            return None;
        }
        toml::from_str(std::str::from_utf8(data).ok()?).ok()
    }

    pub(crate) fn encode(&self, path: &str) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Serialize { path: node(path), message: e.to_string() })
    }

    /// Whether a watcher `instance` of `path` loads it.
    pub(crate) fn loads(&self, path: &str, instance: &Instance) -> bool {
        self.halted.is_none() && self.selector.selects(path, instance)
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The document's stat and the canary node's data and stat (`None`: no such node), in one read.
#[allow(clippy::type_complexity)]
pub(crate) async fn read(inner: &Inner, path: &str) -> Result<(Option<Stat>, Option<(Vec<u8>, Stat)>)> {
    let client = inner.client(path)?;
    let canary = node(path);
    let mut reader = client.new_multi_reader();
    reader.add_get_data(path).map_err(|e| Error::zk("get_data", path, e))?;
    reader.add_get_data(&canary).map_err(|e| Error::zk("get_data", &canary, e))?;
    let results = reader.commit().await.map_err(|e| Error::zk("multi read", path, e))?;
    let mut found = results.into_iter().map(|r| match r {
        MultiReadResult::Data { data, stat } => Ok(Some((data, stat))),
        MultiReadResult::Error { err: ZkError::NoNode } => Ok(None),
        MultiReadResult::Error { err } => Err(Error::zk("get_data", path, err)),
        _ => Ok(None),
    });
    let doc = found.next().transpose()?.flatten().map(|(_, stat)| stat);
    let canary = found.next().transpose()?.flatten();
    Ok((doc, canary))
}

/// Publishes `canary` (its document checked by the caller) at `path`, sized on the live fleet.
pub(crate) async fn publish(inner: &Inner, path: &str, mut canary: Canary) -> Result<Canary> {
    canary.selector.check(path)?;
    let (doc, existing) = read(inner, path).await?;
    let Some(doc) = doc else {
        return Err(Error::VersionConflict {
            path: path.to_owned(),
            expected: crate::Expect::Any,
            actual: None,
        });
    };
    if let Some(current) = existing.as_ref().and_then(|(data, _)| Canary::decode(data)) {
        let halted = current.halted.map(|h| format!("{} refused it: {}", h.instance, h.error));
        return Err(Error::CanaryInProgress { path: path.to_owned(), id: current.id, halted });
    }
    let live = crate::fleet::list(inner, path).await?;
    if canary.selector.size(path, &live) == 0 {
        let selector = canary.selector.to_string();
        return Err(Error::NoWatcherSelected { path: path.to_owned(), selector, live: live.len() });
    }
    let canary_version = existing.as_ref().map(|(_, stat)| stat.version);
    canary.base = doc.version;
    canary.id = canary_version.map_or(1, |v| v as u64 + 2);
    canary.published_ms = now_ms();
    let text = canary.encode(path)?;
    crate::publish::check_size(inner, path, text.len())?;
    let client = inner.client(path)?;
    let target = node(path);
    let mut writer = client.new_multi_writer();
    let multi = |e| Error::zk("multi", &target, e);
    writer.add_check_version(path, doc.version).map_err(multi)?;
    match canary_version {
        Some(v) => writer.add_set_data(&target, text.as_bytes(), Some(v)).map_err(multi)?,
        None => {
            let options = CreateMode::Persistent.with_acls(Acls::new(inner.session.acl()));
            writer.add_create(&target, text.as_bytes(), &options).map_err(multi)?
        }
    }
    writer.commit().await.map_err(|e| match e {
        zookeeper_client::MultiWriteError::OperationFailed { source, .. }
        | zookeeper_client::MultiWriteError::RequestFailed { source } => {
            Error::zk("publish canary (the document or the canary changed meanwhile)", &target, source)
        }
    })?;
    tracing::info!(%path, id = canary.id, selector = %canary.selector, "config canary published");
    Ok(canary)
}

/// The canary of `path` and its node's version; `Err(NoCanary)` when there is none.
pub(crate) async fn current(inner: &Inner, path: &str) -> Result<(Canary, i32, Option<Stat>)> {
    let (doc, canary) = read(inner, path).await?;
    match canary.and_then(|(data, stat)| Canary::decode(&data).map(|c| (c, stat.version))) {
        Some((canary, version)) => Ok((canary, version, doc)),
        None => Err(Error::NoCanary { path: path.to_owned() }),
    }
}

/// Empties the canary node if it still holds `version`.
pub(crate) async fn clear(inner: &Inner, path: &str, version: i32) -> Result<()> {
    let client = inner.client(path)?;
    let target = node(path);
    client.set_data(&target, &[], Some(version)).await.map(drop).map_err(|e| Error::zk("set_data", target, e))
}

/// Marks canary `id` of `path` halted because `instance` refused it (the first refusal wins).
pub(crate) async fn halt(session: &registry::Session, path: &str, id: u64, instance: &str, error: &str) {
    let target = node(path);
    for _ in 0..4 {
        let Some(client) = session.client() else { return };
        let Ok((data, stat)) = client.get_data(&target).await else { return };
        let Some(mut canary) = Canary::decode(&data).filter(|c| c.id == id && c.halted.is_none()) else {
            return;
        };
        canary.halted =
            Some(CanaryHalt { instance: instance.to_owned(), error: error.to_owned(), at_ms: now_ms() });
        let Ok(text) = canary.encode(path) else { return };
        match client.set_data(&target, text.as_bytes(), Some(stat.version)).await {
            Ok(_) => {
                tracing::warn!(%path, id, %instance, %error, "config canary refused: halted");
                return;
            }
            Err(ZkError::BadVersion) => continue,
            Err(e) => {
                tracing::warn!(%path, id, error = %e, "config canary not marked halted");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(names: &[&str]) -> Vec<WatcherStatus> {
        names.iter().map(|n| WatcherStatus::named(n)).collect()
    }

    #[test]
    fn a_percentage_selects_exactly_its_share_of_the_live_watchers_and_grows_as_a_superset() {
        let names: Vec<String> = (0..40).map(|i| format!("w-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let fleet = live(&refs);
        let picked = |percent| {
            let mut s = Selector::percent(percent);
            let n = s.size("/config/a/b", &fleet);
            let me = |name: &str| Instance { name: name.into(), labels: BTreeMap::new(), zone: None };
            let chosen: Vec<&str> =
                refs.iter().copied().filter(|n| s.selects("/config/a/b", &me(n))).collect();
            assert_eq!(chosen.len(), n);
            chosen
        };
        assert_eq!(picked(10).len(), 4);
        assert_eq!(picked(25).len(), 10);
        assert_eq!(picked(1).len(), 1, "rounded up");
        assert_eq!(picked(100).len(), 40);
        assert!(picked(10).iter().all(|n| picked(25).contains(n)), "a ramp only adds watchers");
        assert_eq!(picked(10), picked(10), "stable");
        let mut none = Selector::percent(0);
        assert_eq!(none.size("/config/a/b", &fleet), 0);
    }

    #[test]
    fn bad_selectors_are_refused() {
        assert!(matches!(Selector::percent(101).check("/p"), Err(Error::InvalidSelector { .. })));
        assert!(matches!(Selector::default().check("/p"), Err(Error::InvalidSelector { .. })));
        assert!(Selector::percent(100).check("/p").is_ok());
        assert!(Selector::zone("az1").and_percent(50).check("/p").is_ok());
    }

    #[test]
    fn the_hash_is_the_documented_fnv1a() {
        // fnv1a64("/p\nw") >> 1, computed by hand from the constants.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in b"/p\nw" {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        assert_eq!(instance_hash("/p", "w"), (h >> 1) as i64);
    }
}
