//! The names of the nodes one process keeps for each of its users (a config watcher's status
//! node, a subscription's health node): the process's default instance name, one for every
//! crate of zkmesh, and per-process claims on it: two users of one path in one process get
//! `<name>`, `<name>.2`, `<name>.3`, ... so that each keeps a node of its own.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The longest default instance name: a node name may have 255 bytes, and a claim may append
/// `.N` to it.
const MAX_INSTANCE_LEN: usize = 200;

/// This process's default instance name: `$ZKMESH_INSTANCE` when it is a node name of
/// `[A-Za-z0-9._-]` (at most 200 bytes), else `<hostname>-<pid>` with the characters outside that
/// set replaced by `_`. Looked up once; the config center's watchers and the registry's health
/// nodes use the same.
pub fn default_instance() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| instance_from(std::env::var("ZKMESH_INSTANCE").ok(), &hostname(), std::process::id()))
}

fn instance_from(set: Option<String>, host: &str, pid: u32) -> String {
    let valid = |n: &str| {
        !n.is_empty() && n != "." && n != ".." && n.len() <= MAX_INSTANCE_LEN && n.chars().all(node_name_char)
    };
    match set {
        Some(name) if valid(&name) => name,
        _ => {
            let host: String =
                host.chars().map(|c| if node_name_char(c) { c } else { '_' }).take(180).collect();
            format!("{host}-{pid}")
        }
    }
}

fn node_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// This machine's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `localhost`), as
/// zkmesh's default instance names (`<hostname>-<pid>`) and status documents use it. Looked up
/// once per process (every subscription's health publisher and every status writer asks).
pub fn hostname() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
    .clone()
}

/// The claimed paths, each with its environment (ZooKeeper hosts and chroot) in front.
static TAKEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// A node path under a directory, held by one user of this process until dropped.
#[derive(Debug)]
pub struct NodeClaim {
    name: String,
    path: String,
    /// The environment and the path.
    key: String,
}

impl NodeClaim {
    /// Claims `<dir>/<name>` in `environment` (e.g. [`crate::Environment::key`]), or
    /// `<dir>/<name>.2`, `.3`, ... when another user of this process holds it.
    pub fn take(environment: &str, dir: &str, name: &str) -> NodeClaim {
        let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = taken.get_or_insert_with(HashSet::new);
        let mut n = 1u32;
        loop {
            let name = if n == 1 { name.to_owned() } else { format!("{name}.{n}") };
            let path = super::join(dir, &name);
            let key = format!("{environment}{path}");
            if taken.insert(key.clone()) {
                return NodeClaim { name, path, key };
            }
            n = n.saturating_add(1);
        }
    }

    /// The node's name (the instance, with its `.N` when one was added).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Drop for NodeClaim {
    fn drop(&mut self) {
        let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(taken) = taken.as_mut() {
            taken.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{instance_from, NodeClaim};

    #[test]
    fn default_instance_names_are_node_names() {
        let named = |set: &str| instance_from(Some(set.to_owned()), "h", 7);
        assert_eq!(named("web-3"), "web-3");
        assert_eq!(named(&"a".repeat(200)), "a".repeat(200));
        assert_eq!(named(&"a".repeat(201)), "h-7", "too long for a claim's suffix");
        assert_eq!(named("a/b"), "h-7");
        assert_eq!(named(".."), "h-7");
        assert_eq!(instance_from(None, "web 1/a", 42), "web_1_a-42");
        assert_eq!(instance_from(None, &"x".repeat(300), 1).len(), 182);
    }

    #[test]
    fn two_users_of_one_process_get_their_own_name() {
        let a = NodeClaim::take("zk/a", "/services/s/health", "w");
        let b = NodeClaim::take("zk/a", "/services/s/health", "w");
        let other = NodeClaim::take("zk/b", "/services/s/health", "w");
        assert_eq!((a.name(), b.name(), other.name()), ("w", "w.2", "w"));
        assert_eq!(b.path(), "/services/s/health/w.2");
        drop(a);
        assert_eq!(NodeClaim::take("zk/a", "/services/s/health", "w").name(), "w", "free again");
    }
}
