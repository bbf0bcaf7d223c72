//! Publishing: a size check, then a compare-and-set write that archives the document it replaces
//! in the same ZooKeeper transaction.
//!
//! One publish is two round trips: a snapshot read of the document and of the history's children
//! (one `multi` read), then one `multi` write holding
//! - `set_data(doc, version)` (or `create(doc)` when the node does not exist yet),
//! - `create(history/v-<version>, previous document)` (and the `history` node when missing),
//! - `delete` of the oldest history entries beyond the limit.
//!
//! Either all of it happens or none of it. When the write loses a race (the version moved, the
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
pub(crate) fn check_size(inner: &Inner, path: &str, size: usize) -> Result<()> {
    if size > inner.max_document_size {
        return Err(Error::TooLarge { path: path.to_owned(), size, limit: inner.max_document_size });
    }
    Ok(())
}

/// Writes `doc` at `path` if `expected` holds, archiving the document it replaces.
pub(crate) async fn write(inner: &Inner, path: &str, doc: &str, expected: Expect) -> Result<Published> {
    check_size(inner, path, doc.len())?;
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
                let replace = Replace { path, history: &history, doc, old: &old, version: stat.version };
                replace.commit(&client, entries.as_deref(), inner.history_limit).await?
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

fn persistent() -> zookeeper_client::CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
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

/// Creates the node (and its `history` node). `None`: raced, read again.
async fn create(inner: &Inner, client: &Client, path: &str, history: &str, doc: &str) -> Result<Option<Published>> {
    if let Some((parent, _)) = path.rsplit_once('/').filter(|(parent, _)| !parent.is_empty()) {
        inner.session.ensure_path(parent).await?;
    }
    let options = persistent();
    let mut writer = client.new_multi_writer();
    writer.add_create(path, doc.as_bytes(), &options).map_err(|e| Error::zk("create", path, e))?;
    if inner.history_limit > 0 {
        writer.add_create(history, &[], &options).map_err(|e| Error::zk("create", history, e))?;
    }
    match writer.commit().await {
        Ok(_) => Ok(Some(Published { path: path.to_owned(), version: 0, previous: None })),
        Err(MultiWriteError::OperationFailed { source: ZkError::NodeExists | ZkError::NoNode, .. }) => Ok(None),
        Err(MultiWriteError::OperationFailed { source, .. } | MultiWriteError::RequestFailed { source }) => {
            Err(Error::zk("create", path, source))
        }
    }
}

/// Replacing the document at `version` by `doc`, archiving `old`.
struct Replace<'a> {
    path: &'a str,
    history: &'a str,
    doc: &'a str,
    old: &'a [u8],
    version: i32,
}

impl Replace<'_> {
    /// `None`: raced, read again.
    async fn commit(&self, client: &Client, entries: Option<&[String]>, keep: usize) -> Result<Option<Published>> {
        let path = self.path;
        let multi = |e| Error::zk("multi", path, e);
        let mut writer = client.new_multi_writer();
        writer.add_set_data(path, self.doc.as_bytes(), Some(self.version)).map_err(multi)?;
        if keep > 0 {
            let options = persistent();
            let entry = history::entry_path(path, self.version);
            let mut older: Vec<i32> = Vec::new();
            match entries {
                None => writer.add_create(self.history, &[], &options).map_err(multi)?,
                Some(names) => {
                    for v in names.iter().filter_map(|n| history::parse_entry(n)) {
                        if v == self.version {
                            // Left by a writer that does not follow this layout: replaced.
                            writer.add_delete(&entry, None).map_err(multi)?;
                        } else {
                            older.push(v);
                        }
                    }
                }
            }
            writer.add_create(&entry, self.old, &options).map_err(multi)?;
            older.sort_unstable();
            let excess = (older.len() + 1).saturating_sub(keep);
            for v in older.iter().take(excess) {
                writer.add_delete(&history::entry_path(path, *v), None).map_err(multi)?;
            }
        }
        match writer.commit().await {
            Ok(results) => {
                let version = match results.first() {
                    Some(zookeeper_client::MultiWriteResult::SetData { stat }) => stat.version,
                    _ => self.version + 1,
                };
                Ok(Some(Published { path: path.to_owned(), version, previous: Some(self.version) }))
            }
            Err(MultiWriteError::OperationFailed {
                source: ZkError::BadVersion | ZkError::NoNode | ZkError::NodeExists | ZkError::NotEmpty,
                ..
            }) => Ok(None),
            Err(MultiWriteError::OperationFailed { source, .. } | MultiWriteError::RequestFailed { source }) => {
                Err(Error::zk("multi", path, source))
            }
        }
    }
}
