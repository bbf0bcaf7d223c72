//! Per-process claims on the names of the nodes one process keeps for each of its users (a
//! config watcher's status node, a subscription's health node): two users of one path in one
//! process get `<name>`, `<name>.2`, `<name>.3`, ... so that each keeps a node of its own.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

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
    use super::NodeClaim;

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
