//! What ZooKeeper says about scheduled jobs: members, shard owners, last and next runs (for
//! `zkmesh jobs` and operators' own tools).

use std::collections::BTreeMap;

use zookeeper_client::Error as ZkError;

use registry::{LiveClient, Session};

use crate::error::{Error, Result};
use crate::jobs::ROOT;
use crate::name::recipe_dir;
use crate::schedule::Schedule;
use crate::singleton::{now_ms, read_last, run_name};

/// One recorded run of a singleton job (`/jobs/<name>/runs/<tick>`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunRecord {
    /// The tick, in milliseconds since the Unix epoch.
    pub tick_ms: i64,
    /// The member that ran it.
    pub member: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: Option<i64>,
    /// When it finished (`None`: running, or its process died).
    pub finished_ms: Option<i64>,
    /// `ok` or `error: ...` once finished.
    pub outcome: Option<String>,
}

/// A job as ZooKeeper shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobStatus {
    /// The job's name.
    pub name: String,
    /// `singleton` or `sharded` (empty if the job node says nothing).
    pub kind: String,
    /// The schedule, if the job node names one that parses.
    pub schedule: Option<Schedule>,
    /// How many shard items (sharded jobs).
    pub shards: Option<u32>,
    /// The live members (sorted).
    pub members: Vec<String>,
    /// Shard item → the member holding its claim.
    pub shard_owners: BTreeMap<u32, String>,
    /// The latest run (singleton jobs).
    pub last_run: Option<RunRecord>,
    /// How many runs the history holds.
    pub runs_kept: usize,
    /// The next tick after now, in milliseconds since the Unix epoch.
    pub next_run_ms: Option<i64>,
}

/// The names of the jobs under `/jobs`, sorted.
///
/// # Errors
/// A ZooKeeper error (connection loss when ZooKeeper is unreachable now); [`Error::SessionClosed`].
pub async fn list_jobs(session: &Session) -> Result<Vec<String>> {
    let live = session.core().live_now()?;
    let mut names = children(&live, ROOT).await?;
    names.sort();
    Ok(names)
}

/// The status of job `name`.
///
/// # Errors
/// [`Error::InvalidName`]; [`Error::InvalidArgument`] if there is no such job; as [`list_jobs`].
pub async fn job_status(session: &Session, name: &str) -> Result<JobStatus> {
    let dir = recipe_dir("job", ROOT, name)?;
    let live = session.core().live_now()?;
    let info = match live.client.get_data(&dir).await {
        Ok((data, _)) => String::from_utf8_lossy(&data).into_owned(),
        Err(ZkError::NoNode) => {
            return Err(Error::InvalidArgument { what: format!("job {dir}"), reason: "no such job".into() })
        }
        Err(e) => return Err(Error::zk("get_data", dir, e)),
    };
    let field =
        |key: &str| info.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(str::to_owned);
    let schedule = field("schedule").and_then(|s| Schedule::parse(&s).ok());
    let mut members = children(&live, &registry::join(&dir, "members")).await?;
    members.sort();
    let mut shard_owners = BTreeMap::new();
    let shards_dir = registry::join(&dir, "shards");
    for item in children(&live, &shards_dir).await? {
        let Ok(n) = item.parse::<u32>() else { continue };
        if let Ok((owner, _)) = live.client.get_data(&registry::join(&shards_dir, &item)).await {
            shard_owners.insert(n, String::from_utf8_lossy(&owner).into_owned());
        }
    }
    let runs_kept = children(&live, &registry::join(&dir, "runs")).await?.len();
    let last_run = last_run(&live, &dir).await?;
    Ok(JobStatus {
        name: name.to_owned(),
        kind: field("kind").unwrap_or_default(),
        next_run_ms: schedule.as_ref().and_then(|s| s.next_after(now_ms())),
        schedule,
        shards: field("shards").and_then(|s| s.parse().ok()),
        members,
        shard_owners,
        last_run,
        runs_kept,
    })
}

/// The record of the latest claimed tick, if any.
async fn last_run(live: &LiveClient, dir: &str) -> Result<Option<RunRecord>> {
    let last = read_last(live, dir).await.map_err(|e| Error::zk("get_data", dir, e))?;
    let Some((tick_ms, _)) = last.filter(|(tick, _)| *tick != i64::MIN) else {
        return Ok(None);
    };
    let path = registry::join(&registry::join(dir, "runs"), &run_name(tick_ms));
    let text = match live.client.get_data(&path).await {
        Ok((data, _)) => String::from_utf8_lossy(&data).into_owned(),
        Err(ZkError::NoNode) => String::new(),
        Err(e) => return Err(Error::zk("get_data", path, e)),
    };
    let field =
        |key: &str| text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(str::to_owned);
    Ok(Some(RunRecord {
        tick_ms,
        member: field("member").unwrap_or_default(),
        started_ms: field("started").and_then(|s| s.parse().ok()),
        finished_ms: field("finished").and_then(|s| s.parse().ok()),
        outcome: field("outcome"),
    }))
}

/// The children of `path` (none if it does not exist).
async fn children(live: &LiveClient, path: &str) -> Result<Vec<String>> {
    match live.client.get_children(path).await {
        Ok((names, _)) => Ok(names),
        Err(ZkError::NoNode) => Ok(Vec::new()),
        Err(e) => Err(Error::zk("get_children", path, e)),
    }
}
