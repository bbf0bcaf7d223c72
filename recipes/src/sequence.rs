//! Unique, increasing ids from ZooKeeper's sequential nodes (a naming service).

use std::sync::{Arc, Mutex, MutexGuard};

use zookeeper_client::{CreateMode, Error as ZkError, MultiWriteError, MultiWriteResult};

use crate::error::{Error, Result};
use registry::{LiveClient, Session};

use crate::name::recipe_dir;
use crate::node::{new_uuid, recover, sequence_of, PrefixCleanup, PROTECTED};

/// Where id sequences live.
const ROOT: &str = "/ids";
/// What its names name, for errors.
const KIND: &str = "id sequence";
const MARKER: &str = "id-";
/// Creates per multi request (ZooKeeper bounds a request by `jute.maxbuffer`).
const CHUNK: usize = 500;

/// Unique, increasing `u64` ids, shared by every process that names the sequence.
///
/// An id is the sequence number ZooKeeper gives a PERSISTENT_SEQUENTIAL node
/// `/ids/<name>/_c_<uuid>-id-<seq>`; the node is deleted right after (the number stays taken: the
/// parent's counter never goes back). Ids are unique across processes and sessions, and an id
/// handed out after another call returned is greater than every id that call returned (the
/// counter follows ZooKeeper's write order). They are not contiguous: every create and delete
/// under the parent moves the counter, and ZooKeeper's counter is a signed 32-bit number, so a
/// sequence lasts about a billion ids.
///
/// [`IdGenerator::next_ids`] takes `n` ids in one multi request (the batch mode). A create whose
/// answer is lost is found again by the `_c_<uuid>-` prefix, so ids are neither lost nor handed
/// out twice; nodes whose delete failed are deleted by a later call.
#[derive(Debug, Clone)]
pub struct IdGenerator {
    session: Session,
    dir: String,
    /// Nodes whose delete failed, deleted first by the next call.
    leftovers: Arc<Mutex<Vec<String>>>,
}

impl IdGenerator {
    /// The id sequence `name` (a service-name-like path segment) on `session`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a name outside `[A-Za-z0-9._-]{1,255}`.
    pub fn new(session: &Session, name: &str) -> Result<IdGenerator> {
        Ok(IdGenerator {
            session: session.clone(),
            dir: recipe_dir(KIND, ROOT, name)?,
            leftovers: Default::default(),
        })
    }

    /// The sequence's directory, `/ids/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    /// The next id. Waits for a connection while ZooKeeper is unreachable.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; a ZooKeeper error that waiting cannot cure (such as `NoAuth`).
    pub async fn next_id(&self) -> Result<u64> {
        let ids = self.next_ids(1).await?;
        ids.first().copied().ok_or_else(|| Error::zk("multi", &self.dir, ZkError::RuntimeInconsistent))
    }

    /// The next `n` ids, in increasing order, from one multi request (one per 500 ids).
    ///
    /// # Errors
    /// As [`IdGenerator::next_id`].
    pub async fn next_ids(&self, n: usize) -> Result<Vec<u64>> {
        self.delete_leftovers().await;
        let mut ids = Vec::with_capacity(n);
        let mut left = n;
        while left > 0 {
            let chunk = left.min(CHUNK);
            ids.extend(self.take_chunk(chunk).await?);
            left -= chunk;
        }
        Ok(ids)
    }

    async fn take_chunk(&self, n: usize) -> Result<Vec<u64>> {
        let shared = &self.session.core();
        let prefix = format!("{PROTECTED}{}-", new_uuid());
        let base = registry::join(&self.dir, &format!("{prefix}{MARKER}"));
        let mut backoff = shared.backoff();
        let mut live = shared.wait_usable(self.session.generation()).await?;
        let mut made_dir = false;
        let mut maybe_created = false;
        // Until the ids are known, a cancelled or failed call deletes what it may have created.
        let mut cleanup = PrefixCleanup::new(shared.clone(), &self.dir, &prefix);
        let paths = loop {
            if maybe_created {
                // The answer of an earlier attempt was lost: it may have created our nodes.
                match self.find(&live, &prefix).await {
                    Ok(found) if found.len() == n => break found,
                    Ok(found) if found.is_empty() => {}
                    Ok(found) => {
                        // Not from one atomic multi: cannot happen; drop them and start over.
                        lock(&self.leftovers).extend(found);
                        self.delete_leftovers().await;
                    }
                    Err(e) => {
                        live = self.retry(&live, &mut backoff, "get_children", e).await?;
                        continue;
                    }
                }
            }
            let mut multi = live.client.new_multi_writer();
            for _ in 0..n {
                multi
                    .add_create(&base, &[], &live.create_options(CreateMode::PersistentSequential))
                    .map_err(|e| Error::zk("create", &base, e))?;
            }
            maybe_created = true;
            let error = match multi.commit().await {
                Ok(results) => {
                    break results
                        .into_iter()
                        .filter_map(|r| match r {
                            MultiWriteResult::Create { path, .. } => Some(path),
                            _ => None,
                        })
                        .collect::<Vec<_>>();
                }
                Err(MultiWriteError::OperationFailed { source, .. }) => source,
                Err(MultiWriteError::RequestFailed { source }) => source,
            };
            match error {
                ZkError::NoNode if !made_dir => {
                    maybe_created = false;
                    made_dir = true;
                    live.ensure_path(&self.dir).await?;
                }
                ZkError::NoNode | ZkError::NoAuth | ZkError::InvalidAcl | ZkError::NodeExists => {
                    return Err(Error::zk("multi", &base, error));
                }
                other => live = self.retry(&live, &mut backoff, "multi", other).await?,
            }
        };
        let ids: Option<Vec<u64>> =
            paths.iter().map(|path| sequence_of(path).filter(|s| *s >= 0).map(|s| s as u64)).collect();
        self.delete(&live, paths).await;
        cleanup.disarm();
        let mut ids = ids.ok_or_else(|| Error::zk("create", &self.dir, ZkError::RuntimeInconsistent))?;
        ids.sort_unstable();
        Ok(ids)
    }

    async fn retry(
        &self,
        live: &LiveClient,
        backoff: &mut registry::Backoff,
        op: &'static str,
        error: ZkError,
    ) -> Result<LiveClient> {
        match recover(&self.session.core(), live, backoff, None, op, &self.dir, error).await? {
            Some(live) => Ok(live),
            None => Err(Error::SessionClosed),
        }
    }

    /// Our nodes (by `prefix`) in the directory.
    async fn find(&self, live: &LiveClient, prefix: &str) -> std::result::Result<Vec<String>, ZkError> {
        match live.client.get_children(&self.dir).await {
            Ok((children, _)) => Ok(children
                .into_iter()
                .filter(|c| c.starts_with(prefix))
                .map(|c| registry::join(&self.dir, &c))
                .collect()),
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Deletes `paths` in one multi request; what fails is left for the next call.
    async fn delete(&self, live: &LiveClient, paths: Vec<String>) {
        let mut multi = live.client.new_multi_writer();
        for path in &paths {
            if multi.add_delete(path, None).is_err() {
                lock(&self.leftovers).push(path.clone());
            }
        }
        match multi.commit().await {
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(dir = %self.dir, error = %e, "id nodes not deleted yet; the next call retries");
                lock(&self.leftovers).extend(paths);
            }
        }
    }

    /// Deletes the nodes an earlier call could not (one by one: some may be gone already).
    async fn delete_leftovers(&self) {
        let paths = std::mem::take(&mut *lock(&self.leftovers));
        if paths.is_empty() {
            return;
        }
        let Ok(live) = self.session.core().live_now() else {
            lock(&self.leftovers).extend(paths);
            return;
        };
        let mut failed = Vec::new();
        for path in paths {
            match live.client.delete(&path, None).await {
                Ok(()) | Err(ZkError::NoNode) => {}
                Err(_) => failed.push(path),
            }
        }
        if !failed.is_empty() {
            tracing::warn!(dir = %self.dir, left = failed.len(), "id nodes not deleted yet");
            lock(&self.leftovers).extend(failed);
        }
    }
}

/// Locks a mutex, recovering from poisoning (every critical section here leaves the data valid).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
