//! The history of a document: `<path>/history/v-<version>`.
//!
//! `<path>/history/v-<version>` holds, byte for byte, the document that had ZooKeeper data
//! version `<version>` (zero-padded to ten digits, `v-0000000003`). A publish creates the entry
//! of the version it writes in the same transaction as the write (and archives the document it
//! replaces too when that one has no entry: written by a client that keeps no history). So the
//! names sort by version, a reader in any language gets a document back with one `get_data`,
//! and the newest entry is the current document. The oldest entries beyond the configured
//! limit (documents replaced, besides the current one) are deleted in that same transaction.
//!
//! One exception: a document written by a foreign client (a plain `setData`) so close to
//! ZooKeeper's request limit that it cannot travel again with its entry's path and a version
//! check cannot be archived (sending it would make the server drop the connection). Its entry
//! then records what happened instead of the document, starting with the line
//! `!zkmesh not archived` (not TOML, so that no tool takes it for a document), then
//! `version = …`, `size = …` (the document's bytes) and `limit = …` (the request limit). Reading
//! or rolling back to it is [`Error::NotArchived`]; the listing shows it with
//! [`HistoryEntry::archived`] false and the document's size.

use std::time::{Duration, SystemTime};

use zookeeper_client::Error as ZkError;

use crate::center::Inner;
use crate::document::{self, Text};
use crate::error::{Error, Result};
use crate::meta::{self, PublishMeta};

/// One archived document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The ZooKeeper data version the document had.
    pub version: i32,
    /// When it was replaced: when the next entry was written (the next version's publish);
    /// for the current document's entry, when it was published.
    pub replaced_at: SystemTime,
    /// When it was published: when its entry was written (for a document archived when it was
    /// replaced, because its writer kept no history, that replacement's time).
    pub published_at: SystemTime,
    /// Its size in bytes (for an entry not archived, the size the document had).
    pub size: usize,
    /// False when the document was too large to archive: the entry records its size only
    /// (see the module docs; reading it is [`Error::NotArchived`]).
    pub archived: bool,
    /// The history node's ZooKeeper path.
    pub path: String,
    /// Who published it (`None`: unknown, not recorded by its writer; see
    /// [`crate::PublishMeta`]).
    pub author: Option<String>,
    /// Why (`None`: unknown or not given).
    pub message: Option<String>,
    /// The identity its publishing session authenticated as, as ZooKeeper saw it
    /// (`digest:alice`, `sasl:alice`, `x509:CN=...`, `anonymous (no credentials)`; see
    /// [`crate::PublishMeta::identity_name`]), recorded by the publish itself, never a secret.
    /// `None`: unknown (written by a client that keeps no history, or by an older zkmesh).
    pub identity: Option<String>,
    /// Whether this is the current document's entry (listed by
    /// [`crate::ConfigCenter::revisions`] only).
    pub current: bool,
}

/// `<path>/history`.
pub(crate) fn dir(path: &str) -> String {
    format!("{path}/history")
}

/// `v-0000000003` for version 3.
pub(crate) fn entry_name(version: i32) -> String {
    format!("v-{version:010}")
}

/// `<path>/history/v-<version>`.
pub(crate) fn entry_path(path: &str, version: i32) -> String {
    format!("{path}/history/{}", entry_name(version))
}

/// The first line of an entry that stands for a document too large to archive.
pub(crate) const NOT_ARCHIVED: &str = "!zkmesh not archived";

/// Entries that stand for a document not archived are no larger than this.
#[cfg(test)]
const NOT_ARCHIVED_MAX_LEN: usize = 512;

/// The entry written instead of `version` of `path`, `size` bytes, that cannot be archived under
/// the request limit `limit`.
pub(crate) fn not_archived(path: &str, version: i32, size: usize, limit: usize) -> String {
    format!(
        "{NOT_ARCHIVED}\n# Version {version} of {path} was {size} bytes: too large to travel again in one\n\
         # ZooKeeper request with its history entry's path (at most {limit} bytes), so this entry\n\
         # records its size instead of its text.\nversion = {version}\nsize = {size}\nlimit = {limit}\n"
    )
}

/// The size and request limit an entry not archived records; `None` for an archived document.
pub(crate) fn parse_not_archived(data: &[u8]) -> Option<(usize, usize)> {
    let rest = std::str::from_utf8(data).ok()?.strip_prefix(NOT_ARCHIVED)?.strip_prefix('\n')?;
    let table: toml::Table = rest.parse().ok()?;
    let number = |key: &str| table.get(key)?.as_integer().and_then(|n| usize::try_from(n).ok());
    Some((number("size")?, number("limit")?))
}

/// The version of a history entry's node name (`None` for anything else).
pub(crate) fn parse_entry(name: &str) -> Option<i32> {
    let digits = name.strip_prefix("v-")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The entries of `path`'s history, newest first: the documents replaced, and the current
/// document's own entry first when `with_current`.
pub(crate) async fn list(inner: &Inner, path: &str, with_current: bool) -> Result<Vec<HistoryEntry>> {
    let client = inner.client(path)?;
    let dir = dir(path);
    let current = client.check_stat(path);
    let names = match client.list_children(&dir).await {
        Ok(names) => names,
        Err(ZkError::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(Error::zk("get_children", dir, e)),
    };
    let current = current.await.map_err(|e| Error::zk("exists", path, e))?.map(|stat| stat.version);
    let mut versions: Vec<i32> = names.iter().filter_map(|n| parse_entry(n)).collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    // Read back to back (one round trip for all): the data holds the author and message.
    let paths: Vec<_> = versions.iter().map(|v| (*v, entry_path(path, *v))).collect();
    let pending: Vec<_> = paths.iter().map(|(_, p)| client.get_data(p)).collect();
    let mut entries = Vec::with_capacity(versions.len());
    // The creation time of the next newer entry: when this one was replaced.
    let mut replaced_at: Option<SystemTime> = None;
    for ((version, entry), read) in paths.into_iter().zip(pending) {
        let (data, stat) = match read.await {
            Ok(read) => read,
            // Pruned since the listing.
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(Error::zk("get_data", entry, e)),
        };
        let created = SystemTime::UNIX_EPOCH + Duration::from_millis(stat.ctime.max(0) as u64);
        let is_current = Some(version) == current;
        if with_current || !is_current {
            let (meta, doc) = meta::split_entry(&data);
            let (size, archived) = match parse_not_archived(&data) {
                Some((size, _)) => (size, false),
                None => (doc.len(), true),
            };
            let field =
                |get: fn(&PublishMeta) -> Option<&str>| meta.as_ref().and_then(get).map(str::to_owned);
            let (author, message) = (field(PublishMeta::author_name), field(PublishMeta::message_text));
            let identity = field(PublishMeta::identity_name);
            entries.push(HistoryEntry {
                version,
                replaced_at: replaced_at.unwrap_or(created),
                published_at: created,
                size,
                archived,
                path: entry,
                author,
                message,
                identity,
                current: is_current,
            });
        }
        replaced_at = Some(created);
    }
    Ok(entries)
}

/// The document `path` had at `version`, from the history.
pub(crate) async fn read(inner: &Inner, path: &str, version: i32) -> Result<Text> {
    let client = inner.client(path)?;
    let entry = entry_path(path, version);
    match client.get_data(&entry).await {
        Ok((data, _)) => match parse_not_archived(&data) {
            Some((size, limit)) => Err(Error::NotArchived { path: path.to_owned(), version, size, limit }),
            None => {
                let (_, doc) = meta::split_entry(&data);
                let skip = data.len() - doc.len();
                let mut data = data;
                data.drain(..skip);
                document::decode(&entry, Some(version), data)
            }
        },
        Err(ZkError::NoNode) => Err(Error::NoSuchVersion { path: path.to_owned(), version }),
        Err(e) => Err(Error::zk("get_data", entry, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_round_trip_and_sort_by_version() {
        assert_eq!(entry_name(3), "v-0000000003");
        assert_eq!(entry_path("/config/a/b", 12), "/config/a/b/history/v-0000000012");
        for v in [0, 1, 99, i32::MAX] {
            assert_eq!(parse_entry(&entry_name(v)), Some(v));
        }
        assert!(entry_name(9) < entry_name(10));
        for bad in ["v-1", "v-000000000x", "x-0000000001", "v-00000000001", "history"] {
            assert_eq!(parse_entry(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_entry_not_archived_records_the_size_and_is_not_toml() {
        let entry = not_archived("/config/a/b", 3, 1_048_500, 1_048_575);
        assert!(entry.len() <= NOT_ARCHIVED_MAX_LEN, "{}", entry.len());
        assert_eq!(parse_not_archived(entry.as_bytes()), Some((1_048_500, 1_048_575)));
        assert!(entry.parse::<toml::Table>().is_err(), "no tool takes it for a document");
        assert_eq!(parse_not_archived(b"size = 1\nlimit = 2\n"), None);
        assert_eq!(parse_not_archived(b"!zkmesh not archived\nsize = 1\n"), None);
    }
}
