//! Push-then-pull watch loops that follow the logical session.
//!
//! A loop reads a node *and* sets its one-shot watch in the same request
//! (`get_and_watch_children` / `get_and_watch_data`), so no change between a trigger and the
//! re-arm can be lost. When the watch fires (push) the loop reads again (pull); events that
//! arrive while a read is in flight fold into that read, so a burst costs one read. A missing
//! node is watched for creation. A disconnection changes nothing: ZooKeeper re-delivers missed
//! events when the client reconnects. After session expiry the loop re-arms on the new session
//! and reads again. Nothing is ever reported as gone because ZooKeeper is unreachable.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;
use zookeeper_client::{Error as ZkError, EventType, Stat};

use super::{watch_event, Backoff, LiveClient, Retry, Session, SessionCore};
use crate::error::{Error, Result};

/// What a watch loop last read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent<T> {
    /// Not read yet (ZooKeeper has not answered since the watch started).
    Unknown,
    /// The node does not exist.
    Absent,
    /// The node exists; `value` is its children or its data.
    Present {
        /// The children (for a children watch) or the data (for a data watch).
        value: T,
        /// The node's stat from the same read.
        stat: Stat,
    },
}

/// Which read a loop does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WatchKind {
    Children,
    Data,
}

/// The raw value read by a loop: children names or data bytes.
#[derive(Debug)]
pub(crate) enum Read {
    Children(Vec<String>, Stat),
    Data(Vec<u8>, Stat),
    Absent,
}

/// Runs a push-then-pull loop on `path` until the session closes, handing each read to `sink`.
/// Errors that do not end the loop (a refused read, say) go to `sink` too; the loop retries them
/// with back-off.
pub(crate) async fn run(
    shared: Arc<SessionCore>,
    path: String,
    kind: WatchKind,
    mut sink: impl FnMut(std::result::Result<Read, Error>) + Send,
) {
    let mut backoff = shared.backoff();
    let Ok(mut live) = shared.live_after(0).await else { return };
    let kind_name = match kind {
        WatchKind::Children => "children",
        WatchKind::Data => "data",
    };
    // One wait for the session's end for the whole loop (not a new one per event).
    let closed = shared.closed();
    tokio::pin!(closed);
    loop {
        shared.reads.fetch_add(1, Ordering::Relaxed);
        crate::metrics::watch_read(kind_name);
        let read = read_and_watch(&live.client, &path, kind).await;
        let watcher = match read {
            Ok((read, watcher)) => {
                backoff.reset();
                sink(Ok(read));
                watcher
            }
            Err(ZkError::NoNode) => match live.client.check_and_watch_stat(&path).await {
                Ok((None, watcher)) => {
                    sink(Ok(Read::Absent));
                    watcher
                }
                // Created between the two requests: read it.
                Ok((Some(_), _)) => continue,
                Err(e) => match recover(&shared, &mut live, &mut backoff, &path, e, &mut sink).await {
                    Ok(()) => continue,
                    Err(_) => return,
                },
            },
            Err(e) => match recover(&shared, &mut live, &mut backoff, &path, e, &mut sink).await {
                Ok(()) => continue,
                Err(_) => return,
            },
        };
        let event = tokio::select! {
            event = watch_event(watcher) => event,
            _ = &mut closed => return,
        };
        crate::metrics::watch_event(kind_name);
        if event == EventType::Session {
            // The ZooKeeper session ended: wait for the next one and read again.
            match shared.live_after(live.generation).await {
                Ok(l) => live = l,
                Err(_) => return,
            }
        }
    }
}

/// One read of `path` that also sets the one-shot watch (children or data, in one request).
async fn read_and_watch(
    client: &zookeeper_client::Client,
    path: &str,
    kind: WatchKind,
) -> std::result::Result<(Read, zookeeper_client::OneshotWatcher), ZkError> {
    match kind {
        WatchKind::Children => client
            .get_and_watch_children(path)
            .await
            .map(|(children, stat, w)| (Read::Children(children, stat), w)),
        WatchKind::Data => {
            client.get_and_watch_data(path).await.map(|(data, stat, w)| (Read::Data(data, stat), w))
        }
    }
}

/// Handles a failed read: reports an error the connection does not explain, then waits for a
/// client worth reading with (the session layer's one retry policy).
async fn recover(
    shared: &SessionCore,
    live: &mut LiveClient,
    backoff: &mut Backoff,
    path: &str,
    error: ZkError,
    sink: &mut (impl FnMut(std::result::Result<Read, Error>) + Send),
) -> Result<()> {
    if Retry::of(&error) == Retry::Never {
        tracing::warn!(%path, %error, "watch read failed; retrying");
        sink(Err(Error::zk("read", path, error.clone())));
    }
    *live = shared.retry_after(live, backoff, &error).await?;
    Ok(())
}

/// A watch loop started by [`Session::watch_data_with`]; dropping it stops the loop.
#[derive(Debug)]
pub struct WatchTask {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A live view of one node, kept up to date by a push-then-pull loop; see
/// [`Session::watch_children`] and [`Session::watch_data`].
///
/// The loop stops when the handle is dropped.
#[derive(Debug)]
pub struct NodeWatch<T> {
    rx: watch::Receiver<NodeEvent<T>>,
    errors: watch::Receiver<Option<Error>>,
    _task: WatchTask,
}

impl<T: Clone> NodeWatch<T> {
    /// The latest value read.
    pub fn get(&self) -> NodeEvent<T> {
        self.rx.borrow().clone()
    }

    /// Waits for the next value that differs from the last one seen through this handle, and
    /// returns it.
    ///
    /// # Errors
    /// [`Error::SessionClosed`] once the session is closed.
    pub async fn changed(&mut self) -> Result<NodeEvent<T>> {
        self.rx.changed().await.map_err(|_| Error::SessionClosed)?;
        Ok(self.rx.borrow_and_update().clone())
    }

    /// Waits until `pred` holds for the latest value, and returns that value.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`; [`Error::SessionClosed`].
    pub async fn wait_for(
        &mut self,
        timeout: std::time::Duration,
        mut pred: impl FnMut(&NodeEvent<T>) -> bool,
    ) -> Result<NodeEvent<T>> {
        match tokio::time::timeout(timeout, self.rx.wait_for(|v| pred(v))).await {
            Ok(Ok(v)) => Ok(v.clone()),
            Ok(Err(_)) => Err(Error::SessionClosed),
            Err(_) => Err(Error::Timeout { what: "a watched node to reach a state".into(), after: timeout }),
        }
    }

    /// The last error the loop met (it keeps retrying), if the latest read failed.
    pub fn last_error(&self) -> Option<Error> {
        self.errors.borrow().clone()
    }
}

impl Session {
    /// Watches the children of `path` (push-then-pull; see [`NodeWatch`]).
    ///
    /// # Errors
    /// [`Error::InvalidPath`].
    pub fn watch_children(&self, path: &str) -> Result<NodeWatch<Vec<String>>> {
        self.spawn_watch(path, WatchKind::Children, |read| match read {
            Read::Children(names, stat) => NodeEvent::Present { value: names, stat },
            _ => NodeEvent::Absent,
        })
    }

    /// Watches the data of `path` (push-then-pull; see [`NodeWatch`]).
    ///
    /// # Errors
    /// [`Error::InvalidPath`].
    pub fn watch_data(&self, path: &str) -> Result<NodeWatch<Vec<u8>>> {
        self.spawn_watch(path, WatchKind::Data, |read| match read {
            Read::Data(data, stat) => NodeEvent::Present { value: data, stat },
            _ => NodeEvent::Absent,
        })
    }

    /// Watches the data of `path` like [`Session::watch_data`], but hands every read to
    /// `on_read` in the watch loop's own task: no channel and no second task between the answer
    /// and the callback, for followers that act on each value at once (the config center).
    /// `on_read` sees every read, including one equal to the last (after a reconnection, say);
    /// it must not block. Read errors are retried by the loop (and logged), not passed on.
    /// The loop stops when the returned [`WatchTask`] is dropped or the session closes.
    ///
    /// # Errors
    /// [`Error::InvalidPath`].
    pub fn watch_data_with(
        &self,
        path: &str,
        mut on_read: impl FnMut(NodeEvent<Vec<u8>>) + Send + 'static,
    ) -> Result<WatchTask> {
        self.spawn_loop(path, WatchKind::Data, move |read| match read {
            Ok(Read::Data(value, stat)) => on_read(NodeEvent::Present { value, stat }),
            Ok(_) => on_read(NodeEvent::Absent),
            Err(_) => {}
        })
    }

    /// Starts a watch loop on `path` handing each read to `sink`.
    fn spawn_loop(
        &self,
        path: &str,
        kind: WatchKind,
        sink: impl FnMut(std::result::Result<Read, Error>) + Send + 'static,
    ) -> Result<WatchTask> {
        crate::session::validate_path(path)?;
        Ok(WatchTask { task: tokio::spawn(run(self.shared.clone(), path.to_owned(), kind, sink)) })
    }

    fn spawn_watch<T: PartialEq + Send + Sync + 'static>(
        &self,
        path: &str,
        kind: WatchKind,
        convert: impl Fn(Read) -> NodeEvent<T> + Send + 'static,
    ) -> Result<NodeWatch<T>> {
        let (tx, rx) = watch::channel(NodeEvent::Unknown);
        let (err_tx, errors) = watch::channel(None);
        let task = self.spawn_loop(path, kind, move |read| match read {
            Ok(read) => {
                err_tx.send_replace(None);
                let new = convert(read);
                tx.send_if_modified(|current| {
                    let differs = *current != new;
                    if differs {
                        *current = new;
                    }
                    differs
                });
            }
            Err(e) => {
                err_tx.send_replace(Some(e));
            }
        })?;
        Ok(NodeWatch { rx, errors, _task: task })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// zookeeper-client's watcher panics when its session task is dropped without answering (here:
    /// the runtime that ran it is dropped); `event_type` reports a session event instead.
    #[test]
    fn a_watcher_dropped_unanswered_is_a_session_event() {
        let zk = local_zk::shared_local_zookeeper().expect("shared ZooKeeper");
        let runtime = |name| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{name} runtime: {e}"))
        };
        let first = runtime("first");
        let (client, watcher) = first.block_on(async {
            let client = zookeeper_client::Client::connect(zk).await.expect("connect");
            let (_, watcher) = client.check_and_watch_stat("/never-created-here").await.expect("watch");
            (client, watcher)
        });
        drop(first);
        let event = runtime("second").block_on(watch_event(watcher));
        assert_eq!(event, EventType::Session);
        drop(client);
    }
}
