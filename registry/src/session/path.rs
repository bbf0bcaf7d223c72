//! ZooKeeper path helpers: validation, joining and `mkdir -p`.

use zookeeper_client::{Acl, Acls, Client, CreateMode, Error as ZkError, Permission};

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
/// Racing creators are tolerated.
///
/// Nodes that exist are never created again: ZooKeeper checks the parent's ACL before it checks
/// whether the node exists, so creating an existing `/services` under a chroot whose ACL refuses
/// this identity would fail with `NoAuth` naming a node that was not being created. Each missing
/// node gets [`container_acl`] of its parent's ACL and `shared` (the session's ACL for shared
/// parents).
pub(crate) async fn ensure_path(client: &Client, path: &str, shared: &[Acl]) -> Result<()> {
    validate_path(path)?;
    if path == "/" {
        return Ok(());
    }
    for _ in 0..4 {
        match create_missing(client, path, shared).await {
            // A parent was deleted meanwhile: walk again.
            Err(Error::Zookeeper { source: ZkError::NoNode, path: ref failed, .. })
                if path_exists_above(failed) => {}
            other => return other,
        }
    }
    create_missing(client, path, shared).await
}

/// Whether a `NoNode` on `path` may be a race (the parent went away) rather than a missing root.
fn path_exists_above(path: &str) -> bool {
    parent(path).is_some_and(|p| p != "/")
}

/// One walk of [`ensure_path`]: finds the deepest existing ancestor, then creates downwards.
async fn create_missing(client: &Client, path: &str, shared: &[Acl]) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        match client.check_stat(at).await {
            Ok(Some(_)) => break,
            Ok(None) if at == "/" => {
                // The chroot itself is missing: reported as a `NoNode` on the first level.
                let first = missing.last().copied().unwrap_or(path);
                return Err(Error::zk("create", first, ZkError::NoNode));
            }
            Ok(None) => missing.push(at),
            Err(e) => return Err(Error::zk("exists", at, e)),
        }
        at = parent(at).unwrap_or("/");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let (mut parent_acl, _) = client.get_acl(at).await.map_err(|e| Error::zk("get_acl", at, e))?;
    for node in missing.into_iter().rev() {
        let acl = container_acl(&parent_acl, shared);
        let options = CreateMode::Persistent.with_acls(Acls::new(&acl));
        match client.create(node, &[], &options).await {
            Ok(_) => parent_acl = acl,
            Err(ZkError::NodeExists) => parent_acl = read_acl(client, node).await?,
            // Refused, unless someone else created it between our check and our create.
            Err(ZkError::NoAuth) => match client.check_stat(node).await {
                Ok(Some(_)) => parent_acl = read_acl(client, node).await?,
                _ => return Err(Error::zk("create", node, ZkError::NoAuth)),
            },
            Err(e) => return Err(Error::zk("create", node, e)),
        }
    }
    Ok(())
}

async fn read_acl(client: &Client, path: &str) -> Result<Vec<Acl>> {
    client.get_acl(path).await.map(|(acl, _)| acl).map_err(|e| Error::zk("get_acl", path, e))
}

/// The ACL of a parent node zkmesh creates under a node with ACL `parent`: a parent that lets
/// anyone create children (ZooKeeper's open ACL, or zkmesh's shared parents) passes on the
/// session's ACL for shared parents, `shared`; a parent that does not (an operator granted
/// write rights on it with [`crate::AccessPolicy`]) passes on its own ACL, so that nodes
/// re-created below it (after a deletion, a wiped chroot) keep the same rights.
pub(crate) fn container_acl(parent: &[Acl], shared: &[Acl]) -> Vec<Acl> {
    if parent.is_empty() || lets_anyone_create(parent) {
        shared.to_vec()
    } else {
        parent.to_vec()
    }
}

/// Whether `acl` grants `CREATE` to `world:anyone`.
pub(crate) fn lets_anyone_create(acl: &[Acl]) -> bool {
    acl.iter().any(|a| a.scheme() == "world" && a.id() == "anyone" && a.permission().has(Permission::CREATE))
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
