//! The [`Directory`]: what a subscription's watch loop, warm-up ticker and disk writer share,
//! and how a list of provider node names becomes the next [`ProviderSet`].
//!
//! Every read of `/services/<service>/providers` goes through [`Directory::apply`]: node names are
//! decoded (undecodable ones skipped and reported), filtered, and the new set is stored with one
//! `arc-swap` store. Nothing is removed because ZooKeeper is unreachable: only a read from
//! ZooKeeper changes the set, and an empty read is refused while providers were known (empty
//! protection).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::{CurrentSet, Provider, ProviderSet, ProviderSource, RejectedNode, SetParts, SubscribeOptions};
use crate::error::{Error, Result};
use crate::session::lock;
use crate::url::ServiceUrl;

/// State the watch loop, the warm-up ticker and the subscription share.
pub(crate) struct Directory {
    pub(super) service: String,
    pub(super) options: SubscribeOptions,
    pub(super) cache: Arc<CurrentSet>,
    pub(super) updates: watch::Sender<Arc<ProviderSet>>,
    /// Decoded providers by node name, reused across reads (keeps in-flight counters).
    pub(super) known: Mutex<HashMap<Arc<str>, Provider>>,
    pub(super) version: AtomicU64,
    pub(super) empty_refusals: AtomicU64,
    pub(super) snapshot_error: Mutex<Option<Error>>,
    pub(super) to_disk: watch::Sender<Option<Arc<Vec<String>>>>,
    /// Wakes the warm-up ticker; notified only when a set with a warming provider is stored,
    /// so that ordinary updates cost no extra task wake-up.
    pub(super) warming: tokio::sync::Notify,
}

impl Directory {
    /// An empty directory for `service`.
    pub(super) fn new(service: &str, options: SubscribeOptions) -> Self {
        let empty = Arc::new(ProviderSet::empty(options.balance));
        Directory {
            service: service.to_owned(),
            cache: Arc::new(CurrentSet::new(empty.clone())),
            options,
            updates: watch::channel(empty).0,
            known: Mutex::new(HashMap::new()),
            version: AtomicU64::new(0),
            empty_refusals: AtomicU64::new(0),
            snapshot_error: Mutex::new(None),
            to_disk: watch::channel(None).0,
            warming: tokio::sync::Notify::new(),
        }
    }

    /// Serves the disk snapshot (stale) because ZooKeeper did not answer in time.
    pub(super) fn boot_from_disk(&self) {
        let Some(snapshot_dir) = &self.options.snapshot_dir else { return };
        let service = &self.service;
        match super::load_snapshot(snapshot_dir, service) {
            Ok(Some(saved)) => {
                tracing::warn!(
                    %service,
                    providers = saved.nodes.len(),
                    "ZooKeeper did not answer in time; serving the disk snapshot (stale)"
                );
                self.apply(&saved.nodes, ProviderSource::DiskSnapshot);
                crate::metrics::snapshot_loaded(service);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(%service, error = %e, "ignoring an unreadable disk snapshot");
                *lock(&self.snapshot_error) = Some(e);
            }
        }
    }

    /// Applies one list of provider node names read from ZooKeeper (or loaded from disk).
    pub(super) fn apply(&self, names: &[String], source: ProviderSource) {
        let mut known = lock(&self.known);
        let current = self.cache.load_full();
        if source == ProviderSource::DiskSnapshot && current.source() != ProviderSource::Empty {
            return; // ZooKeeper answered first: the snapshot is older than what we have.
        }
        let mut fresh = HashMap::with_capacity(names.len());
        let mut decoded = Vec::with_capacity(names.len());
        let mut rejected = Vec::new();
        for name in names {
            let provider = match known.get(name.as_str()) {
                Some(p) => p.clone(),
                None => match decode(name, &self.service) {
                    Ok(url) => Provider::new(url, name),
                    Err(error) => {
                        tracing::warn!(service = %self.service, node = %name, %error, "skipping a provider node");
                        rejected.push(RejectedNode { node: name.clone(), error });
                        continue;
                    }
                },
            };
            fresh.insert(provider.node_arc().clone(), provider.clone());
            decoded.push(provider);
        }
        let unfiltered = decoded.len();
        let mut providers = self.options.filter.apply(decoded, |p| p.url());
        let mut protected = false;
        let mut source = source;
        if names.is_empty() && self.options.empty_protection && !current.is_empty() {
            self.empty_refusals.fetch_add(1, Ordering::Relaxed);
            crate::metrics::empty_refused(&self.service);
            tracing::warn!(
                service = %self.service,
                kept = current.len(),
                "ZooKeeper lists no providers; empty protection keeps the last known ones"
            );
            providers = current.providers().to_vec();
            protected = true;
            source = current.source();
        } else {
            *known = fresh;
        }
        let version = self.version.fetch_add(1, Ordering::Relaxed) + 1;
        let parts = SetParts { providers, version, source, protected, rejected, unfiltered };
        let set = Arc::new(ProviderSet::build(parts, self.options.balance, SystemTime::now()));
        let warming = set.is_warming();
        crate::metrics::providers(&self.service, set.len(), set.rejected().len());
        self.cache.store(set.clone());
        self.updates.send_replace(set);
        drop(known);
        if warming {
            self.warming.notify_one();
        }
        if source == ProviderSource::ZooKeeper && !protected && self.options.snapshot_dir.is_some() {
            self.to_disk.send_replace(Some(Arc::new(names.to_vec())));
        }
        tracing::debug!(service = %self.service, version, "provider set updated");
    }

    /// Rebuilds the current set with the weights of now (warm-up ramp).
    fn rebuild_weights(&self) {
        let _known = lock(&self.known);
        let current = self.cache.load_full();
        let parts = SetParts {
            providers: current.providers().to_vec(),
            version: self.version.fetch_add(1, Ordering::Relaxed) + 1,
            source: current.source(),
            protected: current.is_empty_protected(),
            rejected: current.rejected().to_vec(),
            unfiltered: current.unfiltered_len(),
        };
        let set = Arc::new(ProviderSet::build(parts, self.options.balance, SystemTime::now()));
        self.cache.store(set.clone());
        self.updates.send_replace(set);
    }
}

fn decode(name: &str, service: &str) -> Result<ServiceUrl> {
    let url = ServiceUrl::from_node_name(name)?;
    if url.service() != service {
        return Err(Error::InvalidUrl {
            url: url.to_string(),
            reason: format!("registered under service {service:?} but names service {:?}", url.service()),
        });
    }
    Ok(url)
}

/// Rebuilds the set once a second while a provider warms up.
pub(super) async fn warmup_ticker(dir: Arc<Directory>) {
    loop {
        if !dir.cache.load().is_warming() {
            dir.warming.notified().await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if dir.cache.load().is_warming() {
            dir.rebuild_weights();
        }
    }
}

/// Writes the latest list read from ZooKeeper to disk; bursts coalesce into one write.
pub(super) async fn snapshot_writer(dir: Arc<Directory>, snapshot_dir: PathBuf) {
    let mut rx = dir.to_disk.subscribe();
    while rx.changed().await.is_ok() {
        let Some(nodes) = rx.borrow_and_update().clone() else { continue };
        let service = dir.service.clone();
        let target = snapshot_dir.clone();
        let saved =
            tokio::task::spawn_blocking(move || crate::consumer::save_snapshot(&target, &service, &nodes))
                .await;
        crate::metrics::snapshot_written(&dir.service, matches!(saved, Ok(Ok(()))));
        match saved {
            Ok(Ok(())) => *lock(&dir.snapshot_error) = None,
            Ok(Err(e)) => {
                tracing::warn!(service = %dir.service, error = %e, "cannot write the disk snapshot");
                *lock(&dir.snapshot_error) = Some(e);
            }
            Err(_) => return,
        }
    }
}
