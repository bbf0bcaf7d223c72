//! Distributed scheduled jobs: singleton (once per tick across processes) and sharded (items
//! spread over the live members).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client::{CreateMode, Error as ZkError};

use registry::{EphemeralNode, Session};

use crate::error::{Error, Result};
use crate::name::recipe_dir;
use crate::schedule::Schedule;

/// Where jobs live.
pub(crate) const ROOT: &str = "/jobs";
/// What its names name, for errors.
const KIND: &str = "job";
/// What member ids name, for errors.
const MEMBER_KIND: &str = "job member";
/// Run history kept by default (Quartz and ElasticJob keep unbounded logs; a bound keeps the
/// job's node small).
pub const DEFAULT_HISTORY: usize = 100;
/// Default lateness after which a tick counts as missed (Quartz's `misfireThreshold`).
pub const DEFAULT_MISFIRE_THRESHOLD: Duration = Duration::from_secs(60);

/// What a job's code returns: `Ok`, or an error recorded in the run's history.
pub type JobResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The job's code, as stored.
pub(crate) type JobFn =
    Arc<dyn Fn(RunContext) -> Pin<Box<dyn Future<Output = JobResult> + Send>> + Send + Sync>;

/// What to do with ticks that nobody ran in time (every scheduler was down, or late by more
/// than the misfire threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MisfirePolicy {
    /// Forget them; run at the next tick (Quartz's `DO_NOTHING`). The default.
    #[default]
    Skip,
    /// Run once now for the latest missed tick, then keep to the schedule (Quartz's
    /// `FIRE_ONCE_NOW`).
    FireOnce,
}

/// One shard item of a sharded job's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardItem {
    /// The item, `0..total`.
    pub item: u32,
    /// How many items the job has.
    pub total: u32,
}

/// What a run is told.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunContext {
    /// The job's name.
    pub job: String,
    /// This process's member id.
    pub member: String,
    /// The tick this run is for, in milliseconds since the Unix epoch (UTC).
    pub tick_ms: i64,
    /// A fencing token: greater for every later claim of this job (a later tick of a singleton,
    /// a later owner of a shard item). Pass it to the storage the job writes to, so that a run
    /// that stalled past its session's expiry (the "holder that paused", see
    /// [`crate::LockGuard::fencing_token`]) is refused there.
    pub fencing_token: u64,
    /// The shard item, for a sharded job.
    pub shard: Option<ShardItem>,
}

/// A job's definition: name, schedule and policies.
#[derive(Debug, Clone)]
pub struct Job {
    pub(crate) name: String,
    pub(crate) dir: String,
    pub(crate) schedule: Schedule,
    pub(crate) misfire: MisfirePolicy,
    pub(crate) misfire_threshold: Duration,
    pub(crate) history: usize,
}

impl Job {
    /// The job `name` (a service-name-like path segment) on `schedule`.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn new(name: &str, schedule: Schedule) -> Result<Job> {
        Ok(Job {
            name: name.to_owned(),
            dir: recipe_dir(KIND, ROOT, name)?,
            schedule,
            misfire: MisfirePolicy::Skip,
            misfire_threshold: DEFAULT_MISFIRE_THRESHOLD,
            history: DEFAULT_HISTORY,
        })
    }

    /// What to do with missed ticks (singleton jobs). Default: [`MisfirePolicy::Skip`].
    pub fn misfire(mut self, policy: MisfirePolicy) -> Self {
        self.misfire = policy;
        self
    }

    /// How late a tick may still run; later, it is missed. Default: 60 s.
    pub fn misfire_threshold(mut self, threshold: Duration) -> Self {
        self.misfire_threshold = threshold;
        self
    }

    /// How many runs (singleton jobs) are kept under `/jobs/<name>/runs`, at least 1. Default: 100.
    pub fn history(mut self, runs: usize) -> Self {
        self.history = runs.max(1);
        self
    }

    /// The job's directory, `/jobs/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    /// The job's schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
}

/// Schedules jobs on one session, as one member of each job.
///
/// Layout, under `/jobs/<name>`:
/// - the job node itself, data `kind=singleton|sharded`, `schedule=...`, `shards=N` (one per line);
/// - `members/<member id>`: EPHEMERAL, kept by the session, one per process scheduling the job;
/// - singleton: `last` (the latest claimed tick) and `runs/<tick ms, 20 digits>` (PERSISTENT, the
///   run's record: member, token, start, finish, outcome; the latest `history` are kept);
/// - sharded: `shards/<item>`: EPHEMERAL, data = the owning member: the claim on a shard item.
///
/// **Singleton jobs** ([`JobScheduler::singleton`]) run once per tick across every process:
/// each scheduler wakes at each tick and claims it with one multi request that moves `last`
/// forward (a version check) and creates the tick's run node. Only one claim of a tick can
/// succeed, and no tick at or before `last` can be claimed, so a late or paused scheduler
/// never runs a tick twice. The run's [`RunContext::fencing_token`] is the run node's creation
/// zxid. A tick missed by everyone (more than the misfire threshold late) follows the
/// [`MisfirePolicy`]. A tick is run at most once: if the process running it dies, the tick is
/// not run again (its run record stays without `finished`); a job that must not lose a tick
/// should make its work idempotent and catch up on the next one.
///
/// **Sharded jobs** ([`JobScheduler::sharded`], the ElasticJob model) spread `N` items over the
/// live members (sorted by id, item `i` to member `i mod m`). A member runs an item only while it
/// holds the item's claim, an ephemeral node: two members never hold one item at once. A member
/// gives up the items no longer assigned to it between runs; when a member dies its claims go
/// with its session (within one session timeout) and the members the items now fall to claim
/// them. Each tick, every member runs each item it holds. A member whose session is `Suspended`
/// runs nothing until it is connected again, and its runs in progress are cancelled.
///
/// Ticks come from each process's own clock: keep the clocks in step (NTP). A process whose clock
/// runs ahead only claims ticks early; no tick runs twice either way.
#[derive(Debug, Clone)]
pub struct JobScheduler {
    session: Session,
    member: String,
}

impl JobScheduler {
    /// A scheduler known to the other members as `member_id` (a service-name-like path segment,
    /// unique per process: a host name and port, say).
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn new(session: &Session, member_id: &str) -> Result<JobScheduler> {
        recipe_dir(MEMBER_KIND, ROOT, member_id)?;
        Ok(JobScheduler { session: session.clone(), member: member_id.to_owned() })
    }

    /// This scheduler's member id.
    pub fn member_id(&self) -> &str {
        &self.member
    }

    /// Runs `job` once per tick across every process scheduling it; see [`JobScheduler`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when this member id already schedules the job in another
    /// session; a ZooKeeper error (connection loss when ZooKeeper is unreachable now);
    /// [`Error::SessionClosed`].
    pub async fn singleton<F, Fut>(&self, job: Job, run: F) -> Result<JobHandle>
    where
        F: Fn(RunContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        let info = format!("kind=singleton\nschedule={}\n", job.schedule);
        let member = self.prepare(&job, &info, &["runs"]).await?;
        let (_, owned) = watch::channel(Vec::new());
        let ctx = self.context(job, boxed(run));
        let task = tokio::spawn(crate::singleton::run(ctx));
        Ok(JobHandle {
            task,
            member: Some(member),
            owned,
            claims: Claims::default(),
            shards_dir: None,
            session: self.session.clone(),
        })
    }

    /// Runs `job` on `shards` items spread over the live members; see [`JobScheduler`].
    ///
    /// # Errors
    /// As [`JobScheduler::singleton`]; [`Error::InvalidArgument`] for 0 shards.
    pub async fn sharded<F, Fut>(&self, job: Job, shards: u32, run: F) -> Result<JobHandle>
    where
        F: Fn(RunContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        if shards == 0 {
            return Err(Error::InvalidArgument {
                what: format!("shards of job {}", job.dir),
                reason: "a sharded job needs at least one item".into(),
            });
        }
        let info = format!("kind=sharded\nschedule={}\nshards={shards}\n", job.schedule);
        let member = self.prepare(&job, &info, &["shards"]).await?;
        let (owned_tx, owned) = watch::channel(Vec::new());
        let claims = Claims::default();
        let shards_dir = Some(registry::join(&job.dir, "shards"));
        let ctx = self.context(job, boxed(run));
        let task = tokio::spawn(crate::sharded::run(ctx, shards, owned_tx, claims.clone()));
        Ok(JobHandle { task, member: Some(member), owned, claims, shards_dir, session: self.session.clone() })
    }

    fn context(&self, job: Job, run: JobFn) -> Arc<JobContext> {
        Arc::new(JobContext { session: self.session.clone(), member: self.member.clone(), job, run })
    }

    /// Writes the job's node and directories and joins its members.
    async fn prepare(&self, job: &Job, info: &str, dirs: &[&str]) -> Result<EphemeralNode> {
        let live = self.session.core().live_now()?;
        for dir in dirs.iter().chain(&["members"]) {
            live.ensure_path(&registry::join(&job.dir, dir)).await?;
        }
        if let Ok((old, _)) = live.client.get_data(&job.dir).await {
            if !old.is_empty() && old != info.as_bytes() {
                // A rolling change of schedule: the newest process's definition wins.
                tracing::warn!(job = %job.dir, was = %String::from_utf8_lossy(&old), now = %info, "job redefined");
            }
        }
        match live.client.set_data(&job.dir, info.as_bytes(), None).await {
            Ok(_) => {}
            Err(ZkError::NoNode) => {
                let options = live.create_options(CreateMode::Persistent);
                match live.client.create(&job.dir, info.as_bytes(), &options).await {
                    Ok(_) | Err(ZkError::NodeExists) => {}
                    Err(e) => return Err(Error::zk("create", &job.dir, e)),
                }
            }
            Err(e) => return Err(Error::zk("set_data", &job.dir, e)),
        }
        let path = registry::join(&registry::join(&job.dir, "members"), &self.member);
        let node = self.session.create_ephemeral(&path, self.member.as_bytes()).await?;
        if let registry::EphemeralStatus::Conflict { owner } = node.status() {
            let _ = node.delete().await;
            return Err(Error::InvalidArgument {
                what: format!("member id {:?} of job {}", self.member, job.dir),
                reason: format!("already scheduling it in another session (0x{owner:x})"),
            });
        }
        Ok(node)
    }
}

fn boxed<F, Fut>(run: F) -> JobFn
where
    F: Fn(RunContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = JobResult> + Send + 'static,
{
    Arc::new(move |ctx| Box::pin(run(ctx)))
}

/// What a job's task works with.
pub(crate) struct JobContext {
    pub(crate) session: Session,
    pub(crate) member: String,
    pub(crate) job: Job,
    pub(crate) run: JobFn,
}

impl JobContext {
    /// The context of a run of `tick`.
    pub(crate) fn run_context(&self, tick_ms: i64, token: u64, shard: Option<ShardItem>) -> RunContext {
        RunContext {
            job: self.job.name.clone(),
            member: self.member.clone(),
            tick_ms,
            fencing_token: token,
            shard,
        }
    }
}

/// The paths of the shard claims a member holds (shared by its task and its handle, which
/// deletes them once the task has stopped).
pub(crate) type Claims = Arc<std::sync::Mutex<Vec<String>>>;

/// A scheduled job of this process. Dropping it stops scheduling (a run in progress is
/// cancelled), and gives up its shard claims and membership in the background.
#[derive(Debug)]
pub struct JobHandle {
    task: tokio::task::JoinHandle<()>,
    member: Option<EphemeralNode>,
    owned: watch::Receiver<Vec<u32>>,
    claims: Claims,
    /// `/jobs/<name>/shards` for a sharded job.
    shards_dir: Option<String>,
    session: Session,
}

impl JobHandle {
    /// The shard items this member holds now (sharded jobs; empty for a singleton).
    pub fn owned_shards(&self) -> Vec<u32> {
        self.owned.borrow().clone()
    }

    /// A watch of [`JobHandle::owned_shards`].
    pub fn owned_watch(&self) -> watch::Receiver<Vec<u32>> {
        self.owned.clone()
    }

    /// Stops scheduling: cancels a run in progress and waits until it is gone, then gives up
    /// this member's shard claims and leaves the job's members.
    ///
    /// # Errors
    /// The ZooKeeper error if a node could not be deleted (it goes with the session).
    pub async fn stop(mut self) -> Result<()> {
        self.task.abort();
        let _ = (&mut self.task).await;
        let mut claims = std::mem::take(&mut *lock(&self.claims));
        let shared = self.session.core();
        if let Some(dir) = &self.shards_dir {
            // A claim whose create was under way when the task stopped is ours too.
            if let Ok(live) = shared.live_now() {
                if let Ok((items, _)) = live.client.get_children(dir).await {
                    claims.extend(items.iter().map(|i| registry::join(dir, i)));
                }
            }
        }
        claims.sort();
        claims.dedup();
        for claim in claims {
            crate::node::delete_ours(&shared, &claim).await?;
        }
        match self.member.take() {
            Some(member) => Ok(member.delete().await?),
            None => Ok(()),
        }
    }
}

impl JobHandle {
    /// Stops the job's task at once, as a crash would, and waits until it is gone: no run is in
    /// progress when this returns. The claims and the member node are left to the session (for
    /// fault drills: close the session next, as a dying process would).
    pub async fn kill(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        lock(&self.claims).clear();
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        self.task.abort();
        let claims = std::mem::take(&mut *lock(&self.claims));
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let shared = self.session.core();
        handle.spawn(async move {
            for claim in claims {
                if let Err(e) = crate::node::delete_ours(&shared, &claim).await {
                    tracing::warn!(%claim, error = %e, "could not give up a shard claim");
                }
            }
        });
    }
}

/// Locks a mutex, recovering from poisoning (every critical section leaves the data valid).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
