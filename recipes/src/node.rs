//! Protected sequential nodes (Curator's `_c_<uuid>-` prefix), shared by the recipes.
//!
//! A create can succeed on the server while its answer is lost with the connection. Curator's
//! protection names every sequential node `_c_<uuid>-<marker><seq>`: after a `ConnectionLoss` the
//! creator lists the parent and finds its node by the uuid. [`OwnNode`] does that, re-creates the
//! node when the ZooKeeper session it lived in is gone (only while its owner is still *waiting*;
//! see [the crate's rules](crate)), and deletes whatever it created when it is dropped.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{CreateMode, Error as ZkError};

use registry::{LiveClient, SessionCore};

use crate::error::{Error, Result};
use crate::retry::{failed, retry, Attempt, Attempted, Attempts, Failed, Patience, Step};

/// Curator's protection prefix.
pub(crate) const PROTECTED: &str = "_c_";

/// How long a best-effort cleanup keeps trying through connection trouble.
pub(crate) const CLEANUP_FOR: Duration = Duration::from_secs(10);

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

/// Deletes every child of `dir` whose name starts with `prefix`, waiting a bounded time for a
/// connection. Nodes are ours by their uuid, whichever of our ZooKeeper sessions made them.
pub(crate) async fn delete_prefixed(shared: &SessionCore, dir: &str, prefix: &str) -> Result<()> {
    clean_up(shared, Doomed::Prefixed { dir, prefix }).await
}

/// Deletes `path` unless a foreign session owns it (a node of one of our dead sessions goes too),
/// waiting a bounded time for a connection.
pub(crate) async fn delete_ours(shared: &SessionCore, path: &str) -> Result<()> {
    clean_up(shared, Doomed::Ours { shared, path }).await
}

/// Nodes to delete.
enum Doomed<'a> {
    /// The children of `dir` whose name starts with `prefix`.
    Prefixed { dir: &'a str, prefix: &'a str },
    /// `path`, unless a foreign session owns it.
    Ours { shared: &'a SessionCore, path: &'a str },
}

/// Deletes `doomed`, retrying across disconnections and expiry for up to [`CLEANUP_FOR`].
/// Nothing is left to do once the session is closed: the ephemerals went with it.
async fn clean_up(shared: &SessionCore, mut doomed: Doomed<'_>) -> Result<()> {
    let what = match doomed {
        Doomed::Prefixed { dir, prefix } => format!("{dir}/{prefix}*"),
        Doomed::Ours { path, .. } => path.to_owned(),
    };
    match retry(shared, Patience::Until(Instant::now() + CLEANUP_FOR), &mut doomed).await {
        Ok(Some(())) | Err(Error::SessionClosed) => Ok(()),
        Ok(None) => Err(Error::Timeout { what: format!("deleting {what}"), after: CLEANUP_FOR }),
        Err(e) => Err(e),
    }
}

impl Attempts for Doomed<'_> {
    type Output = ();

    async fn attempt(&mut self, at: &mut Attempt<'_>) -> Attempted<()> {
        match *self {
            Doomed::Prefixed { dir, prefix } => delete_children(&at.live, dir, prefix).await,
            Doomed::Ours { shared, path } => delete_unless_foreign(shared, &at.live, path).await,
        }
    }
}

async fn delete_children(live: &LiveClient, dir: &str, prefix: &str) -> Attempted<()> {
    let children = match live.client.get_children(dir).await {
        Ok((children, _)) => children,
        Err(ZkError::NoNode) => return Ok(Step::Done(())),
        Err(e) => return failed("get_children", dir, e),
    };
    for child in children.iter().filter(|c| c.starts_with(prefix)) {
        let path = registry::join(dir, child);
        match live.client.delete(&path, None).await {
            Ok(()) | Err(ZkError::NoNode) => {}
            Err(e) => return failed("delete", path, e),
        }
    }
    Ok(Step::Done(()))
}

async fn delete_unless_foreign(shared: &SessionCore, live: &LiveClient, path: &str) -> Attempted<()> {
    let stat = match live.client.check_stat(path).await {
        Ok(Some(stat)) => stat,
        Ok(None) => return Ok(Step::Done(())),
        Err(e) => return failed("check_stat", path, e),
    };
    let owner = stat.ephemeral_owner;
    if owner != 0 && owner != live.client.session_id().0 && !shared.was_ours(owner) {
        return Ok(Step::Done(()));
    }
    match live.client.delete(path, Some(stat.version)).await {
        Ok(()) | Err(ZkError::NoNode) => Ok(Step::Done(())),
        Err(e) => failed("delete", path, e),
    }
}

/// Deletes, when dropped armed (a cancelled or failed call), every child of `dir` whose name
/// starts with `prefix`, in the background.
pub(crate) struct PrefixCleanup {
    shared: Arc<SessionCore>,
    dir: String,
    prefix: String,
    armed: bool,
}

impl PrefixCleanup {
    pub(crate) fn new(shared: Arc<SessionCore>, dir: &str, prefix: &str) -> Self {
        PrefixCleanup { shared, dir: dir.to_owned(), prefix: prefix.to_owned(), armed: true }
    }

    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// Deletes the nodes now, waiting a bounded time for a connection; nothing is left to do
    /// on drop.
    async fn delete_now(&mut self) -> Result<()> {
        self.armed = false;
        delete_prefixed(&self.shared, &self.dir, &self.prefix).await
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
    /// The zxid of the node's creation: unique, and greater for every node created later.
    pub(crate) czxid: i64,
}

/// Our protected ephemeral sequential node in a recipe directory.
///
/// Dropped without [`OwnNode::disarm`], it deletes (in the background) every node carrying its
/// uuid, including one whose create answer was lost.
pub(crate) struct OwnNode {
    /// Deletes the nodes with our uuid (`_c_<uuid>-`) when dropped armed.
    cleanup: PrefixCleanup,
    marker: String,
    data: Vec<u8>,
    created: Option<Created>,
    /// A create was sent whose outcome is unknown (its answer was lost).
    maybe_created: bool,
}

impl OwnNode {
    pub(crate) fn new(shared: Arc<SessionCore>, dir: &str, marker: &str, data: &[u8]) -> Self {
        OwnNode {
            cleanup: PrefixCleanup::new(shared, dir, &format!("{PROTECTED}{}-", new_uuid())),
            marker: marker.to_owned(),
            data: data.to_vec(),
            created: None,
            maybe_created: false,
        }
    }

    /// The session the node belongs to.
    pub(crate) fn shared(&self) -> &Arc<SessionCore> {
        &self.cleanup.shared
    }

    /// The recipe directory the node is in.
    pub(crate) fn dir(&self) -> &str {
        &self.cleanup.dir
    }

    fn prefix(&self) -> &str {
        &self.cleanup.prefix
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
    pub(crate) async fn ensure(&mut self, live: &LiveClient) -> std::result::Result<(), Failed> {
        if matches!(&self.created, Some(c) if c.generation == live.generation) {
            return Ok(());
        }
        if let Some(old) = self.created.take() {
            // Left by one of our dead sessions (the server may not have expired it yet): it
            // would stand in front of the new one.
            self.maybe_created = true;
            tracing::debug!(path = %old.path, "replacing a recipe node of an expired session");
        }
        if self.maybe_created {
            self.adopt_or_delete(live).await?;
            if self.created.is_some() {
                return Ok(());
            }
        }
        self.create(live).await
    }

    /// Looks for nodes with our uuid: adopts the one of `live`'s session, deletes the others.
    async fn adopt_or_delete(&mut self, live: &LiveClient) -> std::result::Result<(), Failed> {
        let ours = live.client.session_id().0;
        let (dir, prefix) = (self.cleanup.dir.clone(), self.cleanup.prefix.clone());
        let children = match live.client.get_children(&dir).await {
            Ok((children, _)) => children,
            Err(ZkError::NoNode) => Vec::new(),
            Err(e) => return Err(Failed::new("get_children", dir, e)),
        };
        for name in children.into_iter().filter(|c| c.starts_with(&prefix)) {
            let path = registry::join(&dir, &name);
            let (owner, czxid) = match live.client.check_stat(&path).await {
                Ok(Some(stat)) => (stat.ephemeral_owner, stat.czxid),
                Ok(None) => continue,
                Err(e) => return Err(Failed::new("check_stat", path, e)),
            };
            if owner == ours && self.created.is_none() {
                tracing::debug!(%path, "found our node after a lost create answer");
                self.created =
                    Some(Created { name, path, generation: live.generation, session_id: ours, czxid });
            } else {
                match live.client.delete(&path, None).await {
                    Ok(()) | Err(ZkError::NoNode) => {}
                    Err(e) => return Err(Failed::new("delete", path, e)),
                }
            }
        }
        self.maybe_created = false;
        Ok(())
    }

    /// Creates the node (and the recipe directory, when it is missing).
    async fn create(&mut self, live: &LiveClient) -> std::result::Result<(), Failed> {
        let name_base = format!("{}{}", self.prefix(), self.marker);
        let base = registry::join(self.dir(), &name_base);
        let options = live.create_options(CreateMode::EphemeralSequential);
        let mut made_dir = false;
        loop {
            // Until the answer comes, the node may exist (and a drop must look for it).
            self.maybe_created = true;
            match live.client.create(&base, &self.data, &options).await {
                Ok((stat, seq)) => {
                    self.maybe_created = false;
                    let name = format!("{name_base}{seq}");
                    let path = registry::join(self.dir(), &name);
                    let session_id = live.client.session_id().0;
                    self.created = Some(Created {
                        name,
                        path,
                        generation: live.generation,
                        session_id,
                        czxid: stat.czxid,
                    });
                    return Ok(());
                }
                Err(ZkError::NoNode) if !made_dir => {
                    self.maybe_created = false;
                    made_dir = true;
                    if let Err(e) = live.ensure_path(self.dir()).await {
                        let source = e.zookeeper_error().cloned().unwrap_or(ZkError::NoNode);
                        return Err(Failed::new("create", self.dir(), source));
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
                    return Err(Failed::new("create", base, e));
                }
            }
        }
    }

    /// Keeps the node: no cleanup on drop. Returns it, if created.
    pub(crate) fn disarm(mut self) -> Option<Created> {
        self.cleanup.disarm();
        self.created.take()
    }

    /// Deletes the node now (and any node with our uuid), waiting a bounded time for a connection.
    pub(crate) async fn delete(mut self) -> Result<()> {
        self.cleanup.delete_now().await
    }
}

impl std::fmt::Debug for OwnNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnNode")
            .field("dir", &self.dir())
            .field("created", &self.created.as_ref().map(|c| &c.path))
            .finish()
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        if !self.may_exist() {
            self.cleanup.disarm();
        }
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
}

#[cfg(test)]
mod zk_tests {
    use super::*;

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_is_found_by_its_uuid() {
        let zk = local_zk::LocalZooKeeper::start().await.expect("start ZooKeeper");
        let session = registry::Session::connect(&zk.connect_string()).await.expect("connect");
        let live = session.core().live_now().expect("live");
        let mut node = OwnNode::new(session.core(), "/locks/x", "lock-", b"");
        // What a create whose answer was lost leaves behind: our node, unknown to us.
        live.ensure_path("/locks/x").await.expect("dir");
        let base = format!("/locks/x/{}lock-", node.prefix());
        let options = live.create_options(CreateMode::EphemeralSequential);
        let (_, seq) = live.client.create(&base, b"", &options).await.expect("create");
        node.maybe_created = true;
        node.ensure(&live).await.expect("ensure");
        let created = node.created().expect("created").clone();
        assert_eq!(created.name, format!("{}lock-{seq}", node.prefix()), "adopted, not created again");
        let (children, _) = live.client.get_children("/locks/x").await.expect("list");
        assert_eq!(children, std::slice::from_ref(&created.name));
        node.delete().await.expect("delete");
        let (children, _) = live.client.get_children("/locks/x").await.expect("list");
        assert!(children.is_empty());
        session.close().await;
    }
}
