//! zkmesh recipes: coordination from the ZooKeeper literature on a [`registry::Session`], as
//! Apache Curator's recipes are built on its framework.
//!
//! Package `zkmesh-recipes`. Applications usually depend on `zkmesh` with its `recipes` feature,
//! which re-exports this crate as `zkmesh::recipes`.
//!
//! Features:
//! - leader election with an observable leader ([`LeaderElection`], [`Leadership`],
//!   [`LeaderObserver`]);
//! - locks: exclusive ([`Lock`]) and read/write ([`ReadWriteLock`]), held as a [`LockGuard`]
//!   with a fencing token ([`LockGuard::fencing_token`], [`Leadership::fencing_token`]);
//! - a counting semaphore ([`Semaphore`], [`Lease`]) shared with Curator's `InterProcessSemaphoreV2`;
//! - a shared integer with compare-and-set and a watch ([`SharedCount`]), Curator's `SharedCount`;
//! - group membership with observed members ([`Group`], [`GroupObserver`]);
//! - a subtree mirrored in memory with add/update/remove events ([`TreeCache`]);
//! - distributed scheduled jobs ([`JobScheduler`]): singleton jobs run once per tick across
//!   every process (interval or cron [`Schedule`], misfire policy, run history), sharded jobs
//!   spread items over the live members;
//! - unique increasing ids ([`IdGenerator`]), a FIFO queue ([`DistributedQueue`]) and a double
//!   barrier ([`DoubleBarrier`], [`BarrierMember`]);
//! - waiters watch only their predecessor; every wait survives disconnections and session expiry.
//!
//! The crate is an ordinary client of registry's public session API ([`registry::Session::core`],
//! [`registry::LiveClient`], [`registry::Retry`]).
//!
//! | recipe | type | nodes |
//! |---|---|---|
//! | leader election, observable leader | [`LeaderElection`], [`Leadership`], [`LeaderObserver`] | `/election/<name>/_c_<uuid>-latch-<seq>` (EPHEMERAL_SEQUENTIAL, data = identity) |
//! | exclusive lock | [`Lock`], [`LockGuard`] | `/locks/<name>/_c_<uuid>-lock-<seq>` (EPHEMERAL_SEQUENTIAL) |
//! | counting semaphore (Curator `InterProcessSemaphoreV2`) | [`Semaphore`], [`Lease`] | `/semaphores/<name>/leases/_c_<uuid>-lease-<seq>` (EPHEMERAL_SEQUENTIAL, data = holder's data), internal lock `/semaphores/<name>/locks/_c_<uuid>-lock-<seq>` |
//! | shared count (Curator `SharedCount`) | [`SharedCount`], [`VersionedCount`] | `/counts/<name>` or any path (PERSISTENT, data = 4-byte big-endian `int`) |
//! | group membership (Curator `GroupMember`) | [`Group`], [`Member`], [`GroupObserver`] | `/groups/<name>/<member id>` (EPHEMERAL, kept by the session, data = member's data) |
//! | tree cache (Curator `CuratorCache`) | [`TreeCache`], [`TreeEvent`] | any subtree, read only (a data and a children watch per node) |
//! | scheduled jobs | [`JobScheduler`], [`Job`], [`Schedule`], [`job_status`] | `/jobs/<name>` (data = kind, schedule, shards), `…/members/<member id>` (EPHEMERAL), singleton: `…/last` (latest claimed tick) and `…/runs/<tick ms, 20 digits>` (PERSISTENT, run record, bounded history), sharded: `…/shards/<item>` (EPHEMERAL, data = owner) |
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
//! - Names (`<name>` above) follow the service-name rules: `[A-Za-z0-9._-]{1,255}`, not `.` or
//!   `..` ([`Error::InvalidName`] otherwise).
//! - No herd: a waiter watches only the node it waits for (its predecessor), never the parent.
//! - Nodes that stand for an owner (lock holders, candidates, barrier members) are ephemeral and
//!   are **not** re-created after session expiry: a lock holder or leader learns of the loss
//!   through its guard ([`LockGuard::lost`], [`Leadership::lost`]). A process that is still
//!   *waiting* when its session expires queues again under the new session.
//! - While the session is `Suspended` (disconnected, session maybe alive) a holder still counts
//!   as holding: ZooKeeper may expire the session, and let someone else in, before this process
//!   hears of it. Work that must never overlap should also pause on
//!   [`registry::SessionState::Suspended`].
//! - Every wait is cancel-safe: dropping a pending `acquire`/`elect`/`enter` future deletes the
//!   node it created (in the background).
//!
//! ```no_run
//! # extern crate registry as zkmesh_registry; // the workspace's key for zkmesh-registry
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let session = zkmesh_registry::Session::connect("127.0.0.1:2181/prod").await?;
//! let lock = zkmesh_recipes::Lock::new(&session, "nightly-report")?;
//! let guard = lock.acquire().await?;
//! tokio::select! {
//!     _ = guard.lost() => eprintln!("lock lost, stopping"),
//!     _ = async { /* the critical work */ } => {}
//! }
//! guard.release().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod barrier;
mod contend;
mod count;
mod election;
mod error;
mod group;
mod held;
mod job_status;
mod jobs;
mod lock;
mod name;
mod node;
mod queue;
mod retry;
mod rwlock;
mod schedule;
mod semaphore;
mod sequence;
mod sharded;
mod singleton;
mod tree;
mod tree_follow;
mod tree_mirror;
mod tree_recursive;

pub use self::barrier::{BarrierMember, DoubleBarrier};
pub use self::count::{SharedCount, VersionedCount};
pub use self::election::{Leader, LeaderElection, LeaderObserver, Leadership};
pub use self::error::{Error, Result};
pub use self::group::{Group, GroupObserver, Member, Members};
pub use self::held::LockGuard;
pub use self::job_status::{job_status, list_jobs, JobStatus, RunRecord};
pub use self::jobs::{
    Job, JobHandle, JobResult, JobScheduler, MisfirePolicy, RunContext, ShardItem, DEFAULT_HISTORY,
    DEFAULT_MISFIRE_THRESHOLD,
};
pub use self::lock::Lock;
pub use self::queue::DistributedQueue;
pub use self::rwlock::ReadWriteLock;
pub use self::schedule::Schedule;
pub use self::semaphore::{Lease, Semaphore};
pub use self::sequence::IdGenerator;
pub use self::tree::{CachedNode, Tree, TreeCache, TreeEvent};
