//! Turning reads into values: the state of one watch (the latest read of its document and of
//! its canary node), which document is in effect, and swapping an accepted value in.
//!
//! A canary that selects this watcher ([`Canary::loads`]) is in effect over the document;
//! otherwise the document is. Each read is applied once: the same document (version, mzxid,
//! content) or the same canary is not converted again.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use registry::{NodeEvent, Stat};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::cache::CacheWriter;
use crate::canary::Canary;
use crate::config::{Source, Status};
use crate::document::{self, Text};
use crate::error::Result;
use crate::instance::Instance;
use crate::layers::ZkLayers;
use crate::schema::Schema;

/// Which node a read is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    /// The document.
    Document,
    /// Its canary node.
    Canary,
    /// Another document merged with it: the `i`th of its ZooKeeper layers.
    Layer(usize),
}

/// What was last applied, so that the same read is not applied twice. The content's digest is
/// part of it: after ZooKeeper was wiped and rebuilt, another document can come back with the
/// same version and mzxid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    Absent,
    Document {
        version: i32,
        mzxid: i64,
        digest: u64,
    },
    Canary {
        id: u64,
        digest: u64,
    },
    /// No document of its own, its ZooKeeper layers merged.
    Merged {
        digest: u64,
    },
}

/// One watch's state.
pub(crate) struct Watcher<T> {
    pub(crate) schema: Schema<T>,
    cache: Option<CacheWriter>,
    pub(crate) applied: Option<Applied>,
    /// What the value in use came from.
    in_use: Option<Applied>,
    /// Keys the digest of the documents applied.
    digests: RandomState,
    /// A deleted document keeps the value in use and the cache file (else: the defaults).
    pub(crate) keep_when_deleted: bool,
    /// Who this watcher is, for canaries (`None`: canaries are not followed).
    me: Option<Instance>,
    /// The latest read of the document.
    pub(crate) document: NodeEvent<Vec<u8>>,
    /// The canary in effect for this watcher.
    canary: Option<Arc<Canary>>,
    /// The id of the canary the node holds (in effect here or not, halted or not).
    canary_id: Option<u64>,
    /// The other ZooKeeper documents merged with the document.
    zk: ZkLayers,
}

impl<T: DeserializeOwned> Watcher<T> {
    pub(crate) fn new(
        schema: Schema<T>,
        cache: Option<CacheWriter>,
        keep_when_deleted: bool,
        me: Option<Instance>,
        zk: ZkLayers,
    ) -> Self {
        Watcher {
            schema,
            cache,
            applied: None,
            in_use: None,
            digests: RandomState::new(),
            keep_when_deleted,
            me,
            document: NodeEvent::Unknown,
            canary: None,
            canary_id: None,
            zk,
        }
    }

    /// Records a read without applying it.
    pub(crate) fn record(&mut self, node: Node, event: NodeEvent<Vec<u8>>) {
        match (node, event) {
            (_, NodeEvent::Unknown) => {}
            (Node::Document, event) => self.document = event,
            (Node::Layer(i), event) => self.zk.record(i, event),
            (Node::Canary, event) => {
                let canary = match event {
                    NodeEvent::Present { value, .. } => Canary::decode(&value),
                    _ => None,
                };
                self.canary_id = canary.as_ref().map(|c| c.id);
                let me = self.me.as_ref();
                self.canary =
                    canary.filter(|c| me.is_some_and(|me| c.loads(&self.schema.path, me))).map(Arc::new);
            }
        }
    }

    /// What applying `bytes` read with `stat` is remembered as.
    fn document_key(&self, bytes: &[u8], stat: &Stat) -> Applied {
        let digest = self.digests.hash_one((bytes, self.zk.digest(&self.digests)));
        Applied::Document { version: stat.version, mzxid: stat.mzxid, digest }
    }

    fn canary_key(&self, canary: &Canary) -> Applied {
        let digest = self.digests.hash_one((canary.document.as_bytes(), self.zk.digest(&self.digests)));
        Applied::Canary { id: canary.id, digest }
    }

    /// No document of its own: its layers merged (with defaults and overrides).
    fn merged(&mut self) -> Result<(T, Status)> {
        self.applied = Some(Applied::Merged { digest: self.zk.digest(&self.digests) });
        self.zk.apply_to(&mut self.schema.layers)?;
        let value = self.schema.convert(None)?;
        Ok((value, Status { absent: true, ..Status::new(None, Source::ZooKeeper, false) }))
    }

    /// A document read from ZooKeeper, as a value and the status that goes with it.
    pub(crate) fn accept(&mut self, bytes: Vec<u8>, stat: &Stat) -> Result<(T, Status)> {
        let key = self.document_key(&bytes, stat);
        self.accept_as(key, bytes, stat)
    }

    /// [`Watcher::accept`] with the document's key computed already (`document_key`).
    fn accept_as(&mut self, key: Applied, bytes: Vec<u8>, stat: &Stat) -> Result<(T, Status)> {
        self.applied = Some(key);
        self.zk.apply_to(&mut self.schema.layers)?;
        let doc = document::decode(&self.schema.path, Some(stat.version), bytes)?;
        let value = self.schema.convert(Some(&doc))?;
        if let Some(cache) = &self.cache {
            cache.save(stat.version, doc.text);
        }
        Ok((value, Status::new(Some(stat.version), Source::ZooKeeper, false)))
    }

    /// The canary in effect, as a value (not cached: a restart without ZooKeeper serves the
    /// document's last good version).
    fn accept_canary(&mut self, canary: &Canary) -> Result<(T, Status)> {
        let key = self.canary_key(canary);
        self.accept_canary_as(key, canary)
    }

    /// [`Watcher::accept_canary`] with the canary's key computed already (`canary_key`).
    fn accept_canary_as(&mut self, key: Applied, canary: &Canary) -> Result<(T, Status)> {
        self.applied = Some(key);
        self.zk.apply_to(&mut self.schema.layers)?;
        let label = format!("{} canary {}", self.schema.path, canary.id);
        let doc = Text { label, version: None, text: canary.document.clone(), offset: 0 };
        let value = self.schema.convert(Some(&doc))?;
        let status =
            Status { canary: Some(canary.id), ..Status::new(Some(canary.base), Source::ZooKeeper, false) };
        Ok((value, status))
    }

    /// The first value, from the reads recorded: the canary when one is in effect and
    /// accepted, else the document. `None`: the document is absent (the caller decides).
    pub(crate) fn first(&mut self) -> Option<Result<(T, Status)>> {
        let refused = match self.canary.clone() {
            Some(canary) => match self.accept_canary(&canary) {
                Ok(accepted) => {
                    self.in_use = self.applied;
                    return Some(Ok(accepted));
                }
                Err(e) => Some((canary.id, e)),
            },
            None => None,
        };
        let NodeEvent::Present { value, stat } = self.document.clone() else {
            if self.zk.is_empty() {
                return None;
            }
            let merged = self.merged();
            if merged.is_ok() {
                self.in_use = self.applied;
            }
            return Some(merged);
        };
        let outcome = self.accept(value, &stat);
        if outcome.is_ok() {
            self.in_use = self.applied;
        }
        Some(match (outcome, refused) {
            (Ok((value, status)), Some((id, e))) => Ok((value, refused_canary(status, id, e))),
            (outcome, _) => outcome,
        })
    }

    /// The node does not exist, with `keep_when_deleted(false)`: defaults and overrides, and
    /// the cache file removed.
    pub(crate) fn absent(&mut self) -> Result<(T, Status)> {
        self.applied = Some(Applied::Absent);
        let value = self.schema.convert(None)?;
        if let Some(cache) = &self.cache {
            cache.remove();
        }
        Ok((value, Status { absent: true, ..Status::new(None, Source::Defaults, false) }))
    }

    /// The node was deleted, with `keep_when_deleted(true)`: the value in use and the cache file
    /// stay; the status says the document is absent.
    fn keep_deleted(&mut self, status: &watch::Sender<Status>) {
        self.applied = Some(Applied::Absent);
        tracing::warn!(path = %self.schema.path, "config document deleted; keeping the last good value and its cache");
        status.send_modify(|s| {
            s.absent = true;
            s.stale = false;
            s.error = None;
        });
    }

    /// Records a read and applies what is in effect: swaps the value in or reports the refusal.
    pub(crate) fn apply(
        &mut self,
        node: Node,
        event: NodeEvent<Vec<u8>>,
        value: &ArcSwap<T>,
        status: &watch::Sender<Status>,
    ) {
        self.record(node, event);
        let refused = status.borrow().refused_canary;
        if refused.is_some() && refused != self.canary_id {
            // The canary this watcher refused was aborted (or replaced): nothing refused any more.
            status.send_modify(|s| {
                s.error = None;
                s.refused = None;
                s.refused_canary = None;
            });
        }
        // Applied already, or what is in use (a canary refused and halted, or aborted, leaves the
        // document in use: nothing to load again, and the refusal stays reported).
        let seen = |me: &Self, key: Applied| me.applied == Some(key) || me.in_use == Some(key);
        // Each key is computed once (a digest of the document's bytes), here and for the accept.
        let (outcome, what) = match self.canary.clone() {
            Some(canary) => {
                let key = self.canary_key(&canary);
                if seen(self, key) {
                    return;
                }
                (self.accept_canary_as(key, &canary), What::Canary(canary.id))
            }
            None => match self.document.clone() {
                NodeEvent::Present { value, stat } => {
                    let key = self.document_key(&value, &stat);
                    if seen(self, key) {
                        return;
                    }
                    (self.accept_as(key, value, &stat), What::Version(stat.version))
                }
                NodeEvent::Absent if !self.zk.is_empty() => {
                    if seen(self, Applied::Merged { digest: self.zk.digest(&self.digests) }) {
                        return;
                    }
                    (self.merged(), What::NoDocument)
                }
                NodeEvent::Absent => {
                    if self.applied == Some(Applied::Absent) {
                        return;
                    }
                    if self.keep_when_deleted {
                        return self.keep_deleted(status);
                    }
                    (self.absent(), What::NoDocument)
                }
                _ => return,
            },
        };
        self.settle(outcome, what, value, status);
    }

    /// Swaps an accepted value in, or reports the refusal of `what`.
    fn settle(
        &mut self,
        outcome: Result<(T, Status)>,
        what: What,
        value: &ArcSwap<T>,
        status: &watch::Sender<Status>,
    ) {
        let canary = match what {
            What::Canary(id) => Some(id),
            _ => None,
        };
        let path = self.schema.path.clone();
        match outcome {
            Ok((new, mut next)) => {
                self.in_use = self.applied;
                if let Some(deleted) = self.zk.deleted() {
                    next.refused = Some("a layer's deletion".to_owned());
                    next.error = Some(deleted);
                }
                value.store(Arc::new(new));
                let accepted_at = Instant::now();
                status.send_modify(|s| *s = Status { accepted: s.accepted + 1, accepted_at, ..next });
                tracing::info!(%path, version = ?status.borrow().version, canary = ?canary, "config value accepted");
                metrics::counter!("zkmesh_config_accepted_total", "path" => path).increment(1);
            }
            Err(e) => {
                let what = what.to_string();
                tracing::warn!(%path, error = %e, refused = %what, "config document refused; keeping the last good value");
                metrics::counter!("zkmesh_config_refused_total", "path" => path).increment(1);
                status.send_modify(|s| {
                    s.stale = false;
                    s.error = Some(e);
                    s.refused = Some(what);
                    s.refused_canary = canary;
                });
            }
        }
    }
}

/// What an apply converted, named in a refusal (`version 8`, `canary 3`; empty without a
/// document: the layers merged, or the defaults). Formatted only for a refusal.
#[derive(Debug, Clone, Copy)]
enum What {
    Version(i32),
    Canary(u64),
    NoDocument,
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Version(v) => write!(f, "version {v}"),
            What::Canary(id) => write!(f, "canary {id}"),
            What::NoDocument => Ok(()),
        }
    }
}

/// `status` of a value in use, with the refusal of canary `id` reported.
fn refused_canary(status: Status, id: u64, error: crate::Error) -> Status {
    Status { error: Some(error), refused: Some(format!("canary {id}")), refused_canary: Some(id), ..status }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::schema::Layers;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        n: u32,
    }

    fn present(text: &str, stat: Stat) -> NodeEvent<Vec<u8>> {
        NodeEvent::Present { value: text.as_bytes().to_vec(), stat }
    }

    #[test]
    fn a_read_with_the_stat_applied_last_but_other_bytes_is_applied() {
        // ZooKeeper wiped and rebuilt: another document at the same version and mzxid.
        let schema: Schema<Doc> = Schema {
            path: "/config/ns/doc".into(),
            layers: Layers::default(),
            validator: None,
            allow_unknown_keys: false,
        };
        let mut watcher = Watcher::new(schema, None, true, None, ZkLayers::default());
        let stat = Stat {
            czxid: 6,
            mzxid: 6,
            pzxid: 6,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 5,
            num_children: 0,
        };
        let (first, status) = watcher.accept(b"n = 1".to_vec(), &stat).expect("accepted");
        let value = ArcSwap::from_pointee(first);
        let (status, _rx) = watch::channel(Status { accepted: 1, ..status });

        watcher.apply(Node::Document, present("n = 2", stat), &value, &status);
        assert_eq!(*value.load_full(), Doc { n: 2 }, "same version and mzxid, other content");
        assert_eq!(status.borrow().accepted, 2);

        watcher.apply(Node::Document, present("n = 2", stat), &value, &status);
        assert_eq!(status.borrow().accepted, 2, "the same read again is skipped");
    }
}
