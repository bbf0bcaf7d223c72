//! The watch task behind a [`Config`].
//!
//! It follows the document and its canary node with registry's push-then-pull data watch (the
//! watch event pushes, a read that re-arms the watch pulls; bursts fold into one read; a change
//! made during a disconnection is read on reconnection; after session expiry the watch is set
//! again on the new session and the node read again). Each read goes to the watch's
//! [`Watcher`] (`applier.rs`), which layers, deserializes and validates what is in effect; an
//! accepted value is swapped in through arc-swap, a refused one leaves the last good value in
//! place and is reported.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use registry::{NodeEvent, Session, WatchTask};
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};

use crate::applier::{Applied, Node, Watcher};
use crate::cache::{CacheFile, CacheWriter};
use crate::config::{Config, Source, Status};
use crate::document::Text;
use crate::error::{Error, Result};
use crate::instance::{self, Instance};
use crate::layers::ZkLayers;
use crate::schema::Schema;
use crate::status_delay::{self, Poke};
use crate::status_writer::{self, Refusal, WriterStart};

/// Everything a watch needs, gathered by [`crate::ConfigSpec::watch`].
pub(crate) struct Start<T> {
    pub(crate) session: Session,
    pub(crate) schema: Schema<T>,
    pub(crate) cache: Option<CacheFile>,
    pub(crate) startup_timeout: Duration,
    /// See [`crate::ConfigSpec::keep_when_deleted`].
    pub(crate) keep_when_deleted: bool,
    /// Who this watcher is, for canaries.
    pub(crate) instance: Instance,
    /// The other ZooKeeper documents merged with the document: path, and whether over it.
    pub(crate) layers: Vec<(String, bool)>,
    /// The status node to keep, if any.
    pub(crate) fleet: Option<Fleet>,
}

/// What the fleet status needs besides the instance.
pub(crate) struct Fleet {
    pub(crate) delay: Duration,
    pub(crate) layers: Vec<String>,
}

/// The watch loops' state, shared with [`start`]: reads are collected until every node has
/// answered once and the first value is made, then applied in the loops' tasks as they arrive.
enum Phase<T> {
    Starting {
        first: Option<oneshot::Sender<()>>,
        reads: Vec<(Node, NodeEvent<Vec<u8>>)>,
        waiting: Vec<Node>,
    },
    Following(Box<Follower<T>>),
}

/// What applies reads once the watch has started.
struct Follower<T> {
    watcher: Watcher<T>,
    value: Arc<ArcSwap<T>>,
    status: Arc<watch::Sender<Status>>,
    /// The canary refused, for a status writer without a status node.
    refusals: watch::Sender<Refusal>,
    /// With a status node: the writer's delay and what wakes it after a change.
    writer: Option<(Duration, Arc<Poke>)>,
}

impl<T: DeserializeOwned> Follower<T> {
    /// Applies one read; a change of the canary refused goes to the refusals.
    fn apply(&mut self, node: Node, event: NodeEvent<Vec<u8>>) {
        // Says after the apply whether it changed the status (dropped here: not a receiver
        // that keeps the watch alive).
        let before = self.status.subscribe();
        self.watcher.apply(node, event, &self.value, &self.status);
        if let (Some((delay, poke)), Ok(true)) = (&self.writer, before.has_changed()) {
            status_delay::after(*delay, poke);
        }
        let refusal = status_writer::refusal_of(&self.status.borrow());
        self.refusals.send_if_modified(|last| {
            let changed = *last != refusal;
            if changed {
                *last = refusal;
            }
            changed
        });
    }
}

fn locked<T>(phase: &Mutex<Phase<T>>) -> MutexGuard<'_, Phase<T>> {
    phase.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reads collected while starting.
fn take_reads<T>(phase: &mut Phase<T>) -> Vec<(Node, NodeEvent<Vec<u8>>)> {
    match phase {
        Phase::Starting { reads, .. } => std::mem::take(reads),
        Phase::Following(_) => Vec::new(),
    }
}

/// A watch loop on `node` at `path` that feeds the shared phase.
fn follow<T>(session: &Session, path: &str, node: Node, phase: &Arc<Mutex<Phase<T>>>) -> Result<WatchTask>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let sink = phase.clone();
    Ok(session.watch_data_with(path, move |event| match &mut *locked(&sink) {
        Phase::Starting { first, reads, waiting } => {
            reads.push((node, event));
            waiting.retain(|n| *n != node);
            if waiting.is_empty() {
                if let Some(first) = first.take() {
                    let _ = first.send(());
                }
            }
        }
        Phase::Following(f) => f.apply(node, event),
    })?)
}

/// The nodes a watch of `path` follows: the document, its canary node, its other layers.
fn nodes_of(path: &str, layers: &[(String, bool)]) -> Vec<(Node, String)> {
    let mut nodes = vec![(Node::Document, path.to_owned()), (Node::Canary, crate::canary::node(path))];
    nodes.extend(layers.iter().enumerate().map(|(i, (p, _))| (Node::Layer(i), p.clone())));
    nodes
}

/// Starts a watch: waits up to the start-up timeout for ZooKeeper's first answers, falls back
/// to the cache, then to the defaults, then applies each read in the watch loops' tasks.
pub(crate) async fn start<T>(start: Start<T>) -> Result<Config<T>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let Start { session, schema, cache, startup_timeout, keep_when_deleted, instance, layers, fleet } = start;
    let path = schema.path.clone();
    let (first_tx, first_rx) = oneshot::channel();
    let nodes = nodes_of(&path, &layers);
    let zk = ZkLayers::new(layers, keep_when_deleted);
    let waiting = nodes.iter().map(|(n, _)| *n).collect();
    let phase = Arc::new(Mutex::new(Phase::Starting { first: Some(first_tx), reads: Vec::new(), waiting }));
    let tasks =
        nodes.iter().map(|(node, p)| follow(&session, p, *node, &phase)).collect::<Result<Vec<_>>>()?;
    let answered = match tokio::time::timeout(startup_timeout, first_rx).await {
        Ok(Ok(())) => true,
        // A loop ended without an answer: the session is closed.
        Ok(Err(_)) => return Err(Error::Registry(registry::Error::SessionClosed)),
        Err(_) => false,
    };
    let me = Some(instance.clone());
    let cache_writer = cache.clone().map(CacheWriter::spawn);
    let mut watcher = Watcher::new(schema, cache_writer, keep_when_deleted, me, zk);
    for (node, event) in take_reads(&mut locked(&phase)) {
        watcher.record(node, event);
    }
    let (value, status) = first_value(&mut watcher, answered, cache.as_ref(), &path, startup_timeout).await?;
    let value = Arc::new(ArcSwap::from_pointee(value));
    let status = Status { accepted: 1, accepted_at: Instant::now(), ..status };
    let (refusals, refusals_rx) = watch::channel(status_writer::refusal_of(&status));
    let (tx, rx) = watch::channel(status);
    let poke = Arc::new(Poke::default());
    let wakes = fleet.as_ref().map(|f| (f.delay, poke.clone()));
    let writer = spawn_writer(&session, &path, instance, fleet, (rx.clone(), refusals_rx, poke));
    let status = Arc::new(tx);
    {
        // Reads that arrived since the first answers are applied now, under the lock, so that
        // none slips between them and the switch.
        let mut guard = locked(&phase);
        let status = status.clone();
        let mut follower =
            Box::new(Follower { watcher, value: value.clone(), status, refusals, writer: wakes });
        for (node, event) in take_reads(&mut guard) {
            follower.apply(node, event);
        }
        *guard = Phase::Following(follower);
    }
    // The loops run until every `Config` handle is gone (or the session is closed).
    tokio::spawn(async move {
        status.closed().await;
        drop((tasks, session));
    });
    Ok(Config::new(&path, value, rx, Some(writer)))
}

/// Starts the status writer of a watch (without `fleet`, it only halts a canary it refuses).
fn spawn_writer(
    session: &Session,
    path: &str,
    instance: Instance,
    fleet: Option<Fleet>,
    (statuses, refusals, poke): (watch::Receiver<Status>, watch::Receiver<Refusal>, Arc<Poke>),
) -> status_writer::StatusWriter {
    let keep_node = fleet.is_some();
    let fleet = fleet.unwrap_or(Fleet { delay: Duration::ZERO, layers: Vec::new() });
    let claim = instance::claim(&session.environment().key(), &crate::fleet::dir(path), &instance.name);
    status_writer::spawn(WriterStart {
        session: session.clone(),
        path: path.to_owned(),
        instance,
        claim,
        layers: fleet.layers,
        statuses,
        refusals,
        poke,
        keep_node,
    })
}

/// The value a watch starts with: ZooKeeper's first answers when they came (a refused document
/// falls back to the last good value of an earlier run, else the defaults), else the cache or
/// the defaults as a stale value.
async fn first_value<T>(
    watcher: &mut Watcher<T>,
    answered: bool,
    cache: Option<&CacheFile>,
    path: &str,
    startup_timeout: Duration,
) -> Result<(T, Status)>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    if !answered {
        tracing::warn!(%path, ?startup_timeout, "no answer from ZooKeeper; starting from the cache or defaults");
        return match fallback(&watcher.schema, cache).await {
            Ok(found) => Ok(found),
            Err(cause) => Err(Error::Unavailable {
                path: path.to_owned(),
                waited: startup_timeout,
                cause: Box::new(cause),
            }),
        };
    }
    match watcher.first() {
        Some(Ok(accepted)) => Ok(accepted),
        Some(Err(refused)) => {
            // The last good value of an earlier run, else the defaults; else nothing to serve.
            let (v, mut status) = match fallback(&watcher.schema, cache).await {
                Ok(found) => found,
                Err(_) => return Err(refused),
            };
            status.stale = false;
            status.refused = match &watcher.document {
                NodeEvent::Present { stat, .. } => Some(format!("version {}", stat.version)),
                _ => None,
            };
            status.error = Some(refused);
            Ok((v, status))
        }
        None if watcher.keep_when_deleted => {
            // Deleted (or ZooKeeper wiped) while this process was away: the last good value
            // of an earlier run, else the defaults.
            watcher.applied = Some(Applied::Absent);
            let (value, status) = fallback(&watcher.schema, cache).await?;
            Ok((value, Status { stale: false, absent: true, ..status }))
        }
        None => watcher.absent(),
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

#[cfg(test)]
mod tests {
    use registry::Stat;
    use serde::Deserialize;

    use super::*;
    use crate::config::Source;
    use crate::schema::Layers;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        n: u32,
    }

    fn read(text: &str, version: i32) -> NodeEvent<Vec<u8>> {
        let stat = Stat {
            czxid: 1,
            mzxid: 1 + i64::from(version),
            pzxid: 1,
            ctime: 0,
            mtime: 0,
            version,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: text.len() as i32,
            num_children: 0,
        };
        NodeEvent::Present { value: text.as_bytes().to_vec(), stat }
    }

    #[test]
    fn an_accepted_value_does_not_wake_a_writer_that_follows_the_refusals_alone() {
        let schema: Schema<Doc> = Schema {
            path: "/config/ns/doc".into(),
            layers: Layers::default(),
            validator: None,
            allow_unknown_keys: false,
        };
        let watcher = Watcher::new(schema, None, true, None, ZkLayers::default());
        let first = Status { accepted: 1, ..Status::new(Some(0), Source::ZooKeeper, false) };
        let (refusals, refusals_rx) = watch::channel(status_writer::refusal_of(&first));
        let (status, status_rx) = watch::channel(first);
        let value = Arc::new(ArcSwap::from_pointee(Doc { n: 0 }));
        let status = Arc::new(status);
        let mut follower = Follower { watcher, value: value.clone(), status, refusals, writer: None };

        follower.apply(Node::Document, read("n = 1", 1));
        assert_eq!(*value.load_full(), Doc { n: 1 });
        assert!(status_rx.has_changed().expect("open"), "the value's watchers are told");
        assert!(!refusals_rx.has_changed().expect("open"), "the refusals' follower is not");

        follower.apply(Node::Document, read("n = \"x\"", 2));
        assert_eq!(*value.load_full(), Doc { n: 1 }, "the last good value stays");
        assert!(!refusals_rx.has_changed().expect("open"), "a refused document is no refused canary");
    }
}
