//! `Config<T>`: a typed config kept up to date from ZooKeeper, read without a lock; the watch
//! task that keeps it is in `watcher.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::status_writer::StatusWriter;

/// Where the value in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// No document: the defaults (and environment overrides). The node does not exist, or
    /// ZooKeeper has not answered and there is no usable cache.
    Defaults,
    /// The local cache, read at start because ZooKeeper did not answer in time, or because
    /// the document does not exist any more (see [`Status::absent`]).
    Cache,
    /// The ZooKeeper document.
    ZooKeeper,
}

/// What a [`Config`] holds, besides the value itself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Status {
    /// The ZooKeeper data version of the document in use (`None`: no document, defaults only).
    pub version: Option<i32>,
    /// Where the value in use came from.
    pub source: Source,
    /// True until ZooKeeper has answered once: the value comes from the cache or the defaults
    /// and may be out of date.
    pub stale: bool,
    /// Why the latest document was refused (or the cache ignored); cleared when a document is
    /// accepted, or when the document is deleted.
    pub error: Option<Error>,
    /// ZooKeeper says the document does not exist: it was deleted (or ZooKeeper wiped), or it
    /// was never created. By default the value in use is then the last one read, from
    /// ZooKeeper or the cache ([`Status::version`] and [`Status::source`] say which), or the
    /// defaults when there was none; with
    /// [`keep_when_deleted(false)`](crate::ConfigSpec::keep_when_deleted) it is the defaults.
    pub absent: bool,
    /// How many values have been accepted so far (1 for the first).
    pub accepted: u64,
    /// When the value in use was swapped in: [`Config::load`] returns it from this instant on
    /// (taken just after the swap). For the first value, when the watch started serving it.
    pub accepted_at: Instant,
    /// The id of the canary in use, when this watcher runs one (see
    /// [`crate::ConfigCenter::publish_canary`]); [`Status::version`] is then the version the
    /// canary was published over.
    pub canary: Option<u64>,
    /// What [`Status::error`] refused (`version 8`, `canary 3`, a layer), when it is set.
    pub refused: Option<String>,
    /// The canary refused, when [`Status::refused`] is one (the status writer halts it).
    pub(crate) refused_canary: Option<u64>,
}

impl Status {
    /// A value's status before it is swapped in: no error, present, not counted yet.
    pub(crate) fn new(version: Option<i32>, source: Source, stale: bool) -> Status {
        Status {
            version,
            source,
            stale,
            error: None,
            absent: false,
            accepted: 0,
            accepted_at: Instant::now(),
            canary: None,
            refused: None,
            refused_canary: None,
        }
    }
}

/// A typed config kept up to date from ZooKeeper; see [`crate::ConfigCenter::watch`].
///
/// [`Config::load`] is the read path: an `Arc<T>` out of arc-swap, no lock, no allocation.
/// [`Config::changed`] waits for the next accepted value, and only for that: a refused document
/// keeps the value in use and does not wake it. [`Config::status_changed`] (or a receiver from
/// [`Config::statuses`]) wakes on every change of the [`Status`]: an accepted value, a refused
/// document, ZooKeeper answering after a start from the cache, the document deleted. Clones
/// share the value and the watch; the watch stops when the last clone is dropped (the session it
/// uses is kept open until then).
///
/// ```no_run
/// # async fn demo(center: zkmesh_config::ConfigCenter) -> zkmesh_config::Result<()> {
/// #[derive(serde::Deserialize)]
/// struct Db { pool: u32 }
/// let mut db = center.watch::<Db>("shop", "db").await?;
/// let mut alerts = db.clone();
/// tokio::spawn(async move {
///     while let Ok(status) = alerts.status_changed().await {
///         if let Some(error) = status.error {
///             eprintln!("config refused, still on version {:?}: {error}", status.version);
///         }
///     }
/// });
/// loop {
///     println!("pool {} (version {:?})", db.load().pool, db.version());
///     db.changed().await?;
/// }
/// # }
/// ```
pub struct Config<T> {
    /// The status node writer, stopped with the last handle.
    _status: Option<Arc<StatusWriter>>,
    path: Arc<str>,
    value: Arc<ArcSwap<T>>,
    status: watch::Receiver<Status>,
    /// The status as [`Config::status_changed`] last saw it.
    updates: watch::Receiver<Status>,
    seen: u64,
}

impl<T> Config<T> {
    /// The handle of a watch that has started: `status` holds the first value's status.
    pub(crate) fn new(
        path: &str,
        value: Arc<ArcSwap<T>>,
        status: watch::Receiver<Status>,
        writer: Option<StatusWriter>,
    ) -> Self {
        let seen = status.borrow().accepted;
        let _status = writer.map(Arc::new);
        Config { _status, path: path.into(), value, updates: unchanged(&status), status, seen }
    }
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Config {
            _status: self._status.clone(),
            path: self.path.clone(),
            value: self.value.clone(),
            status: self.status.clone(),
            updates: unchanged(&self.updates),
            seen: self.status.borrow().accepted,
        }
    }
}

/// A new receiver that has seen the current status.
fn unchanged(status: &watch::Receiver<Status>) -> watch::Receiver<Status> {
    let mut status = status.clone();
    status.mark_unchanged();
    status
}

impl<T> std::fmt::Debug for Config<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").field("path", &self.path).field("status", &*self.status.borrow()).finish()
    }
}

impl<T> Config<T> {
    /// The value in use: the last accepted one.
    pub fn load(&self) -> Arc<T> {
        self.value.load_full()
    }

    /// The ZooKeeper path of the document.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Version, source, staleness and last error, as one consistent snapshot.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// The ZooKeeper data version of the document in use (`None`: defaults only).
    pub fn version(&self) -> Option<i32> {
        self.status.borrow().version
    }

    /// Where the value in use came from.
    pub fn source(&self) -> Source {
        self.status.borrow().source
    }

    /// Whether ZooKeeper has not answered yet (the value comes from the cache or the defaults).
    pub fn is_stale(&self) -> bool {
        self.status.borrow().stale
    }

    /// Why the latest document was refused, if it was (cleared by the next accepted one).
    pub fn last_error(&self) -> Option<Error> {
        self.status.borrow().error.clone()
    }

    /// Waits for the next accepted value (one accepted since the last call, or since this
    /// handle was made) and returns it. Values accepted in a burst fold into one wake-up.
    ///
    /// # Errors
    /// [`registry::Error::SessionClosed`] (as [`Error::Registry`]) once the watch has ended
    /// because the session was closed.
    pub async fn changed(&mut self) -> Result<Arc<T>> {
        loop {
            let accepted = self.status.borrow_and_update().accepted;
            if accepted != self.seen {
                self.seen = accepted;
                return Ok(self.load());
            }
            self.status.changed().await.map_err(|_| Error::Registry(registry::Error::SessionClosed))?;
        }
    }

    /// Waits for the next change of the status (one since the last call, or since this handle
    /// was made) and returns the status then: an accepted value, a refused document
    /// ([`Status::error`] set, the value in use unchanged), ZooKeeper answering after a start
    /// from the cache, the document deleted. Changes in a burst fold into one wake-up.
    ///
    /// Use it to log or alert on refusals; [`Config::changed`] does not wake on them.
    ///
    /// # Errors
    /// [`registry::Error::SessionClosed`] (as [`Error::Registry`]) once the watch has ended.
    pub async fn status_changed(&mut self) -> Result<Status> {
        self.updates.changed().await.map_err(|_| Error::Registry(registry::Error::SessionClosed))?;
        Ok(self.updates.borrow_and_update().clone())
    }

    /// A receiver of the status, for `select!` loops or a stream (tokio-stream's
    /// `WatchStream`): its `changed()` wakes on every change after this call, refusals
    /// included, as [`Config::status_changed`] does.
    pub fn statuses(&self) -> watch::Receiver<Status> {
        unchanged(&self.status)
    }

    /// Waits until `pred` holds for the value and status in use, and returns the value.
    ///
    /// # Errors
    /// [`registry::Error::Timeout`] (as [`Error::Registry`]) after `timeout`;
    /// [`registry::Error::SessionClosed`] once the watch has ended.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&T, &Status) -> bool,
    ) -> Result<Arc<T>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (value, hit) = {
                let status = self.status.borrow_and_update();
                let value = self.value.load_full();
                let hit = pred(&value, &status);
                (value, hit)
            };
            if hit {
                return Ok(value);
            }
            match tokio::time::timeout_at(deadline, self.status.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::Registry(registry::Error::SessionClosed)),
                Err(_) => {
                    return Err(Error::Registry(registry::Error::Timeout {
                        what: format!("config {} to reach a state", self.path),
                        after: timeout,
                    }))
                }
            }
        }
    }
}
