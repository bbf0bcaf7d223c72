//! [`ProviderFeed`]: the provider node names of a subscription that does not watch them itself.

use std::sync::Arc;

use super::Directory;
use crate::session::{ChildChange, ChildrenUpdate};

/// Hands a subscription its providers' node names (`/services/<service>/providers/<name>`),
/// for a follower that watches many services with one persistent recursive watch on their root
/// (as `zkmesh dev --metrics` does) instead of one watch per subscription. Obtained from
/// [`crate::Registry::subscribe_fed`].
///
/// The subscription applies what it is handed as it applies its own watch's events: a full
/// listing resets it, a created or deleted name changes it with no read, and only a new name is
/// decoded. Whoever feeds it keeps it right: a full listing after every gap of its watch
/// ([`crate::TreeWatch`] says when).
#[derive(Clone)]
pub struct ProviderFeed {
    dir: Arc<Directory>,
}

impl std::fmt::Debug for ProviderFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderFeed").field("service", &self.dir.service).finish()
    }
}

impl ProviderFeed {
    pub(crate) fn new(dir: Arc<Directory>) -> Self {
        ProviderFeed { dir }
    }

    /// The service fed.
    pub fn service(&self) -> &str {
        &self.dir.service
    }

    /// Every provider node name there is now (an absent directory lists none).
    pub fn listed(&self, names: Vec<String>) {
        self.dir.apply_update(ChildrenUpdate::Listed(names));
    }

    /// Provider nodes created (`true`) or deleted (`false`) since the last update, in
    /// ZooKeeper's order.
    pub fn changed(&self, changes: impl IntoIterator<Item = (String, bool)>) {
        let changes: Vec<ChildChange> = changes
            .into_iter()
            .map(
                |(name, created)| {
                    if created {
                        ChildChange::Created(name)
                    } else {
                        ChildChange::Deleted(name)
                    }
                },
            )
            .collect();
        if !changes.is_empty() {
            self.dir.apply_update(ChildrenUpdate::Changed(changes));
        }
    }
}
