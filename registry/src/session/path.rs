//! ZooKeeper path helpers: validation, joining and `mkdir -p`.

use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError};

use crate::error::{Error, Result};

/// Checks that `path` is an absolute ZooKeeper path: starts with `/`, no empty segment, no
/// trailing `/` (except the root itself), no `.`/`..` segment and no NUL.
pub fn validate_path(path: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::InvalidPath { path: path.to_owned(), reason: reason.to_owned() });
    if !path.starts_with('/') {
        return bad("must start with '/'");
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return bad("must not end with '/'");
    }
    for segment in path[1..].split('/') {
        match segment {
            "" => return bad("empty segment"),
            "." | ".." => return bad("relative segment"),
            s if s.contains('\0') => return bad("contains NUL"),
            _ => {}
        }
    }
    Ok(())
}

/// `parent` + `/` + `child`, without doubling the `/` under the root.
pub fn join(parent: &str, child: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The parent of an absolute path (`None` for the root).
pub(crate) fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

/// `mkdir -p`: creates `path` and its missing ancestors as persistent nodes with empty data.
/// Racing creators are tolerated (`NodeExists` is success).
pub(crate) async fn ensure_path(client: &Client, path: &str, acls: Acls<'_>) -> Result<()> {
    validate_path(path)?;
    if path == "/" {
        return Ok(());
    }
    let options = CreateMode::Persistent.with_acls(acls);
    // Fast path: the whole path usually exists already or only its last segment is missing.
    match client.create(path, &[], &options).await {
        Ok(_) | Err(ZkError::NodeExists) => return Ok(()),
        Err(ZkError::NoNode) => {}
        Err(e) => return Err(Error::zk("create", path, e)),
    }
    let mut end = 0;
    while let Some(i) = path[end + 1..].find('/') {
        end += 1 + i;
        match client.create(&path[..end], &[], &options).await {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(e) => return Err(Error::zk("create", &path[..end], e)),
        }
    }
    match client.create(path, &[], &options).await {
        Ok(_) | Err(ZkError::NodeExists) => Ok(()),
        Err(e) => Err(Error::zk("create", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_paths() {
        for ok in ["/", "/a", "/a/b.c/d-e", "/services/greeter/providers"] {
            assert!(validate_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "/a/", "//a", "/a//b", "/a/./b", "/a/..", "/a\0b"] {
            assert!(matches!(validate_path(bad), Err(Error::InvalidPath { .. })), "{bad:?}");
        }
    }

    #[test]
    fn joins_and_splits() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
    }
}
