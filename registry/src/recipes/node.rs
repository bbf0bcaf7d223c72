//! Protected sequential nodes (Curator's `_c_<uuid>-` prefix), shared by the recipes.
//!
//! A create can succeed on the server while its answer is lost with the connection. Curator's
//! protection names every sequential node `_c_<uuid>-<marker><seq>`: after a `ConnectionLoss` the
//! creator lists the parent and finds its node by the uuid. [`OwnNode`] does that, re-creates the
//! node when the ZooKeeper session it lived in is gone (only while its owner is still *waiting*;
//! see [`crate::recipes`]), and deletes whatever it created when it is dropped.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{CreateMode, Error as ZkError, EventType, OneshotWatcher};

use crate::error::{Error, Result};
use crate::session::{Live, Shared};

/// Curator's protection prefix.
pub(crate) const PROTECTED: &str = "_c_";

/// How long a best-effort cleanup keeps trying through connection trouble.
pub(crate) const CLEANUP_FOR: Duration = Duration::from_secs(10);

/// Checks a recipe name (one path segment) and returns the recipe's directory, `{root}/{name}`.
pub(crate) fn recipe_dir(root: &str, name: &str) -> Result<String> {
    crate::url::validate_service_name(name)?;
    Ok(crate::path::join(root, name))
}

/// A fresh random (version 4) UUID, lower-case hyphenated like Java's `UUID.toString()`.
///
/// Drawn from std's randomly keyed hasher (seeded from the OS once per process), a process-wide
/// counter and the clock: unique across processes without another dependency.
pub(crate) fn new_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let half = |salt: u64| {
        std::collections::hash_map::RandomState::new().hash_one((salt, n, now, std::process::id()))
    };
    let hi = (half(0x5eed_0001) & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (half(0x5eed_0002) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// The sequence number ZooKeeper appended to `name` (its trailing ten or more digits).
pub(crate) fn sequence_of(name: &str) -> Option<i64> {
    let digits = name.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits < 10 {
        return None;
    }
    name[name.len() - digits..].parse().ok()
}

/// A child taking part in a recipe: its name and sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Child {
    pub(crate) name: String,
    pub(crate) seq: i64,
}

impl Child {
    /// Whether the part of the name before the sequence number ends with `marker`.
    pub(crate) fn has_marker(&self, marker: &str) -> bool {
        let digits = self.name.bytes().rev().take_while(u8::is_ascii_digit).count();
        self.name[..self.name.len() - digits].ends_with(marker)
    }
}

/// The children whose name ends with one of `markers` followed by a sequence number, in sequence
/// order (Curator sorts by the part after the marker, which is the same thing).
pub(crate) fn sorted_children(names: Vec<String>, markers: &[&str]) -> Vec<Child> {
    let mut children: Vec<Child> = names
        .into_iter()
        .filter_map(|name| sequence_of(&name).map(|seq| Child { name, seq }))
        .filter(|c| markers.iter().any(|m| c.has_marker(m)))
        .collect();
    children.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.name.cmp(&b.name)));
    children
}

/// Waits until `watcher` fires, `deadline` passes (`Ok(false)`) or the session closes. After a
/// session event (the ZooKeeper session ended) `live` moves on to the next generation, so the
/// caller's next look is on the new session.
pub(crate) async fn await_change(
    shared: &Shared,
    live: &mut Live,
    watcher: OneshotWatcher,
    deadline: Option<Instant>,
) -> Result<bool> {
    let event = tokio::select! {
        event = until(deadline, crate::watch::event_type(watcher)) => event,
        _ = shared.closed() => return Err(Error::SessionClosed),
    };
    match event {
        None => Ok(false),
        Some(EventType::Session) => match until(deadline, shared.live_after(live.generation)).await {
            None => Ok(false),
            Some(next) => {
                *live = next?;
                Ok(true)
            }
        },
        Some(_) => Ok(true),
    }
}

/// Waits for `f`, but not past `deadline` (`None`: no deadline).
pub(crate) async fn until<F: std::future::Future>(deadline: Option<Instant>, f: F) -> Option<F::Output> {
    match deadline {
        None => Some(f.await),
        Some(d) => tokio::time::timeout_at(d, f).await.ok(),
    }
}

/// A live client, waiting (up to `deadline`) for one while ZooKeeper is unreachable.
/// `Ok(None)`: the deadline passed.
pub(crate) async fn live_by(shared: &Shared, deadline: Option<Instant>) -> Result<Option<Live>> {
    match shared.live_now() {
        Ok(live) => Ok(Some(live)),
        Err(Error::SessionClosed) => Err(Error::SessionClosed),
        Err(_) => until(deadline, shared.wait_usable(0)).await.transpose(),
    }
}

/// After a failed request on `live`: waits for a client worth retrying with, up to `deadline`.
/// `Ok(None)`: the deadline passed; `Err`: the error cannot be waited out.
pub(crate) async fn recover(
    shared: &Shared,
    live: &Live,
    backoff: &mut crate::backoff::Backoff,
    deadline: Option<Instant>,
    op: &'static str,
    path: &str,
    error: ZkError,
) -> Result<Option<Live>> {
    let wait = async {
        match error {
            ZkError::SessionExpired | ZkError::ClientClosed => shared.live_after(live.generation).await,
            ZkError::ConnectionLoss
            | ZkError::Timeout
            | ZkError::Throttled
            | ZkError::SessionMoved
            | ZkError::Custom(_) => {
                // The supervisor may not have seen the disconnection yet: pause before asking.
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = shared.closed() => return Err(Error::SessionClosed),
                }
                shared.wait_usable(live.generation).await
            }
            other => Err(Error::zk(op, path, other)),
        }
    };
    until(deadline, wait).await.transpose()
}

/// A failed request of a clean-up attempt: the operation, its path and the error.
type Failed = (&'static str, String, ZkError);

/// Runs `attempt` until it succeeds, on a live client, across disconnections and expiry, for up
/// to [`CLEANUP_FOR`] (`what` names the nodes, for the time-out error). Nothing is left to do
/// once the session is closed: the ephemerals went with it.
async fn clean_up<F, Fut>(shared: &Shared, what: &str, mut attempt: F) -> Result<()>
where
    F: FnMut(Live) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), Failed>>,
{
    let deadline = Instant::now() + CLEANUP_FOR;
    let mut backoff = shared.new_backoff();
    let run = async {
        loop {
            let Some(live) = live_by(shared, Some(deadline)).await? else {
                return Err(Error::Timeout {
                    what: format!("a connection to delete {what}"),
                    after: CLEANUP_FOR,
                });
            };
            match attempt(live.clone()).await {
                Ok(()) => return Ok(()),
                Err((op, path, e)) => {
                    if recover(shared, &live, &mut backoff, Some(deadline), op, &path, e).await?.is_none() {
                        return Err(Error::Timeout { what: format!("deleting {path}"), after: CLEANUP_FOR });
                    }
                }
            }
        }
    };
    match run.await {
        Err(Error::SessionClosed) => Ok(()),
        other => other,
    }
}

/// Deletes every child of `dir` whose name starts with `prefix`, waiting a bounded time for a
/// connection. Nodes are ours by their uuid, whichever of our ZooKeeper sessions made them.
pub(crate) async fn delete_prefixed(shared: &Shared, dir: &str, prefix: &str) -> Result<()> {
    clean_up(shared, &format!("{dir}/{prefix}*"), |live| async move {
        let children = match live.client.get_children(dir).await {
            Ok((children, _)) => children,
            Err(ZkError::NoNode) => return Ok(()),
            Err(e) => return Err(("get_children", dir.to_owned(), e)),
        };
        for child in children.iter().filter(|c| c.starts_with(prefix)) {
            let path = crate::path::join(dir, child);
            match live.client.delete(&path, None).await {
                Ok(()) | Err(ZkError::NoNode) => {}
                Err(e) => return Err(("delete", path, e)),
            }
        }
        Ok(())
    })
    .await
}

/// Deletes `path` unless a foreign session owns it (a node of one of our dead sessions goes too),
/// waiting a bounded time for a connection.
pub(crate) async fn delete_ours(shared: &Shared, path: &str) -> Result<()> {
    clean_up(shared, path, |live| async move {
        let stat = match live.client.check_stat(path).await {
            Ok(Some(stat)) => stat,
            Ok(None) => return Ok(()),
            Err(e) => return Err(("check_stat", path.to_owned(), e)),
        };
        let owner = stat.ephemeral_owner;
        if owner != 0 && owner != live.client.session_id().0 && !shared.was_ours(owner) {
            return Ok(());
        }
        match live.client.delete(path, Some(stat.version)).await {
            Ok(()) | Err(ZkError::NoNode) => Ok(()),
            Err(e) => Err(("delete", path.to_owned(), e)),
        }
    })
    .await
}

/// Deletes, when dropped armed (a cancelled or failed call), every child of `dir` whose name
/// starts with `prefix`, in the background.
pub(crate) struct PrefixCleanup {
    shared: Arc<Shared>,
    dir: String,
    prefix: String,
    armed: bool,
}

impl PrefixCleanup {
    pub(crate) fn new(shared: Arc<Shared>, dir: &str, prefix: &str) -> Self {
        PrefixCleanup { shared, dir: dir.to_owned(), prefix: prefix.to_owned(), armed: true }
    }

    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for PrefixCleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let shared = self.shared.clone();
        let dir = std::mem::take(&mut self.dir);
        let prefix = std::mem::take(&mut self.prefix);
        handle.spawn(async move {
            if let Err(e) = delete_prefixed(&shared, &dir, &prefix).await {
                tracing::warn!(%dir, %prefix, error = %e, "could not delete abandoned recipe nodes");
            }
        });
    }
}

/// What [`OwnNode`] created: the node's name and the ZooKeeper session it lives in.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) generation: u64,
    pub(crate) session_id: i64,
}

/// Our protected ephemeral sequential node in a recipe directory.
///
/// Dropped without [`OwnNode::disarm`], it deletes (in the background) every node carrying its
/// uuid, including one whose create answer was lost.
pub(crate) struct OwnNode {
    pub(crate) shared: Arc<Shared>,
    pub(crate) dir: String,
    /// `_c_<uuid>-`
    prefix: String,
    marker: String,
    data: Vec<u8>,
    created: Option<Created>,
    /// A create was sent whose outcome is unknown (its answer was lost).
    maybe_created: bool,
    armed: bool,
}

impl OwnNode {
    pub(crate) fn new(shared: Arc<Shared>, dir: &str, marker: &str, data: &[u8]) -> Self {
        OwnNode {
            shared,
            dir: dir.to_owned(),
            prefix: format!("{PROTECTED}{}-", new_uuid()),
            marker: marker.to_owned(),
            data: data.to_vec(),
            created: None,
            maybe_created: false,
            armed: true,
        }
    }

    /// The node, if it has been created.
    pub(crate) fn created(&self) -> Option<&Created> {
        self.created.as_ref()
    }

    /// Whether the node may exist (created, or a create whose answer was lost).
    pub(crate) fn may_exist(&self) -> bool {
        self.created.is_some() || self.maybe_created
    }

    /// Forgets the node (it is gone: deleted, or its session expired), so that the next
    /// [`OwnNode::ensure`] creates a new one.
    pub(crate) fn forget(&mut self) {
        self.created = None;
    }

    /// Makes sure the node exists under `live`'s ZooKeeper session: adopts the node of a create
    /// whose answer was lost, deletes ours left by a dead session, creates it otherwise.
    /// Errors are the raw client error (with the operation) for the caller's [`recover`].
    pub(crate) async fn ensure(
        &mut self,
        live: &Live,
    ) -> std::result::Result<(), (&'static str, String, ZkError)> {
        if matches!(&self.created, Some(c) if c.generation == live.generation) {
            return Ok(());
        }
        let ours = live.client.session_id().0;
        if let Some(old) = self.created.take() {
            // Left by one of our dead sessions (the server may not have expired it yet): it
            // would stand in front of the new one.
            self.maybe_created = true;
            tracing::debug!(path = %old.path, "replacing a recipe node of an expired session");
        }
        if self.maybe_created {
            let children = match live.client.get_children(&self.dir).await {
                Ok((children, _)) => children,
                Err(ZkError::NoNode) => Vec::new(),
                Err(e) => return Err(("get_children", self.dir.clone(), e)),
            };
            for name in children.into_iter().filter(|c| c.starts_with(&self.prefix)) {
                let path = crate::path::join(&self.dir, &name);
                let owner = match live.client.check_stat(&path).await {
                    Ok(Some(stat)) => stat.ephemeral_owner,
                    Ok(None) => continue,
                    Err(e) => return Err(("check_stat", path, e)),
                };
                if owner == ours && self.created.is_none() {
                    tracing::debug!(%path, "found our node after a lost create answer");
                    self.created =
                        Some(Created { name, path, generation: live.generation, session_id: ours });
                } else {
                    match live.client.delete(&path, None).await {
                        Ok(()) | Err(ZkError::NoNode) => {}
                        Err(e) => return Err(("delete", path, e)),
                    }
                }
            }
            self.maybe_created = false;
            if self.created.is_some() {
                return Ok(());
            }
        }
        let base = crate::path::join(&self.dir, &format!("{}{}", self.prefix, self.marker));
        let mut made_dir = false;
        loop {
            // Until the answer comes, the node may exist (and a drop must look for it).
            self.maybe_created = true;
            match live
                .client
                .create(&base, &self.data, &live.create_options(CreateMode::EphemeralSequential))
                .await
            {
                Ok((_, seq)) => {
                    self.maybe_created = false;
                    let name = format!("{}{}{seq}", self.prefix, self.marker);
                    let path = crate::path::join(&self.dir, &name);
                    self.created =
                        Some(Created { name, path, generation: live.generation, session_id: ours });
                    return Ok(());
                }
                Err(ZkError::NoNode) if !made_dir => {
                    self.maybe_created = false;
                    made_dir = true;
                    if let Err(e) = crate::path::ensure_path(&live.client, &self.dir, live.acls()).await {
                        let source = e.zookeeper_error().cloned().unwrap_or(ZkError::NoNode);
                        return Err(("create", self.dir.clone(), source));
                    }
                }
                Err(e) => {
                    // Only a lost answer leaves the outcome unknown.
                    self.maybe_created = !matches!(
                        e,
                        ZkError::NoNode
                            | ZkError::NodeExists
                            | ZkError::NoAuth
                            | ZkError::InvalidAcl
                            | ZkError::BadArguments(_)
                    );
                    return Err(("create", base, e));
                }
            }
        }
    }

    /// Keeps the node: no cleanup on drop. Returns it, if created.
    pub(crate) fn disarm(mut self) -> Option<Created> {
        self.armed = false;
        self.created.take()
    }

    /// Deletes the node now (and any node with our uuid), waiting a bounded time for a connection.
    pub(crate) async fn delete(mut self) -> Result<()> {
        self.armed = false;
        delete_prefixed(&self.shared, &self.dir, &self.prefix).await
    }
}

impl std::fmt::Debug for OwnNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnNode")
            .field("dir", &self.dir)
            .field("created", &self.created.as_ref().map(|c| &c.path))
            .finish()
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        if !self.armed || (self.created.is_none() && !self.maybe_created) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let shared = self.shared.clone();
        let dir = std::mem::take(&mut self.dir);
        let prefix = std::mem::take(&mut self.prefix);
        handle.spawn(async move {
            if let Err(e) = delete_prefixed(&shared, &dir, &prefix).await {
                tracing::warn!(%dir, %prefix, error = %e, "could not delete an abandoned recipe node");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sequences_and_sorts() {
        assert_eq!(sequence_of("_c_x-lock-0000000012"), Some(12));
        assert_eq!(sequence_of("qn-0000000000"), Some(0));
        assert_eq!(sequence_of("lock-0000000000000000012"), Some(12));
        assert_eq!(sequence_of("lock-12"), None);
        assert_eq!(sequence_of("ready"), None);
        let names =
            ["_c_b-lock-0000000003", "ready", "_c_a-lock-0000000001", "lock-0000000002", "x-0000000000"];
        let sorted = sorted_children(names.iter().map(|s| s.to_string()).collect(), &["lock-"]);
        let seqs: Vec<i64> = sorted.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        let rw = ["_c_a-__READ__0000000001", "_c_b-__WRIT__0000000002", "_c_c-lock-0000000003"];
        let sorted = sorted_children(rw.iter().map(|s| s.to_string()).collect(), &["__READ__", "__WRIT__"]);
        assert_eq!(sorted.len(), 2);
        assert!(sorted[1].has_marker("__WRIT__") && !sorted[1].has_marker("__READ__"));
    }

    #[test]
    fn uuids_look_like_uuids_and_differ() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4", "version 4: {a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn recipe_names_are_checked() {
        assert_eq!(recipe_dir("/locks", "jobs.v1").ok().as_deref(), Some("/locks/jobs.v1"));
        for bad in ["", "a/b", "..", "a b"] {
            assert!(recipe_dir("/locks", bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod zk_tests {
    use super::*;

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_is_found_by_its_uuid() {
        let zk = local_zk::LocalZooKeeper::start().await.expect("start ZooKeeper");
        let session = crate::Session::connect(&zk.connect_string()).await.expect("connect");
        let live = session.shared.live_now().expect("live");
        let mut node = OwnNode::new(session.shared.clone(), "/locks/x", "lock-", b"");
        // What a create whose answer was lost leaves behind: our node, unknown to us.
        crate::path::ensure_path(&live.client, "/locks/x", live.acls()).await.expect("dir");
        let base = format!("/locks/x/{}lock-", node.prefix);
        let options = live.create_options(CreateMode::EphemeralSequential);
        let (_, seq) = live.client.create(&base, b"", &options).await.expect("create");
        node.maybe_created = true;
        node.ensure(&live).await.expect("ensure");
        let created = node.created().expect("created").clone();
        assert_eq!(created.name, format!("{}lock-{seq}", node.prefix), "adopted, not created again");
        let (children, _) = live.client.get_children("/locks/x").await.expect("list");
        assert_eq!(children, std::slice::from_ref(&created.name));
        node.delete().await.expect("delete");
        let (children, _) = live.client.get_children("/locks/x").await.expect("list");
        assert!(children.is_empty());
        session.close().await;
    }
}
