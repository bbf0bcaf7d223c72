//! The session layer: one logical ZooKeeper session that outlives `SessionExpired`.
//!
//! `zookeeper-client` gives one ZooKeeper session per [`Client`](zookeeper_client::Client), and a
//! client is dead for good once its session expires. [`Session`] owns a *logical* session on top:
//! a supervisor task ([`supervisor`](self)) follows the client's state, reports it as
//! Curator-style [`SessionState`]s, and when the session is lost it opens a new client (with
//! back-off while ZooKeeper is unreachable), re-creates every ephemeral node its owners
//! registered, and only then announces [`SessionState::Reconnected`]. Watch loops
//! ([`NodeWatch`]) and ephemeral keepers ([`EphemeralNode`]) follow the new client by its
//! *generation* number.
//!
//! Files: `builder.rs` (how to connect), `state.rs` (states, ACLs), `handle.rs` ([`Session`],
//! [`LiveClient`]), `supervisor.rs` ([`SessionCore`], the state every task shares, and the task
//! that replaces expired clients), `retry.rs` (the one classification of ZooKeeper errors and
//! the one wait for a client worth retrying with), `backoff.rs`, `ephemeral.rs` (keepers),
//! `watch.rs` (push-then-pull loops), `persistent.rs` (a directory's children followed by one
//! persistent recursive watch, its events applied without a read, a read after every gap),
//! `tree_watch.rs` ([`TreeWatch`]: one persistent recursive watch on a
//! subtree, armed again after every gap, for code that mirrors many nodes), `path.rs` (path
//! checks and `mkdir -p`).
//!
//! Code built on the session (recipes, config center, your own) holds an `Arc<SessionCore>`
//! from [`Session::core`] in its background tasks: it reaches the live client of the current
//! generation, waits for the next one, and retries with the same policy as zkmesh's own loops,
//! without keeping the session open.

mod backoff;
mod builder;
mod environment;
mod ephemeral;
mod handle;
mod identity;
mod node_claim;
mod path;
mod persistent;
mod retry;
mod state;
mod supervisor;
mod tree_watch;
mod watch;

pub use self::backoff::Backoff;
pub use self::builder::{
    SessionBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RETRY_MAX, DEFAULT_RETRY_MIN, DEFAULT_SESSION_TIMEOUT,
};
pub use self::environment::Environment;
pub use self::ephemeral::{EphemeralNode, EphemeralStatus};
pub use self::handle::{LiveClient, Session};
pub use self::node_claim::{default_instance, hostname, NodeClaim};
pub use self::path::{join, validate_path};
pub use self::retry::{is_transient, watch_event, Retry};
pub use self::state::{NodeAcl, SessionState};
pub use self::supervisor::SessionCore;
pub use self::tree_watch::{TreeWatch, TreeWatchEvent};
pub use self::watch::{NodeEvent, NodeWatch, WatchTask};

pub(crate) use self::ephemeral::WATCHES_IN_FLIGHT;
pub(crate) use self::identity::{configured_identity, describe_identity};
pub(crate) use self::path::{ensure_path, lets_anyone_create, parent};
pub(crate) use self::persistent::{follow_children, ChildChange, ChildrenUpdate};
pub(crate) use self::supervisor::lock;
pub(crate) use self::watch::{run, Read, WatchKind};
