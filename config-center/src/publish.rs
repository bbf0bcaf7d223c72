//! Publishing: a size check, then a compare-and-set write that archives the document it replaces
//! in the same ZooKeeper transaction.
//!
//! One publish is two round trips: a snapshot read of the document and of the history's children
//! (one `multi` read), then one `multi` write holding
//! - `set_data(doc, version)` (or `create(doc)` when the node does not exist yet),
//! - `create(history/v-<version>, previous document)` (and the `history` node when missing),
//! - `delete` of the oldest history entries beyond the limit.
//!
//! Either all of it happens or none of it. Without history (limit 0) there is nothing to read
//! first: a publish is one `set_data` (or `create`). When the write loses a race (the version moved, the
//! node appeared or went, another writer pruned the history), the read is done again: with
//! [`Expect::Version`] or [`Expect::Absent`] it then reports the conflict with the version found;
//! with [`Expect::Any`] it tries again.

use std::fmt;

use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError, MultiReadResult, MultiWriteError, Stat};

use crate::center::Inner;
use crate::error::{Error, Result};
use crate::history;

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

/// Refuses a document over the size limit.
/// (A document must also fit in one request with its path and headers.)
pub(crate) fn check_size(inner: &Inner, path: &str, size: usize) -> Result<()> {
    let fits_request = inner.max_request_size.saturating_sub(path.len() + 16 + 2 * PER_OP_OVERHEAD);
    let limit = inner.max_document_size.min(fits_request);
    if size > limit {
        return Err(Error::TooLarge { path: path.to_owned(), size, limit });
    }
    Ok(())
}

/// Writes `doc` at `path` if `expected` holds, archiving the document it replaces.
pub(crate) async fn write(inner: &Inner, path: &str, doc: &str, expected: Expect) -> Result<Published> {
    check_size(inner, path, doc.len())?;
    if inner.history_limit == 0 {
        let published = write_without_history(inner, path, doc, expected).await?;
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
                create(inner, &client, path, &history, doc).await?
            }
            Some((old, stat)) => {
                match expected {
                    Expect::Absent => return Err(conflict(path, expected, Some(stat.version))),
                    Expect::Version(v) if v != stat.version => {
                        return Err(conflict(path, expected, Some(stat.version)))
                    }
                    _ => {}
                }
                let replace = Replace {
                    acl: inner.session.acl(),
                    path,
                    history: &history,
                    doc,
                    old: &old,
                    version: stat.version,
                };
                replace.commit(&client, entries.as_deref(), inner).await?
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

/// Creates the node (and its `history` node when history is kept), and the missing parents.
/// `None`: the node exists (raced, read again).
async fn create(
    inner: &Inner,
    client: &Client,
    path: &str,
    history: &str,
    doc: &str,
) -> Result<Option<Published>> {
    let options = persistent(inner.session.acl());
    let mut made_parent = false;
    loop {
        let mut writer = client.new_multi_writer();
        writer.add_create(path, doc.as_bytes(), &options).map_err(|e| Error::zk("create", path, e))?;
        if inner.history_limit > 0 {
            writer.add_create(history, &[], &options).map_err(|e| Error::zk("create", history, e))?;
        }
        match writer.commit().await {
            Ok(_) => return Ok(Some(Published { path: path.to_owned(), version: 0, previous: None })),
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
}

/// Without history there is nothing to read first: one request in the usual case.
async fn write_without_history(inner: &Inner, path: &str, doc: &str, expected: Expect) -> Result<Published> {
    for _ in 0..MAX_ATTEMPTS {
        let client = inner.client(path)?;
        let version = match expected {
            Expect::Absent => {
                if let Some(published) = create(inner, &client, path, "", doc).await? {
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
                if let Some(published) = create(inner, &client, path, "", doc).await? {
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

/// What a replacing write does to the history.
struct Plan {
    /// The `history` node is missing.
    create_dir: bool,
    /// An entry for the replaced version exists already (left by a writer that does not follow
    /// this layout): replaced.
    replace_entry: bool,
    /// Entries to delete, oldest first.
    prune: Vec<i32>,
}

impl Plan {
    fn new(entries: Option<&[String]>, version: i32, keep: usize) -> Plan {
        let mut older: Vec<i32> = Vec::new();
        let mut replace_entry = false;
        for v in entries.unwrap_or_default().iter().filter_map(|n| history::parse_entry(n)) {
            if v == version {
                replace_entry = true;
            } else {
                older.push(v);
            }
        }
        older.sort_unstable();
        let excess = (older.len() + 1).saturating_sub(keep);
        older.truncate(excess);
        Plan { create_dir: entries.is_none(), replace_entry, prune: older }
    }
}

/// Replacing the document at `version` by `doc`, archiving `old`.
struct Replace<'a> {
    acl: &'a [zookeeper_client::Acl],
    path: &'a str,
    history: &'a str,
    doc: &'a str,
    old: &'a [u8],
    version: i32,
}

impl Replace<'_> {
    /// Writes. `None`: raced, read again.
    ///
    /// The write, the archive of the replaced document and the pruning are one transaction when
    /// the request fits in `max_request_size`. When it does not (two documents near the size
    /// limit), the archive goes first in a transaction of its own, guarded by the version: the
    /// entry `v-<version>` holds the document of that version whatever happens next, so a write
    /// that then loses a race leaves the history correct (the entry is merely early).
    async fn commit(
        &self,
        client: &Client,
        entries: Option<&[String]>,
        inner: &Inner,
    ) -> Result<Option<Published>> {
        let keep = inner.history_limit;
        let plan = (keep > 0).then(|| Plan::new(entries, self.version, keep));
        let Some(plan) = plan else { return self.write(client, None).await };
        if self.request_size(&plan) <= inner.max_request_size {
            return self.write(client, Some(&plan)).await;
        }
        tracing::debug!(path = %self.path, "documents too large for one request: archiving first");
        let multi = |e| Error::zk("multi", self.path, e);
        let mut writer = client.new_multi_writer();
        writer.add_check_version(self.path, self.version).map_err(multi)?;
        self.add_archive(&mut writer, &plan)?;
        match writer.commit().await {
            Ok(_) => {}
            // Archived by a racing writer that read the same version: the same document.
            Err(MultiWriteError::OperationFailed { source: ZkError::NodeExists, index }) if index > 0 => {}
            Err(e) => return raced_or(self.path, e).map(|()| None),
        }
        let mut writer = client.new_multi_writer();
        writer.add_set_data(self.path, self.doc.as_bytes(), Some(self.version)).map_err(multi)?;
        self.add_prune(&mut writer, &plan)?;
        self.finish(writer.commit().await)
    }

    /// `set_data`, with the archive and the pruning when there is a plan, in one transaction.
    async fn write(&self, client: &Client, plan: Option<&Plan>) -> Result<Option<Published>> {
        let multi = |e| Error::zk("multi", self.path, e);
        let mut writer = client.new_multi_writer();
        writer.add_set_data(self.path, self.doc.as_bytes(), Some(self.version)).map_err(multi)?;
        if let Some(plan) = plan {
            self.add_archive(&mut writer, plan)?;
            self.add_prune(&mut writer, plan)?;
        }
        self.finish(writer.commit().await)
    }

    fn add_archive(&self, writer: &mut zookeeper_client::MultiWriter<'_>, plan: &Plan) -> Result<()> {
        let multi = |e| Error::zk("multi", self.path, e);
        let options = persistent(self.acl);
        let entry = history::entry_path(self.path, self.version);
        if plan.create_dir {
            writer.add_create(self.history, &[], &options).map_err(multi)?;
        }
        if plan.replace_entry {
            writer.add_delete(&entry, None).map_err(multi)?;
        }
        writer.add_create(&entry, self.old, &options).map_err(multi)
    }

    fn add_prune(&self, writer: &mut zookeeper_client::MultiWriter<'_>, plan: &Plan) -> Result<()> {
        for v in &plan.prune {
            writer
                .add_delete(&history::entry_path(self.path, *v), None)
                .map_err(|e| Error::zk("multi", self.path, e))?;
        }
        Ok(())
    }

    /// An upper bound of the size of the one-transaction request.
    fn request_size(&self, plan: &Plan) -> usize {
        let ops = 3 + plan.prune.len();
        self.doc.len() + self.old.len() + ops * (self.history.len() + 16 + PER_OP_OVERHEAD)
    }

    fn finish(
        &self,
        result: std::result::Result<Vec<zookeeper_client::MultiWriteResult>, MultiWriteError>,
    ) -> Result<Option<Published>> {
        match result {
            Ok(results) => {
                let version = match results.first() {
                    Some(zookeeper_client::MultiWriteResult::SetData { stat }) => stat.version,
                    _ => self.version + 1,
                };
                Ok(Some(Published { path: self.path.to_owned(), version, previous: Some(self.version) }))
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
