//! The local cache: the last accepted document of each watched config, on disk, to start from
//! when ZooKeeper cannot be reached.
//!
//! One file per config, `<cache_dir>/<namespace>/<name>.toml`, itself TOML:
//!
//! ```toml
//! format = 1
//! path = "/config/shop/db"        # the ZooKeeper path (within the session's chroot)
//! version = 3                     # the document's ZooKeeper data version
//! checksum = "fnv1a64:…"          # of `document`
//! document = "…"                  # the document, as read from ZooKeeper
//! ```
//!
//! Writes are atomic: a temporary file in the same directory, written and fsynced, renamed over
//! the old file, then the directory fsynced. A file that does not parse, has another format,
//! another path or a wrong checksum is reported ([`Error::CorruptCache`]) and ignored. When
//! ZooKeeper says the node does not exist, the file is removed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Error, Result};

const FORMAT: u32 = 1;

/// The cache file of `namespace`/`name` under `dir`.
pub(crate) fn file_for(dir: &Path, namespace: &str, name: &str) -> PathBuf {
    dir.join(namespace).join(format!("{name}.toml"))
}

/// A document read back from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cached {
    pub(crate) version: i32,
    pub(crate) document: String,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    format: u32,
    path: String,
    version: i32,
    checksum: String,
    document: String,
}

fn checksum(bytes: &[u8]) -> String {
    // FNV-1a, 64 bits: enough to catch truncation and edits, not meant against tampering.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

/// Reads the cached document of `path` from `file`; `Ok(None)` when there is none.
///
/// # Errors
/// [`Error::CorruptCache`] for a file that cannot be used, [`Error::Io`] when it cannot be read.
pub(crate) async fn load(file: &Path, path: &str) -> Result<Option<Cached>> {
    let text = match tokio::fs::read(file).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading config cache {}", file.display()), e)),
    };
    let corrupt = |reason: String| Error::CorruptCache { file: file.to_owned(), reason };
    let text = String::from_utf8(text).map_err(|_| corrupt("not UTF-8".into()))?;
    let disk: OnDisk = toml::from_str(&text).map_err(|e| corrupt(e.message().to_owned()))?;
    if disk.format != FORMAT {
        return Err(corrupt(format!("format {} (this program writes {FORMAT})", disk.format)));
    }
    if disk.path != path {
        return Err(corrupt(format!("holds {}, not {path}", disk.path)));
    }
    if disk.checksum != checksum(disk.document.as_bytes()) {
        return Err(corrupt("checksum mismatch".into()));
    }
    Ok(Some(Cached { version: disk.version, document: disk.document }))
}

/// Writes the cache file atomically.
pub(crate) fn save(file: &Path, path: &str, version: i32, document: &str) -> Result<()> {
    let disk = OnDisk {
        format: FORMAT,
        path: path.to_owned(),
        version,
        checksum: checksum(document.as_bytes()),
        document: document.to_owned(),
    };
    let text = toml::to_string(&disk)
        .map_err(|e| Error::Serialize { path: path.to_owned(), message: e.to_string() })?;
    registry::write_file_atomically(file, text.as_bytes())
        .map_err(|e| Error::io(format!("writing config cache {}", file.display()), e))
}

/// Removes the cache file (no error when it is not there).
pub(crate) fn remove(file: &Path) -> Result<()> {
    match std::fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing config cache {}", file.display()), e)),
    }
}

/// What the cache of one config should hold next.
#[derive(Debug, Clone)]
enum Op {
    Save { version: i32, document: String },
    Remove,
}

/// Writes a config's cache file in the background, latest state first: updates that arrive
/// while a write is in progress fold into the next one, and writes never reorder.
#[derive(Debug)]
pub(crate) struct CacheWriter {
    tx: watch::Sender<Option<Op>>,
}

impl CacheWriter {
    /// Starts the writer of `file`, for the document at `path`. It ends once the handle is
    /// dropped, after the last update is written.
    pub(crate) fn spawn(file: PathBuf, path: String) -> Self {
        let (tx, mut rx) = watch::channel(None::<Op>);
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some(op) = rx.borrow_and_update().clone() else { continue };
                let (file, path) = (file.clone(), path.clone());
                let done = tokio::task::spawn_blocking(move || match op {
                    Op::Save { version, document } => save(&file, &path, version, &document),
                    Op::Remove => remove(&file),
                })
                .await;
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "config cache not updated"),
                    Err(e) => tracing::warn!(error = %e, "config cache writer failed"),
                }
            }
        });
        CacheWriter { tx }
    }

    /// Caches `document` at `version`.
    pub(crate) fn save(&self, version: i32, document: String) {
        self.tx.send_replace(Some(Op::Save { version, document }));
    }

    /// Removes the cache file.
    pub(crate) fn remove(&self) {
        self.tx.send_replace(Some(Op::Remove));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = file_for(dir.path(), "shop", "db");
        assert_eq!(load(&file, "/config/shop/db").await.ok(), Some(None), "no file yet");
        let doc = "# a comment\nport = 5432\n[pool]\nname = \"quote \\\" and\nnewline\"\n";
        save(&file, "/config/shop/db", 7, doc).expect("save");
        let back = load(&file, "/config/shop/db").await.expect("load");
        assert_eq!(back, Some(Cached { version: 7, document: doc.to_owned() }));

        let err = load(&file, "/config/shop/other").await.expect_err("another config's file");
        assert!(matches!(err, Error::CorruptCache { .. }), "{err:?}");

        let text = std::fs::read_to_string(&file).expect("read");
        std::fs::write(&file, text.replace("5432", "5433")).expect("edit");
        let err = load(&file, "/config/shop/db").await.expect_err("edited");
        assert!(matches!(&err, Error::CorruptCache { reason, .. } if reason.contains("checksum")), "{err:?}");

        std::fs::write(&file, &text[..text.len() / 2]).expect("truncate");
        let err = load(&file, "/config/shop/db").await.expect_err("truncated");
        assert!(matches!(err, Error::CorruptCache { .. }), "{err:?}");

        remove(&file).expect("remove");
        remove(&file).expect("remove twice");
        assert_eq!(load(&file, "/config/shop/db").await.ok(), Some(None));
        let leftovers: Vec<_> = std::fs::read_dir(file.parent().expect("dir")).expect("ls").collect();
        assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");
    }
}
