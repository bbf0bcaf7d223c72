//! Session states and the ACL of created nodes.

use zookeeper_client::{Acl, AuthId, Permission};

/// Connection state of a logical session, after Curator's `ConnectionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// No ZooKeeper session has been established yet.
    Connecting,
    /// The first ZooKeeper session is established.
    Connected,
    /// The connection dropped; the ZooKeeper session may still be alive and its ephemerals with it.
    /// Nothing cached is cleared: data seen so far stays served.
    Suspended,
    /// The ZooKeeper session expired (or could not be resumed): its ephemerals are gone. The
    /// session layer is opening a new one and will re-create them.
    Lost,
    /// Connected again after `Suspended` (same ZooKeeper session) or after `Lost` (a new one, with
    /// every registered ephemeral re-created).
    Reconnected,
    /// Closed by its owner; terminal.
    Closed,
}

impl SessionState {
    /// Whether requests can be served now (`Connected` or `Reconnected`).
    pub fn is_connected(self) -> bool {
        matches!(self, SessionState::Connected | SessionState::Reconnected)
    }
}

/// Who may do what with the nodes zkmesh creates (registrations, config documents, recipe
/// nodes) and with the shared parents it creates on the way (`/services`, `/services/<service>`,
/// `/services/<service>/providers`, `/config`, `/config/<namespace>`, the chroot).
///
/// Shared parents must let other identities add their own children: with
/// [`NodeAcl::CreatorAllWorldRead`] they get creator-all plus world read **and create**, so that
/// the first process to create `/services` does not lock every other provider out. Who may
/// write under one service or namespace is the operator's to say, with [`crate::AccessPolicy`]:
/// a parent so governed passes its ACL on to the parents re-created below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeAcl {
    /// `world:anyone` may do everything (ZooKeeper's open ACL). The default.
    #[default]
    Open,
    /// The creator's authenticated identities may do everything, everyone else may only read
    /// (consumers need no credentials; nobody without them can delete or overwrite). Needs
    /// [`SessionBuilder::auth`](super::SessionBuilder::auth).
    CreatorAllWorldRead,
    /// These ACL entries exactly, for every node including shared parents.
    Custom(Vec<Acl>),
}

impl NodeAcl {
    /// The ACL of the shared parents this session creates (see the type's docs).
    pub(crate) fn shared_entries(&self) -> Vec<Acl> {
        match self {
            NodeAcl::CreatorAllWorldRead => vec![
                Acl::new(Permission::ALL, AuthId::new("auth", "")),
                Acl::new(Permission::READ | Permission::CREATE, AuthId::anyone()),
            ],
            other => other.entries(),
        }
    }

    pub(crate) fn entries(&self) -> Vec<Acl> {
        match self {
            NodeAcl::Open => vec![Acl::new(Permission::ALL, AuthId::anyone())],
            NodeAcl::CreatorAllWorldRead => vec![
                Acl::new(Permission::ALL, AuthId::new("auth", "")),
                Acl::new(Permission::READ, AuthId::anyone()),
            ],
            NodeAcl::Custom(entries) => entries.clone(),
        }
    }
}
