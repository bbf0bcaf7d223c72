//! The local cache: the last accepted document of each watched config, on disk, to start from
//! when ZooKeeper cannot be reached.
//!
//! One file per config and environment (the session's ZooKeeper hosts and chroot,
//! [`registry::Environment`]), `<cache_dir>/<environment dir_name>/<namespace>/<name>.toml`, so
//! that processes of `/prod` and `/staging` can share a cache directory. The file is TOML:
//!
//! ```toml
//! format = 2
//! environment = "10.0.0.1:2181,10.0.0.2:2181/prod"   # Environment::key() of the session
//! path = "/config/shop/db"        # the ZooKeeper path (within the session's chroot)
//! version = 3                     # the document's ZooKeeper data version
//! checksum = "fnv1a64:…"          # of `document`
//! document = "…"                  # the document, as read from ZooKeeper
//! ```
//!
//! Writes are atomic: a temporary file in the same directory, written and fsynced, renamed over
//! the old file, then the directory fsynced. A file that does not parse, has another format,
//! another path or a wrong checksum is reported ([`Error::CorruptCache`]) and ignored; so is a
//! file written for another environment ([`Error::ForeignCache`], naming both), even one copied
//! into this environment's folder.

use std::path::{Path, PathBuf};

use registry::Environment;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Error, Result};

const FORMAT: u32 = 2;

/// The cache file of `namespace`/`name` in `environment`, under `dir`.
pub(crate) fn file_for(dir: &Path, environment: &Environment, namespace: &str, name: &str) -> PathBuf {
    dir.join(environment.dir_name()).join(namespace).join(format!("{name}.toml"))
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
    /// Absent from format 1 files (refused for their format).
    #[serde(default)]
    environment: String,
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

/// One config's cache file: where it is, and the document and environment it is for.
#[derive(Debug, Clone)]
pub(crate) struct CacheFile {
    /// The file.
    pub(crate) file: PathBuf,
    /// The ZooKeeper path of the document.
    pub(crate) path: String,
    /// [`Environment::key`] of the session.
    pub(crate) environment: String,
}

impl CacheFile {
    /// Reads the cached document; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// [`Error::CorruptCache`] for a file that cannot be used, [`Error::ForeignCache`] for one
    /// written for another environment, [`Error::Io`] when it cannot be read.
    pub(crate) async fn load(&self) -> Result<Option<Cached>> {
        let file = &self.file;
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
        if disk.environment != self.environment {
            return Err(Error::ForeignCache {
                file: file.to_owned(),
                written_for: disk.environment,
                expected: self.environment.clone(),
            });
        }
        if disk.path != self.path {
            return Err(corrupt(format!("holds {}, not {}", disk.path, self.path)));
        }
        if disk.checksum != checksum(disk.document.as_bytes()) {
            return Err(corrupt("checksum mismatch".into()));
        }
        Ok(Some(Cached { version: disk.version, document: disk.document }))
    }

    /// Writes the cache file atomically.
    pub(crate) fn save(&self, version: i32, document: &str) -> Result<()> {
        let disk = OnDisk {
            format: FORMAT,
            environment: self.environment.clone(),
            path: self.path.clone(),
            version,
            checksum: checksum(document.as_bytes()),
            document: document.to_owned(),
        };
        let text = toml::to_string(&disk)
            .map_err(|e| Error::Serialize { path: self.path.clone(), message: e.to_string() })?;
        registry::write_file_atomically(&self.file, text.as_bytes())
            .map_err(|e| Error::io(format!("writing config cache {}", self.file.display()), e))
    }

    /// Removes the cache file (no error when it is not there).
    pub(crate) fn remove(&self) -> Result<()> {
        match std::fs::remove_file(&self.file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing config cache {}", self.file.display()), e)),
        }
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
    /// Starts the writer of `file`. It ends once the handle is dropped, after the last update is
    /// written.
    pub(crate) fn spawn(file: CacheFile) -> Self {
        let (tx, mut rx) = watch::channel(None::<Op>);
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some(op) = rx.borrow_and_update().clone() else { continue };
                let file = file.clone();
                let done = tokio::task::spawn_blocking(move || match op {
                    Op::Save { version, document } => file.save(version, &document),
                    Op::Remove => file.remove(),
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

    fn cache_file(dir: &Path, connect: &str, path: &str) -> CacheFile {
        let environment = Environment::of(connect).expect("environment");
        CacheFile {
            file: file_for(dir, &environment, "shop", "db"),
            path: path.to_owned(),
            environment: environment.key(),
        }
    }

    #[tokio::test]
    async fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = cache_file(dir.path(), "127.0.0.1:2181/prod", "/config/shop/db");
        let file = cache.file.clone();
        assert_eq!(cache.load().await.ok(), Some(None), "no file yet");
        let doc = "# a comment\nport = 5432\n[pool]\nname = \"quote \\\" and\nnewline\"\n";
        cache.save(7, doc).expect("save");
        let back = cache.load().await.expect("load");
        assert_eq!(back, Some(Cached { version: 7, document: doc.to_owned() }));

        let other = CacheFile { path: "/config/shop/other".into(), ..cache.clone() };
        let err = other.load().await.expect_err("another config's file");
        assert!(matches!(err, Error::CorruptCache { .. }), "{err:?}");

        let text = std::fs::read_to_string(&file).expect("read");
        std::fs::write(&file, text.replace("5432", "5433")).expect("edit");
        let err = cache.load().await.expect_err("edited");
        assert!(matches!(&err, Error::CorruptCache { reason, .. } if reason.contains("checksum")), "{err:?}");

        std::fs::write(&file, &text[..text.len() / 2]).expect("truncate");
        let err = cache.load().await.expect_err("truncated");
        assert!(matches!(err, Error::CorruptCache { .. }), "{err:?}");

        cache.remove().expect("remove");
        cache.remove().expect("remove twice");
        assert_eq!(cache.load().await.ok(), Some(None));
        let leftovers: Vec<_> = std::fs::read_dir(file.parent().expect("dir")).expect("ls").collect();
        assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");
    }

    #[tokio::test]
    async fn each_environment_has_its_own_file_and_refuses_another_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let prod = cache_file(dir.path(), "127.0.0.1:2181/prod", "/config/shop/db");
        let staging = cache_file(dir.path(), "127.0.0.1:2181/staging", "/config/shop/db");
        assert_ne!(prod.file, staging.file);
        assert!(prod
            .file
            .starts_with(dir.path().join(Environment::of("127.0.0.1:2181/prod").expect("env").dir_name())));
        prod.save(3, "secret = \"prod\"\n").expect("save");
        assert_eq!(staging.load().await.ok(), Some(None), "staging has no file of its own");

        // Prod's file copied where staging looks: refused, naming both environments.
        std::fs::create_dir_all(staging.file.parent().expect("dir")).expect("mkdir");
        std::fs::copy(&prod.file, &staging.file).expect("copy");
        let err = staging.load().await.expect_err("another environment's file");
        assert!(
            matches!(&err, Error::ForeignCache { written_for, expected, .. }
                if written_for == "127.0.0.1:2181/prod" && expected == "127.0.0.1:2181/staging"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("127.0.0.1:2181/prod") && text.contains("127.0.0.1:2181/staging"), "{text}");
    }
}
