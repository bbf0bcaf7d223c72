//! Coordination recipes from the ZooKeeper literature, on a [`crate::Session`].
//!
//! | recipe | type | nodes |
//! |---|---|---|
//! | leader election, observable leader | [`LeaderElection`], [`Leadership`], [`LeaderObserver`] | `/election/<name>/_c_<uuid>-latch-<seq>` (EPHEMERAL_SEQUENTIAL, data = identity) |
//! | exclusive lock | [`Lock`], [`LockGuard`] | `/locks/<name>/_c_<uuid>-lock-<seq>` (EPHEMERAL_SEQUENTIAL) |
//! | read/write lock | [`ReadWriteLock`], [`LockGuard`] | `/locks/<name>/_c_<uuid>-__READ__<seq>`, `…-__WRIT__<seq>` |
//! | unique increasing ids | [`IdGenerator`] | `/ids/<name>/_c_<uuid>-id-<seq>` (PERSISTENT_SEQUENTIAL, deleted at once) |
//! | FIFO queue | [`DistributedQueue`] | `/queues/<name>/qn-<seq>` (PERSISTENT_SEQUENTIAL, data = item), waiting takers `…/_c_<uuid>-taker-<seq>` (EPHEMERAL_SEQUENTIAL) |
//! | double barrier | [`DoubleBarrier`], [`BarrierMember`] | `/barriers/<name>` (data = size), `…/_c_<uuid>-member-<seq>` (EPHEMERAL_SEQUENTIAL), `…/ready` |
//!
//! The layouts follow Apache Curator (`InterProcessMutex`, `InterProcessReadWriteLock`,
//! `LeaderLatch`: a `_c_<uuid>-` prefix on every sequential node, so that a create whose answer
//! was lost can be found again) and the ZooKeeper recipes (`qn-` queue items, the `ready` node of
//! the double barrier), so that a Java or Python program can take part.
//!
//! Common rules:
//! - Names (`<name>` above) follow the service-name rules ([`crate::validate_service_name`]).
//! - No herd: a waiter watches only the node it waits for (its predecessor), never the parent.
//! - Nodes that stand for an owner (lock holders, candidates, barrier members) are ephemeral and
//!   are **not** re-created after session expiry: a lock holder or leader learns of the loss
//!   through its guard ([`LockGuard::lost`], [`Leadership::lost`]). A process that is still
//!   *waiting* when its session expires queues again under the new session.
//! - While the session is `Suspended` (disconnected, session maybe alive) a holder still counts
//!   as holding: ZooKeeper may expire the session, and let someone else in, before this process
//!   hears of it. Work that must never overlap should also pause on
//!   [`crate::SessionState::Suspended`].
//! - Every wait is cancel-safe: dropping a pending `acquire`/`elect`/`enter` future deletes the
//!   node it created (in the background).

mod barrier;
mod contend;
mod election;
mod held;
mod lock;
mod node;
mod queue;
mod rwlock;
mod sequence;

pub use self::barrier::{BarrierMember, DoubleBarrier};
pub use self::election::{Leader, LeaderElection, LeaderObserver, Leadership};
pub use self::held::LockGuard;
pub use self::lock::Lock;
pub use self::queue::DistributedQueue;
pub use self::rwlock::ReadWriteLock;
pub use self::sequence::IdGenerator;
