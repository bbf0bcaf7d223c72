//! The watch task behind a [`Config`].
//!
//! It follows the document with registry's push-then-pull data watch (the watch event pushes, a
//! read that re-arms the watch pulls; bursts fold into one read; a change made during a
//! disconnection is read on reconnection; after session expiry the watch is set again on the new
//! session and the document read again). Each document read is layered, deserialized and
//! validated; an accepted value is swapped in through arc-swap, a refused one leaves the last
//! good value in place and is reported.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use registry::{NodeEvent, Session, Stat};
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};

use crate::cache::{CacheFile, CacheWriter};
use crate::config::{Config, Source, Status};
use crate::document::{self, Text};
use crate::error::{Error, Result};
use crate::instance::{self, Instance};
use crate::schema::Schema;
use crate::status_writer::{self, WriterStart};

/// Everything a watch needs, gathered by [`crate::ConfigSpec::watch`].
pub(crate) struct Start<T> {
    pub(crate) session: Session,
    pub(crate) schema: Schema<T>,
    pub(crate) cache: Option<CacheFile>,
    pub(crate) startup_timeout: Duration,
    /// See [`crate::ConfigSpec::keep_when_deleted`].
    pub(crate) keep_when_deleted: bool,
    /// The status node to keep, if any.
    pub(crate) fleet: Option<Fleet>,
}

/// Who the watcher is in the fleet status.
pub(crate) struct Fleet {
    pub(crate) instance: Instance,
    pub(crate) delay: Duration,
    pub(crate) layers: Vec<String>,
}

/// What was last applied, so that the same read is not applied twice. The content's digest is
/// part of it: after ZooKeeper was wiped and rebuilt, another document can come back with the
/// same version and mzxid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Absent,
    Document { version: i32, mzxid: i64, digest: u64 },
}

/// The watch loop's state, shared with [`start`]: reads are collected until the first answer
/// has been turned into a value, then applied in the loop's own task as they arrive.
enum Phase<T> {
    Starting { first: Option<oneshot::Sender<()>>, latest: NodeEvent<Vec<u8>> },
    Following(Follower<T>),
}

/// What applies reads once the watch has started.
struct Follower<T> {
    watcher: Watcher<T>,
    value: Arc<ArcSwap<T>>,
    status: Arc<watch::Sender<Status>>,
}

fn locked<T>(phase: &Mutex<Phase<T>>) -> MutexGuard<'_, Phase<T>> {
    phase.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The read collected while starting (`Unknown`: none since the last take).
fn take_latest<T>(phase: &mut Phase<T>) -> NodeEvent<Vec<u8>> {
    match phase {
        Phase::Starting { latest, .. } => std::mem::replace(latest, NodeEvent::Unknown),
        Phase::Following(_) => NodeEvent::Unknown,
    }
}

/// Starts a watch: waits up to the start-up timeout for ZooKeeper's first answer, falls back to
/// the cache, then to the defaults, then applies each read in the watch loop's task.
pub(crate) async fn start<T>(start: Start<T>) -> Result<Config<T>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let Start { session, schema, cache, startup_timeout, keep_when_deleted, fleet } = start;
    let path = schema.path.clone();
    let (first_tx, first_rx) = oneshot::channel();
    let phase = Arc::new(Mutex::new(Phase::Starting { first: Some(first_tx), latest: NodeEvent::Unknown }));
    let sink = phase.clone();
    let task = session.watch_data_with(&path, move |event| match &mut *locked(&sink) {
        Phase::Starting { first, latest } => {
            *latest = event;
            if let Some(first) = first.take() {
                let _ = first.send(());
            }
        }
        Phase::Following(f) => f.watcher.apply(event, &f.value, &f.status),
    })?;
    let first = match tokio::time::timeout(startup_timeout, first_rx).await {
        Ok(Ok(())) => Ok(take_latest(&mut locked(&phase))),
        // The loop ended without an answer: the session is closed.
        Ok(Err(_)) => return Err(Error::Registry(registry::Error::SessionClosed)),
        Err(_) => Err(()),
    };
    let mut watcher = Watcher::new(schema, cache.clone().map(CacheWriter::spawn), keep_when_deleted);
    let (value, status) = first_value(&mut watcher, first, cache.as_ref(), &path, startup_timeout).await?;
    let value = Arc::new(ArcSwap::from_pointee(value));
    let status = Status { accepted: 1, accepted_at: Instant::now(), ..status };
    let (tx, rx) = watch::channel(status);
    let writer = fleet.map(|fleet| {
        let claim = instance::claim(&crate::fleet::dir(&path), &fleet.instance.name);
        status_writer::spawn(WriterStart {
            session: session.clone(),
            path: path.clone(),
            instance: fleet.instance,
            claim,
            layers: fleet.layers,
            delay: fleet.delay,
            statuses: rx.clone(),
        })
    });
    let status = Arc::new(tx);
    {
        // A read that arrived since the first answer is applied now, under the lock, so that none
        // slips between it and the switch.
        let mut guard = locked(&phase);
        let latest = take_latest(&mut guard);
        let mut follower = Follower { watcher, value: value.clone(), status: status.clone() };
        follower.watcher.apply(latest, &follower.value, &follower.status);
        *guard = Phase::Following(follower);
    }
    // The loop runs until every `Config` handle is gone (or the session is closed).
    tokio::spawn(async move {
        status.closed().await;
        drop((task, session));
    });
    Ok(Config::new(&path, value, rx, writer))
}

/// The value a watch starts with: ZooKeeper's first answer when it came (a refused document
/// falls back to the last good value of an earlier run, else the defaults), else the cache or
/// the defaults as a stale value.
async fn first_value<T>(
    watcher: &mut Watcher<T>,
    first: std::result::Result<NodeEvent<Vec<u8>>, ()>,
    cache: Option<&CacheFile>,
    path: &str,
    startup_timeout: Duration,
) -> Result<(T, Status)>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    match first {
        Ok(NodeEvent::Present { value, stat }) => match watcher.accept(value, &stat) {
            Ok(accepted) => Ok(accepted),
            Err(refused) => {
                // The last good value of an earlier run, else the defaults; else nothing to serve.
                let (v, mut status) = match fallback(&watcher.schema, cache).await {
                    Ok(found) => found,
                    Err(_) => return Err(refused),
                };
                status.stale = false;
                status.error = Some(refused);
                Ok((v, status))
            }
        },
        Ok(_) if watcher.keep_when_deleted => {
            // Deleted (or ZooKeeper wiped) while this process was away: the last good value
            // of an earlier run, else the defaults.
            watcher.applied = Some(Applied::Absent);
            let (value, status) = fallback(&watcher.schema, cache).await?;
            Ok((value, Status { stale: false, absent: true, ..status }))
        }
        Ok(_) => watcher.absent(),
        Err(()) => {
            tracing::warn!(%path, ?startup_timeout, "no answer from ZooKeeper; starting from the cache or defaults");
            match fallback(&watcher.schema, cache).await {
                Ok(found) => Ok(found),
                Err(cause) => Err(Error::Unavailable {
                    path: path.to_owned(),
                    waited: startup_timeout,
                    cause: Box::new(cause),
                }),
            }
        }
    }
}

/// The cache, else the defaults, as a stale value. The error is the defaults' (a corrupt cache
/// is reported in the status).
async fn fallback<T: DeserializeOwned>(schema: &Schema<T>, cache: Option<&CacheFile>) -> Result<(T, Status)> {
    let mut error = None;
    if let Some(cache) = cache {
        match cache.load().await {
            Ok(Some(cached)) => {
                let doc = Text::document(&schema.path, Some(cached.version), cached.document);
                match schema.convert(Some(&doc)) {
                    Ok(value) => return Ok((value, Status::new(Some(cached.version), Source::Cache, true))),
                    Err(e) => {
                        tracing::warn!(error = %e, "cached config refused");
                        error = Some(e);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "config cache ignored");
                error = Some(e);
            }
        }
    }
    let value = schema.convert(None)?;
    Ok((value, Status { error, ..Status::new(None, Source::Defaults, true) }))
}

// === The watch task ===

struct Watcher<T> {
    schema: Schema<T>,
    cache: Option<CacheWriter>,
    applied: Option<Applied>,
    /// Keys the digest of the documents applied.
    digests: RandomState,
    /// A deleted document keeps the value in use and the cache file (else: the defaults).
    keep_when_deleted: bool,
}

impl<T: DeserializeOwned> Watcher<T> {
    fn new(schema: Schema<T>, cache: Option<CacheWriter>, keep_when_deleted: bool) -> Self {
        Watcher { schema, cache, applied: None, digests: RandomState::new(), keep_when_deleted }
    }

    /// What applying `bytes` read with `stat` is remembered as.
    fn document_key(&self, bytes: &[u8], stat: &Stat) -> Applied {
        Applied::Document { version: stat.version, mzxid: stat.mzxid, digest: self.digests.hash_one(bytes) }
    }

    /// A document read from ZooKeeper, as a value and the status that goes with it.
    fn accept(&mut self, bytes: Vec<u8>, stat: &Stat) -> Result<(T, Status)> {
        self.applied = Some(self.document_key(&bytes, stat));
        let doc = document::decode(&self.schema.path, Some(stat.version), bytes)?;
        let value = self.schema.convert(Some(&doc))?;
        if let Some(cache) = &self.cache {
            cache.save(stat.version, doc.text);
        }
        Ok((value, Status::new(Some(stat.version), Source::ZooKeeper, false)))
    }

    /// The node does not exist, with `keep_when_deleted(false)`: defaults and overrides, and
    /// the cache file removed.
    fn absent(&mut self) -> Result<(T, Status)> {
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

    /// Applies a read: swaps the value in or reports the refusal.
    fn apply(&mut self, event: NodeEvent<Vec<u8>>, value: &ArcSwap<T>, status: &watch::Sender<Status>) {
        let what = match &event {
            NodeEvent::Present { stat, .. } => Some(format!("version {}", stat.version)),
            _ => None,
        };
        let outcome = match event {
            NodeEvent::Present { value, stat } => {
                if self.applied == Some(self.document_key(&value, &stat)) {
                    return;
                }
                self.accept(value, &stat)
            }
            NodeEvent::Absent => {
                if self.applied == Some(Applied::Absent) {
                    return;
                }
                if self.keep_when_deleted {
                    return self.keep_deleted(status);
                }
                self.absent()
            }
            _ => return,
        };
        match outcome {
            Ok((new, next)) => {
                value.store(Arc::new(new));
                let accepted_at = Instant::now();
                status.send_modify(|s| *s = Status { accepted: s.accepted + 1, accepted_at, ..next });
                tracing::info!(path = %self.schema.path, version = ?status.borrow().version, "config value accepted");
                metrics::counter!("zkmesh_config_accepted_total", "path" => self.schema.path.clone())
                    .increment(1);
            }
            Err(e) => {
                tracing::warn!(path = %self.schema.path, error = %e, "config document refused; keeping the last good value");
                metrics::counter!("zkmesh_config_refused_total", "path" => self.schema.path.clone())
                    .increment(1);
                status.send_modify(|s| {
                    s.stale = false;
                    s.error = Some(e);
                    s.refused = what;
                });
            }
        }
    }
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
        let mut watcher = Watcher::new(schema, None, true);
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

        watcher.apply(present("n = 2", stat), &value, &status);
        assert_eq!(*value.load_full(), Doc { n: 2 }, "same version and mzxid, other content");
        assert_eq!(status.borrow().accepted, 2);

        watcher.apply(present("n = 2", stat), &value, &status);
        assert_eq!(status.borrow().accepted, 2, "the same read again is skipped");
    }
}
