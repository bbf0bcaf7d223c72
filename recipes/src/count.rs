//! A shared integer, laid out like Curator's `SharedCount`.

use std::sync::Arc;

use tokio::sync::watch;
use zookeeper_client::{CreateMode, Error as ZkError};

use registry::{NodeEvent, Session, WatchTask};

use crate::error::{Error, Result};
use crate::name::recipe_dir;

/// Where shared counts live by default.
const ROOT: &str = "/counts";
/// What its names name, for errors.
const KIND: &str = "shared count";
/// What the node holds.
const EXPECTED: &str = "a 4-byte big-endian integer (Curator's SharedCount)";

/// A count and the node version it was read at: what [`SharedCount::try_set`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionedCount {
    /// The count.
    pub value: i32,
    /// The node's data version when `value` was read (it grows by one per write).
    pub version: i32,
}

/// An integer shared by every process that names it, with compare-and-set and a watch.
///
/// The node (`/counts/<name>`, or any path with [`SharedCount::at_path`]) holds the count as 4
/// big-endian bytes, as Curator's `SharedCount` writes it, so a Java process using `SharedCount`
/// on the same path shares it. [`SharedCount::start`] creates the node with a seed value unless
/// it exists, then follows it (push-then-pull: a one-shot watch, a read after each event, again
/// after session expiry). [`SharedCount::count`] is the last value seen; [`SharedCount::changed`]
/// waits for another; [`SharedCount::try_set`] writes only if nobody wrote since the value it is
/// given was read (ZooKeeper's version check).
///
/// ```no_run
/// # async fn demo(session: registry::Session) -> zkmesh_recipes::Result<()> {
/// let workers = zkmesh_recipes::SharedCount::start(&session, "workers", 4).await?;
/// loop {
///     let seen = workers.versioned();
///     if workers.try_set(seen, seen.value + 1).await? { break } // someone else wrote: again
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SharedCount {
    session: Session,
    path: String,
    rx: watch::Receiver<VersionedCount>,
    tx: Arc<watch::Sender<VersionedCount>>,
    _task: WatchTask,
}

impl SharedCount {
    /// The shared count `name` (a service-name-like path segment) at `/counts/<name>`, created
    /// with `seed` unless it exists, and followed from now on.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; as [`SharedCount::at_path`].
    pub async fn start(session: &Session, name: &str, seed: i32) -> Result<SharedCount> {
        Self::at_path(session, &recipe_dir(KIND, ROOT, name)?, seed).await
    }

    /// The shared count at `path` (any absolute path, e.g. the one a Curator program uses),
    /// created with `seed` unless it exists, and followed from now on.
    ///
    /// # Errors
    /// An invalid path; [`Error::InvalidData`] if the node holds something else than 4 bytes;
    /// a ZooKeeper error (connection loss when ZooKeeper is unreachable now:
    /// [`Error::is_retryable`]); [`Error::SessionClosed`].
    pub async fn at_path(session: &Session, path: &str, seed: i32) -> Result<SharedCount> {
        registry::validate_path(path)?;
        let live = session.core().live_now()?;
        if let Some((parent, _)) = path.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
            live.ensure_path(parent).await?;
        }
        let options = live.create_options(CreateMode::Persistent);
        match live.client.create(path, &seed.to_be_bytes(), &options).await {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(e) => return Err(Error::zk("create", path, e)),
        }
        let (data, stat) = live.client.get_data(path).await.map_err(|e| Error::zk("get_data", path, e))?;
        let first = VersionedCount { value: decode(path, &data)?, version: stat.version };
        let (tx, rx) = watch::channel(first);
        let tx = Arc::new(tx);
        let sink = tx.clone();
        let owned = path.to_owned();
        let task = session.watch_data_with(path, move |event| {
            let NodeEvent::Present { value, stat } = event else {
                tracing::warn!(path = %owned, "shared count node deleted; keeping the last value");
                return;
            };
            match decode(&owned, &value) {
                Ok(value) => publish(&sink, VersionedCount { value, version: stat.version }),
                Err(e) => tracing::warn!(error = %e, "ignoring unreadable shared count"),
            }
        })?;
        Ok(SharedCount { session: session.clone(), path: path.to_owned(), rx, tx, _task: task })
    }

    /// The count's node.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The last count seen.
    pub fn count(&self) -> i32 {
        self.rx.borrow().value
    }

    /// The last count seen, with its version (for [`SharedCount::try_set`]).
    pub fn versioned(&self) -> VersionedCount {
        *self.rx.borrow()
    }

    /// A watch of the count (with its version).
    pub fn watch(&self) -> watch::Receiver<VersionedCount> {
        self.rx.clone()
    }

    /// Waits until the count differs from the one last returned by this method (or, the first
    /// time, from the one when the count was started), and returns it.
    ///
    /// # Errors
    /// [`Error::SessionClosed`] once the session is closed.
    pub async fn changed(&mut self) -> Result<VersionedCount> {
        self.rx.changed().await.map_err(|_| Error::SessionClosed)?;
        Ok(*self.rx.borrow_and_update())
    }

    /// Sets the count to `value` if it is still at `previous.version` (nobody wrote since
    /// `previous` was read). `Ok(false)`: someone did; read again ([`SharedCount::versioned`]
    /// follows within a moment, or [`SharedCount::refresh`] reads at once) and decide again.
    ///
    /// # Errors
    /// A ZooKeeper error. After connection loss ([`Error::is_retryable`]) the write may or may
    /// not have happened: read again before retrying.
    pub async fn try_set(&self, previous: VersionedCount, value: i32) -> Result<bool> {
        let live = self.session.core().live_now()?;
        match live.client.set_data(&self.path, &value.to_be_bytes(), Some(previous.version)).await {
            Ok(stat) => {
                publish(&self.tx, VersionedCount { value, version: stat.version });
                Ok(true)
            }
            Err(ZkError::BadVersion) => Ok(false),
            Err(e) => Err(Error::zk("set_data", &self.path, e)),
        }
    }

    /// Sets the count to `value`, whatever it was.
    ///
    /// # Errors
    /// A ZooKeeper error (connection loss when ZooKeeper is unreachable now).
    pub async fn set(&self, value: i32) -> Result<()> {
        let live = self.session.core().live_now()?;
        let stat = live
            .client
            .set_data(&self.path, &value.to_be_bytes(), None)
            .await
            .map_err(|e| Error::zk("set_data", &self.path, e))?;
        publish(&self.tx, VersionedCount { value, version: stat.version });
        Ok(())
    }

    /// Reads the count from ZooKeeper now (rather than waiting for the watch).
    ///
    /// # Errors
    /// As [`SharedCount::at_path`].
    pub async fn refresh(&self) -> Result<VersionedCount> {
        let live = self.session.core().live_now()?;
        let (data, stat) =
            live.client.get_data(&self.path).await.map_err(|e| Error::zk("get_data", &self.path, e))?;
        let read = VersionedCount { value: decode(&self.path, &data)?, version: stat.version };
        publish(&self.tx, read);
        Ok(read)
    }

    /// Adds `delta` with compare-and-set, reading again after each lost race, and returns the
    /// new count. Wraps around on overflow, as Java's `int` does.
    ///
    /// # Errors
    /// As [`SharedCount::try_set`].
    pub async fn add(&self, delta: i32) -> Result<i32> {
        let mut seen = self.versioned();
        loop {
            let value = seen.value.wrapping_add(delta);
            if self.try_set(seen, value).await? {
                return Ok(value);
            }
            seen = self.refresh().await?;
        }
    }
}

/// Publishes `read` unless what is published is as new already (a watch read and a write of
/// ours may arrive in either order).
fn publish(tx: &watch::Sender<VersionedCount>, read: VersionedCount) {
    tx.send_if_modified(|current| {
        let newer = read.version > current.version || (read.version == current.version && read != *current);
        if newer {
            *current = read;
        }
        newer
    });
}

/// The count in `data` (4 bytes, big-endian).
fn decode(path: &str, data: &[u8]) -> Result<i32> {
    let bytes: [u8; 4] = data.try_into().map_err(|_| Error::InvalidData {
        path: path.to_owned(),
        expected: EXPECTED,
        found: format!("{} bytes", data.len()),
    })?;
    Ok(i32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_four_big_endian_bytes_and_only_newer_versions_publish() {
        assert_eq!(decode("/c", &[0, 0, 1, 2]).ok(), Some(258));
        assert_eq!(decode("/c", &(-3i32).to_be_bytes()).ok(), Some(-3));
        let err = decode("/c", b"12").expect_err("2 bytes");
        assert!(err.to_string().contains("/c holds data that is not a 4-byte"), "{err}");
        let (tx, rx) = watch::channel(VersionedCount { value: 1, version: 3 });
        publish(&tx, VersionedCount { value: 0, version: 2 });
        assert_eq!(rx.borrow().value, 1, "an older read does not overwrite");
        publish(&tx, VersionedCount { value: 5, version: 4 });
        assert_eq!(*rx.borrow(), VersionedCount { value: 5, version: 4 });
    }
}
