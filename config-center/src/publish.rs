//! Publishing: a size check, then a compare-and-set write that archives the new document in the
//! same ZooKeeper transaction.
//!
//! The history entry `history/v-<version>` holds the document of that version and is created in
//! the transaction that writes the version, so every entry is right by construction, whoever
//! wrote it and whatever happened to the node before (even after a delete and re-create). A
//! publish is then
//! - **one round trip** when this process wrote the current version itself (it remembers that
//!   version and the entries it left): one `multi` with `set_data(doc, version)`,
//!   `create(history/v-<version + 1>, doc)` and the `delete` of the oldest entries beyond the
//!   limit. If anything moved meanwhile (another writer, a pruned entry, a deleted node), the
//!   transaction fails as a whole and the publish goes the long way;
//! - **two round trips** otherwise: a snapshot read of the document and of the history's
//!   children (one `multi` read), then one `multi` that also archives the document being
//!   replaced when it has no entry yet (written by a client that keeps no history), creates
//!   the `history` node when missing and replaces a stale entry named after the new version.
//!
//! Either all of a transaction happens or none of it. Without history (limit 0) there is nothing
//! to read first: a publish is one `set_data` (or `create`). When the write loses a race, the
//! read is done again: with [`Expect::Version`] or [`Expect::Absent`] it then reports the
//! conflict with the version found; with [`Expect::Any`] it tries again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use std::sync::{Mutex, PoisonError};

use zookeeper_client::{
    Acls, Client, CreateMode, Error as ZkError, MultiReadResult, MultiWriteError, MultiWriteResult,
    MultiWriter, Stat,
};

use crate::center::Inner;
use crate::error::{Error, Result};
use crate::history;
use crate::meta::{self, PublishMeta};
use crate::plan::Plan;

/// How many read-then-write rounds a publish makes before giving up with
/// [`Error::Contention`].
const MAX_ATTEMPTS: u32 = 16;

/// What a compare-and-set write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    /// The node must not exist yet: the write creates it (at data version 0).
    Absent,
    /// The node must exist at this ZooKeeper data version.
    Version(i32),
    /// Whatever is there: the write creates the node or replaces its document. Races with other
    /// writers are retried, so the history still holds exactly the document replaced.
    Any,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Absent => f.write_str("no node"),
            Expect::Version(v) => write!(f, "version {v}"),
            Expect::Any => f.write_str("any version"),
        }
    }
}

/// A successful publish.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The ZooKeeper path of the document.
    pub path: String,
    /// Its new ZooKeeper data version (0 when the write created the node).
    pub version: i32,
    /// The version it replaced (now in the history), `None` when the write created the node.
    pub previous: Option<i32>,
}

/// What this process wrote last at a path: the version and the history entries there were
/// after the write (ascending). Enough to write the next version without reading first; the
/// transaction's checks prove it still current.
#[derive(Debug, Clone)]
struct Written {
    version: i32,
    entries: Vec<i32>,
}

/// The versions this process wrote last, by path (history kept only).
#[derive(Debug, Default)]
pub(crate) struct Memory(Mutex<HashMap<String, Written>>);

impl Memory {
    /// Forgets what this process wrote at `path` (it was deleted).
    pub(crate) fn forget(&self, path: &str) {
        self.set(path, None);
    }

    fn get(&self, path: &str) -> Option<Written> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(path).cloned()
    }

    fn set(&self, path: &str, written: Option<Written>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match written {
            Some(written) => map.insert(path.to_owned(), written),
            None => map.remove(path),
        };
    }
}

/// Refuses a document over the size limit.
/// (A document must also fit in one request with its history entry's path and headers.)
pub(crate) fn check_size(inner: &Inner, path: &str, size: usize) -> Result<()> {
    let entry = history::entry_path(path, 0).len();
    let fits_request = inner.max_request_size.saturating_sub(2 * entry + 16 + 2 * PER_OP_OVERHEAD);
    let limit = inner.max_document_size.min(fits_request);
    if size > limit {
        return Err(Error::TooLarge { path: path.to_owned(), size, limit });
    }
    Ok(())
}

/// Writes `doc` at `path` if `expected` holds, archiving it in the history with `meta` and the
/// session's identity (see `meta.rs`; without history, neither is recorded anywhere).
pub(crate) async fn write(
    inner: &Inner,
    path: &str,
    doc: &str,
    expected: Expect,
    meta: Option<&PublishMeta>,
) -> Result<Published> {
    if let Some(meta) = meta {
        meta.check(path)?;
    }
    let recorded = match inner.history_limit {
        0 => None,
        // Who wrote it, as the server sees this session: never what the caller says.
        _ => {
            let identity = inner.identity.get_or_init(|| inner.session.identity()).await;
            Some(meta.cloned().unwrap_or_default().with_identity(identity))
        }
    };
    let entry = meta::entry_bytes(doc, recorded.as_ref());
    check_size(inner, path, entry.len())?;
    if inner.history_limit == 0 {
        let published = write_without_history(inner, path, doc, expected).await?;
        tracing::info!(%path, version = published.version, "config published");
        return Ok(published);
    }
    if let Some(published) = write_remembered(inner, path, doc, &entry, expected).await? {
        tracing::info!(%path, version = published.version, "config published");
        return Ok(published);
    }
    let history = history::dir(path);
    for _ in 0..MAX_ATTEMPTS {
        let client = inner.client(path)?;
        let (current, entries) = read_state(&client, path, &history).await?;
        let attempt = match current {
            None => {
                if let Expect::Version(_) = expected {
                    return Err(conflict(path, expected, None));
                }
                create(inner, &client, path, doc, &entry).await?
            }
            Some((old, stat)) => {
                let read = Read { old: &old, stat, entries: entries.as_deref() };
                replace_read(inner, &client, (path, &history), (doc, &entry), expected, read).await?
            }
        };
        match attempt {
            Some(published) => {
                tracing::info!(%path, version = published.version, "config published");
                return Ok(published);
            }
            None => tracing::debug!(%path, "publish raced with another writer; reading again"),
        }
    }
    Err(Error::Contention { path: path.to_owned(), attempts: MAX_ATTEMPTS })
}

/// What the snapshot read found: the document, its stat and the history's children (`None`: no
/// history node).
struct Read<'a> {
    old: &'a [u8],
    stat: Stat,
    entries: Option<&'a [String]>,
}

/// Replaces the document `read` found by `doc` (its history entry: `entry`) if `expected`
/// holds. `None`: raced, read again.
async fn replace_read(
    inner: &Inner,
    client: &Client,
    (path, history): (&str, &str),
    (doc, entry): (&str, &[u8]),
    expected: Expect,
    read: Read<'_>,
) -> Result<Option<Published>> {
    let stat = read.stat;
    match expected {
        Expect::Absent => return Err(conflict(path, expected, Some(stat.version))),
        Expect::Version(v) if v != stat.version => return Err(conflict(path, expected, Some(stat.version))),
        _ => {}
    }
    let Some(next) = stat.version.checked_add(1) else {
        return Err(Error::zk("set_data", path, ZkError::BadVersion));
    };
    let versions = read.entries.into_iter().flatten().filter_map(|n| history::parse_entry(n));
    let plan = Plan::new(versions, read.entries.is_none(), stat.version, next, inner.history_limit);
    let old = if plan.archive_current {
        archive_of(inner, path, stat.version, read.old)
    } else {
        Cow::Borrowed(read.old)
    };
    let replace = Replace { acl: inner.session.acl(), path, history, doc, entry, old: &old, plan };
    replace.commit(client, inner).await
}

/// The one-round-trip publish: when this process wrote the current version, writes the next one
/// with the entries it knows of. `None`: nothing remembered, or something moved (the
/// transaction failed as a whole); the caller reads and tries again.
async fn write_remembered(
    inner: &Inner,
    path: &str,
    doc: &str,
    entry: &[u8],
    expected: Expect,
) -> Result<Option<Published>> {
    let Some(written) = inner.written.get(path) else { return Ok(None) };
    match expected {
        Expect::Absent => return Ok(None),
        Expect::Version(v) if v != written.version => return Ok(None),
        _ => {}
    }
    let Some(next) = written.version.checked_add(1) else { return Ok(None) };
    let plan = Plan::new(written.entries.iter().copied(), false, written.version, next, inner.history_limit);
    let history = history::dir(path);
    let replace = Replace { acl: inner.session.acl(), path, history: &history, doc, entry, old: &[], plan };
    if replace.request_size() > inner.max_request_size {
        return Ok(None);
    }
    let client = inner.client(path)?;
    let result = replace.write(&client).await;
    let written = match &result {
        Ok(Some(published)) => Some(replace.written(published.version)),
        Ok(None) => {
            tracing::debug!(%path, "the version this process wrote is not current; reading");
            None
        }
        Err(_) => None,
    };
    inner.written.set(path, written);
    result
}

/// What the history keeps of `old`, the document at `version` about to be replaced and that has
/// no entry: the document, or, when it cannot travel in one request with its entry's path and a
/// version check (a foreign writer's plain `setData` near ZooKeeper's limit: sending it would
/// make the server drop the connection, every time), an entry that records its size only.
fn archive_of<'a>(inner: &Inner, path: &str, version: i32, old: &'a [u8]) -> Cow<'a, [u8]> {
    let request = old.len() + history::entry_path(path, version).len() + 2 * path.len() + 3 * PER_OP_OVERHEAD;
    if request <= inner.max_request_size {
        return Cow::Borrowed(old);
    }
    let limit = inner.max_request_size;
    tracing::warn!(%path, version, size = old.len(), limit, "the document replaced is too large to archive; its history entry records its size only");
    Cow::Owned(history::not_archived(path, version, old.len(), limit).into_bytes())
}

fn conflict(path: &str, expected: Expect, actual: Option<i32>) -> Error {
    Error::VersionConflict { path: path.to_owned(), expected, actual }
}

/// Persistent nodes with the session's ACL (see `registry::SessionBuilder::acl`).
fn persistent(acl: &[zookeeper_client::Acl]) -> zookeeper_client::CreateOptions<'_> {
    CreateMode::Persistent.with_acls(Acls::new(acl))
}

/// The document and its stat (`None`: no node), and the history's children (`None`: no
/// history node), read in one snapshot.
#[allow(clippy::type_complexity)]
async fn read_state(
    client: &Client,
    path: &str,
    history: &str,
) -> Result<(Option<(Vec<u8>, Stat)>, Option<Vec<String>>)> {
    let mut reader = client.new_multi_reader();
    reader.add_get_data(path).map_err(|e| Error::zk("get_data", path, e))?;
    reader.add_get_children(history).map_err(|e| Error::zk("get_children", history, e))?;
    let mut results = reader.commit().await.map_err(|e| Error::zk("multi read", path, e))?.into_iter();
    let current = match results.next() {
        Some(MultiReadResult::Data { data, stat }) => Some((data, stat)),
        Some(MultiReadResult::Error { err: ZkError::NoNode }) => None,
        Some(MultiReadResult::Error { err }) => return Err(Error::zk("get_data", path, err)),
        _ => return Err(unexpected(path, "no data in the multi read answer")),
    };
    let children = match results.next() {
        Some(MultiReadResult::Children { children }) => Some(children),
        Some(MultiReadResult::Error { err: ZkError::NoNode }) => None,
        Some(MultiReadResult::Error { err }) => return Err(Error::zk("get_children", history, err)),
        _ => return Err(unexpected(history, "no children in the multi read answer")),
    };
    Ok((current, children))
}

fn unexpected(path: &str, what: &str) -> Error {
    Error::zk("multi read", path, ZkError::UnexpectedError(what.to_owned()))
}

/// Creates the node (with its `history` node and the entry of version 0, `entry_doc`, when
/// history is kept), and the missing parents. `None`: the node exists (raced, read again).
async fn create(
    inner: &Inner,
    client: &Client,
    path: &str,
    doc: &str,
    entry_doc: &[u8],
) -> Result<Option<Published>> {
    // Under a namespace an `AccessPolicy` governs, the namespace's ACL: every writer may update.
    let namespace = path.rsplit_once('/').map(|(parent, _)| parent).filter(|p| !p.is_empty()).unwrap_or("/");
    let acl = inner.session.acl_below(namespace).await?;
    let options = persistent(&acl);
    let keep = inner.history_limit > 0;
    let history = history::dir(path);
    let entry = history::entry_path(path, 0);
    // The document twice (node and entry) may not fit in one request: the entry then follows.
    let together =
        keep && doc.len() + entry_doc.len() + 3 * (entry.len() + PER_OP_OVERHEAD) <= inner.max_request_size;
    let mut made_parent = false;
    loop {
        let mut writer = client.new_multi_writer();
        writer.add_create(path, doc.as_bytes(), &options).map_err(|e| Error::zk("create", path, e))?;
        if keep {
            writer.add_create(&history, &[], &options).map_err(|e| Error::zk("create", &history, e))?;
        }
        if together {
            writer.add_create(&entry, entry_doc, &options).map_err(|e| Error::zk("create", &entry, e))?;
        }
        match writer.commit().await {
            Ok(_) => break,
            // The namespace node is missing: make it, once.
            Err(MultiWriteError::OperationFailed { source: ZkError::NoNode, index: 0 }) if !made_parent => {
                if let Some((parent, _)) = path.rsplit_once('/').filter(|(parent, _)| !parent.is_empty()) {
                    inner.session.ensure_path(parent).await?;
                }
                made_parent = true;
            }
            Err(MultiWriteError::OperationFailed {
                source: ZkError::NodeExists | ZkError::NoNode, ..
            }) => return Ok(None),
            Err(
                MultiWriteError::OperationFailed { source, .. } | MultiWriteError::RequestFailed { source },
            ) => return Err(Error::zk("create", path, source)),
        }
    }
    let archived = together || (keep && archive_alone(client, path, &entry, 0, entry_doc, &options).await?);
    inner.written.set(path, archived.then(|| Written { version: 0, entries: vec![0] }));
    Ok(Some(Published { path: path.to_owned(), version: 0, previous: None }))
}

/// Creates the entry of `version` in a transaction of its own, if the node is still at that
/// version. `false`: it is not (another writer came first; its read archives this version).
async fn archive_alone(
    client: &Client,
    path: &str,
    entry: &str,
    version: i32,
    doc: &[u8],
    options: &zookeeper_client::CreateOptions<'_>,
) -> Result<bool> {
    let mut writer = client.new_multi_writer();
    writer.add_check_version(path, version).map_err(|e| Error::zk("multi", path, e))?;
    writer.add_create(entry, doc, options).map_err(|e| Error::zk("multi", entry, e))?;
    match writer.commit().await {
        Ok(_) => Ok(true),
        Err(e) => raced_or(path, e).map(|()| false),
    }
}

/// Without history there is nothing to read first: one request in the usual case.
async fn write_without_history(inner: &Inner, path: &str, doc: &str, expected: Expect) -> Result<Published> {
    for _ in 0..MAX_ATTEMPTS {
        let client = inner.client(path)?;
        let version = match expected {
            Expect::Absent => {
                if let Some(published) = create(inner, &client, path, doc, doc.as_bytes()).await? {
                    return Ok(published);
                }
                match stat_of(&client, path).await? {
                    Some(actual) => return Err(conflict(path, expected, Some(actual))),
                    None => continue,
                }
            }
            Expect::Version(v) => Some(v),
            Expect::Any => None,
        };
        match client.set_data(path, doc.as_bytes(), version).await {
            Ok(stat) => {
                let previous = Some(stat.version - 1);
                return Ok(Published { path: path.to_owned(), version: stat.version, previous });
            }
            Err(ZkError::BadVersion) => match stat_of(&client, path).await? {
                Some(actual) => return Err(conflict(path, expected, Some(actual))),
                None => return Err(conflict(path, expected, None)),
            },
            Err(ZkError::NoNode) if version.is_some() => return Err(conflict(path, expected, None)),
            Err(ZkError::NoNode) => {
                if let Some(published) = create(inner, &client, path, doc, doc.as_bytes()).await? {
                    return Ok(published);
                }
            }
            Err(e) => return Err(Error::zk("set_data", path, e)),
        }
    }
    Err(Error::Contention { path: path.to_owned(), attempts: MAX_ATTEMPTS })
}

/// The data version of `path` (`None`: no node).
async fn stat_of(client: &Client, path: &str) -> Result<Option<i32>> {
    match client.check_stat(path).await {
        Ok(stat) => Ok(stat.map(|s| s.version)),
        Err(e) => Err(Error::zk("exists", path, e)),
    }
}

/// Bytes a request may need besides documents and paths: request and multi headers, versions,
/// flags and ACLs, per operation (a generous bound).
const PER_OP_OVERHEAD: usize = 96;

/// Replacing the document at `plan.current` by `doc`; `old` is the current document (archived
/// when the plan says so).
struct Replace<'a> {
    acl: &'a [zookeeper_client::Acl],
    path: &'a str,
    history: &'a str,
    doc: &'a str,
    /// What the new version's history entry holds: `doc`, with its metadata line.
    entry: &'a [u8],
    old: &'a [u8],
    plan: Plan,
}

impl Replace<'_> {
    /// Writes. `None`: raced, read again.
    ///
    /// The write, the archives and the pruning are one transaction when the request fits in
    /// `max_request_size`. When it does not (documents near the size limit), three follow each
    /// other, each guarded by the version: the replaced document's entry (when it needs one), the
    /// write with the pruning, then the new document's entry. A race between them leaves the
    /// history right (an entry only ever holds the document of its version); a writer that
    /// comes in between the last two archives the new version itself when it replaces it.
    async fn commit(&self, client: &Client, inner: &Inner) -> Result<Option<Published>> {
        if self.request_size() <= inner.max_request_size {
            let published = self.write(client).await?;
            if let Some(published) = &published {
                inner.written.set(self.path, Some(self.written(published.version)));
            }
            return Ok(published);
        }
        tracing::debug!(path = %self.path, "documents too large for one request: archiving separately");
        let options = persistent(self.acl);
        let multi = |e| Error::zk("multi", self.path, e);
        if self.plan.create_dir || self.plan.archive_current {
            let mut writer = client.new_multi_writer();
            writer.add_check_version(self.path, self.plan.current).map_err(multi)?;
            self.add_archive_current(&mut writer)?;
            match writer.commit().await {
                Ok(_) => {}
                // Archived by a racing writer that read the same version: the same document.
                Err(MultiWriteError::OperationFailed { source: ZkError::NodeExists, index }) if index > 0 => {
                }
                Err(e) => return raced_or(self.path, e).map(|()| None),
            }
        }
        let mut writer = client.new_multi_writer();
        writer.add_set_data(self.path, self.doc.as_bytes(), Some(self.plan.current)).map_err(multi)?;
        if self.plan.replace_next {
            writer.add_delete(&history::entry_path(self.path, self.plan.next), None).map_err(multi)?;
        }
        self.add_prune(&mut writer)?;
        let Some(published) = self.finish(writer.commit().await)? else { return Ok(None) };
        let entry = history::entry_path(self.path, published.version);
        let archived =
            archive_alone(client, self.path, &entry, published.version, self.entry, &options).await?;
        inner.written.set(self.path, archived.then(|| self.written(published.version)));
        Ok(Some(published))
    }

    /// Everything in one transaction: `set_data`, the `history` node when missing, the entry of
    /// the replaced document when it has none, the entry of the new one, the pruning.
    async fn write(&self, client: &Client) -> Result<Option<Published>> {
        let multi = |e| Error::zk("multi", self.path, e);
        let options = persistent(self.acl);
        let mut writer = client.new_multi_writer();
        writer.add_set_data(self.path, self.doc.as_bytes(), Some(self.plan.current)).map_err(multi)?;
        self.add_archive_current(&mut writer)?;
        let entry = history::entry_path(self.path, self.plan.next);
        if self.plan.replace_next {
            writer.add_delete(&entry, None).map_err(multi)?;
        }
        writer.add_create(&entry, self.entry, &options).map_err(multi)?;
        self.add_prune(&mut writer)?;
        self.finish(writer.commit().await)
    }

    /// The `history` node when missing, and the entry of the current document when it has none.
    fn add_archive_current(&self, writer: &mut MultiWriter<'_>) -> Result<()> {
        let multi = |e| Error::zk("multi", self.path, e);
        let options = persistent(self.acl);
        if self.plan.create_dir {
            writer.add_create(self.history, &[], &options).map_err(multi)?;
        }
        if self.plan.archive_current {
            let entry = history::entry_path(self.path, self.plan.current);
            writer.add_create(&entry, self.old, &options).map_err(multi)?;
        }
        Ok(())
    }

    fn add_prune(&self, writer: &mut MultiWriter<'_>) -> Result<()> {
        for v in &self.plan.prune {
            writer
                .add_delete(&history::entry_path(self.path, *v), None)
                .map_err(|e| Error::zk("multi", self.path, e))?;
        }
        Ok(())
    }

    /// What this process remembers after writing `version`.
    fn written(&self, version: i32) -> Written {
        Written { version, entries: self.plan.kept.clone() }
    }

    /// An upper bound of the size of the one-transaction request.
    fn request_size(&self) -> usize {
        let plan = &self.plan;
        let ops = 3 + plan.prune.len() + plan.replace_next as usize + plan.create_dir as usize;
        let old = if plan.archive_current { self.old.len() } else { 0 };
        self.doc.len() + self.entry.len() + old + ops * (self.history.len() + 16 + PER_OP_OVERHEAD)
    }

    fn finish(
        &self,
        result: std::result::Result<Vec<MultiWriteResult>, MultiWriteError>,
    ) -> Result<Option<Published>> {
        match result {
            Ok(results) => {
                let version = match results.first() {
                    Some(MultiWriteResult::SetData { stat }) => stat.version,
                    _ => self.plan.next,
                };
                Ok(Some(Published { path: self.path.to_owned(), version, previous: Some(self.plan.current) }))
            }
            Err(e) => raced_or(self.path, e).map(|()| None),
        }
    }
}

/// `Ok(())` when a transaction failed because the tree moved under it (read again), else the
/// error.
fn raced_or(path: &str, error: MultiWriteError) -> Result<()> {
    match error {
        MultiWriteError::OperationFailed {
            source: ZkError::BadVersion | ZkError::NoNode | ZkError::NodeExists | ZkError::NotEmpty,
            ..
        } => Ok(()),
        MultiWriteError::OperationFailed { source, .. } | MultiWriteError::RequestFailed { source } => {
            Err(Error::zk("multi", path, source))
        }
    }
}
