//! Unique, increasing ids from ZooKeeper's sequential nodes (a naming service).

use std::sync::{Arc, Mutex, MutexGuard};

use zookeeper_client::{CreateMode, Error as ZkError, MultiWriteError, MultiWriteResult};

use registry::{LiveClient, Session};

use crate::error::{Error, Result};
use crate::name::recipe_dir;
use crate::node::{new_uuid, sequence_of, PrefixCleanup, PROTECTED};
use crate::retry::{failed, retry, Attempt, Attempted, Attempts, Failed, Patience, Step};

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
        let shared = self.session.core();
        let mut chunk = Chunk::new(self, n);
        // Until the ids are known, a cancelled or failed call deletes what it may have created.
        let mut cleanup = PrefixCleanup::new(shared.clone(), &self.dir, &chunk.prefix);
        let Some((paths, live)) = retry(&shared, Patience::Forever, &mut chunk).await? else {
            return Err(Error::SessionClosed);
        };
        let ids: Option<Vec<u64>> =
            paths.iter().map(|path| sequence_of(path).filter(|s| *s >= 0).map(|s| s as u64)).collect();
        self.delete(&live, paths).await;
        cleanup.disarm();
        let mut ids = ids.ok_or_else(|| Error::zk("create", &self.dir, ZkError::RuntimeInconsistent))?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Creates the chunk's nodes in one multi request, or finds them after a lost answer. Done:
    /// their paths, and the client that can delete them.
    async fn create_chunk(
        &self,
        at: &mut Attempt<'_>,
        chunk: &mut Chunk<'_>,
    ) -> Attempted<(Vec<String>, LiveClient)> {
        if chunk.maybe_created {
            // The answer of an earlier attempt was lost: it may have created our nodes.
            let found = self.find(&at.live, &chunk.prefix).await?;
            if found.len() == chunk.n {
                return Ok(Step::Done((found, at.live.clone())));
            }
            if !found.is_empty() {
                // Not from one atomic multi: cannot happen; drop them and start over.
                lock(&self.leftovers).extend(found);
                self.delete_leftovers().await;
            }
        }
        let mut multi = at.live.client.new_multi_writer();
        let options = at.live.create_options(CreateMode::PersistentSequential);
        for _ in 0..chunk.n {
            multi.add_create(&chunk.base, &[], &options).map_err(|e| Error::zk("create", &chunk.base, e))?;
        }
        chunk.maybe_created = true;
        let error = match multi.commit().await {
            Ok(results) => {
                let paths = results
                    .into_iter()
                    .filter_map(|r| match r {
                        MultiWriteResult::Create { path, .. } => Some(path),
                        _ => None,
                    })
                    .collect();
                return Ok(Step::Done((paths, at.live.clone())));
            }
            Err(MultiWriteError::OperationFailed { source, .. }) => source,
            Err(MultiWriteError::RequestFailed { source }) => source,
        };
        match error {
            ZkError::NoNode if !chunk.made_dir => {
                chunk.maybe_created = false;
                chunk.made_dir = true;
                at.live.ensure_path(&self.dir).await?;
                Ok(Step::Again)
            }
            ZkError::NoNode | ZkError::NoAuth | ZkError::InvalidAcl | ZkError::NodeExists => {
                Err(Error::zk("multi", &chunk.base, error).into())
            }
            other => failed("multi", &self.dir, other),
        }
    }

    /// Our nodes (by `prefix`) in the directory.
    async fn find(&self, live: &LiveClient, prefix: &str) -> Result<Vec<String>, Failed> {
        match live.client.get_children(&self.dir).await {
            Ok((children, _)) => Ok(children
                .into_iter()
                .filter(|c| c.starts_with(prefix))
                .map(|c| registry::join(&self.dir, &c))
                .collect()),
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(Failed::new("get_children", &self.dir, e)),
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

/// One [`IdGenerator::take_chunk`]: its nodes' names and what its attempts found out.
struct Chunk<'a> {
    ids: &'a IdGenerator,
    /// `_c_<uuid>-`, ours alone.
    prefix: String,
    /// `<dir>/_c_<uuid>-id-`
    base: String,
    /// How many ids.
    n: usize,
    made_dir: bool,
    /// A multi request was sent whose outcome is unknown (its answer was lost).
    maybe_created: bool,
}

impl Chunk<'_> {
    fn new(ids: &IdGenerator, n: usize) -> Chunk<'_> {
        let prefix = format!("{PROTECTED}{}-", new_uuid());
        let base = registry::join(&ids.dir, &format!("{prefix}{MARKER}"));
        Chunk { ids, prefix, base, n, made_dir: false, maybe_created: false }
    }
}

impl Attempts for Chunk<'_> {
    type Output = (Vec<String>, LiveClient);

    async fn attempt(&mut self, at: &mut Attempt<'_>) -> Attempted<Self::Output> {
        let ids = self.ids;
        ids.create_chunk(at, self).await
    }
}

/// Locks a mutex, recovering from poisoning (every critical section here leaves the data valid).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
