//! A singleton job's loop: wake at each tick, claim it (once across every process), run it,
//! record the outcome, trim the history.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zookeeper_client::{CreateMode, Error as ZkError, MultiWriteError, MultiWriteResult};

use registry::LiveClient;

use crate::error::{Error, Result};
use crate::jobs::{JobContext, MisfirePolicy};
use crate::node::new_uuid;

/// How long a claim keeps trying through connection trouble before the tick is given up.
const CLAIM_FOR: Duration = Duration::from_secs(10);

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// A run node's name: the tick, zero-padded so that names sort as ticks do.
pub(crate) fn run_name(tick_ms: i64) -> String {
    format!("{tick_ms:020}")
}

/// Whether a tick was claimed here (with its fencing token) or by someone else.
enum Claim {
    Ours(u64),
    Taken,
}

/// The singleton loop of one process.
pub(crate) async fn run(ctx: Arc<JobContext>) {
    let shared = ctx.session.core();
    let mut next = match first_tick(&ctx).await {
        Some(next) => next,
        None => {
            tracing::warn!(job = %ctx.job.dir, schedule = %ctx.job.schedule, "the schedule has no next tick");
            return;
        }
    };
    loop {
        let wait = Duration::from_millis(u64::try_from(next.saturating_sub(now_ms())).unwrap_or(0));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.closed() => return,
        }
        let Some(tick) = due_tick(&ctx, next) else {
            next = match ctx.job.schedule.next_after(now_ms()) {
                Some(n) => n,
                None => return,
            };
            continue;
        };
        match claim_patiently(&ctx, tick).await {
            Ok(Claim::Ours(token)) => run_claimed(&ctx, tick, token).await,
            Ok(Claim::Taken) => tracing::trace!(job = %ctx.job.dir, tick, "tick run elsewhere"),
            Err(Error::SessionClosed) => return,
            Err(e) => tracing::warn!(job = %ctx.job.dir, tick, error = %e, "could not claim a tick"),
        }
        next = match ctx.job.schedule.next_after(tick) {
            Some(n) => n,
            None => return,
        };
    }
}

/// The first tick to attempt: the one after the last claimed (so that ticks missed meanwhile
/// meet the misfire policy), or the next one from now for a job never run.
async fn first_tick(ctx: &JobContext) -> Option<i64> {
    let last = match ctx.session.core().live_now() {
        Ok(live) => read_last(&live, &ctx.job.dir).await.ok().flatten().map(|(tick, _)| tick),
        Err(_) => None,
    };
    ctx.job.schedule.next_after(last.unwrap_or_else(now_ms))
}

/// The tick to claim now for the scheduled tick `next`: `next` itself when it is not later than
/// the misfire threshold; otherwise, per the misfire policy, the latest tick due (`FireOnce`) or
/// none (`Skip`).
fn due_tick(ctx: &JobContext, next: i64) -> Option<i64> {
    let now = now_ms();
    let threshold = ctx.job.misfire_threshold.as_millis() as i64;
    if now <= next.saturating_add(threshold) {
        return Some(next);
    }
    let latest = ctx.job.schedule.latest_at_or_before(now, next);
    tracing::info!(job = %ctx.job.dir, missed_from = next, ?latest, policy = ?ctx.job.misfire, "ticks missed");
    match ctx.job.misfire {
        MisfirePolicy::Skip => None,
        MisfirePolicy::FireOnce => latest,
    }
}

/// Claims `tick`, retrying through connection trouble for a while.
async fn claim_patiently(ctx: &JobContext, tick: i64) -> Result<Claim> {
    let shared = ctx.session.core();
    let mut backoff = shared.backoff();
    let deadline = tokio::time::Instant::now() + CLAIM_FOR;
    let nonce = new_uuid();
    let mut live = match shared.live_now() {
        Ok(live) => live,
        Err(registry::Error::SessionClosed) => return Err(Error::SessionClosed),
        Err(_) => match tokio::time::timeout(CLAIM_FOR, shared.wait_usable(0)).await {
            Ok(live) => live?,
            Err(_) => {
                return Err(Error::Timeout { what: "a connection to claim a tick".into(), after: CLAIM_FOR })
            }
        },
    };
    loop {
        match claim(ctx, &live, tick, &nonce).await {
            Ok(claim) => return Ok(claim),
            Err((op, path, error)) => {
                if registry::Retry::of(&error) == registry::Retry::Never
                    || tokio::time::Instant::now() > deadline
                {
                    return Err(Error::zk(op, path, error));
                }
                live = shared.retry_after(&live, &mut backoff, &error).await?;
            }
        }
    }
}

type ClaimFailure = (&'static str, String, ZkError);

/// One attempt to claim `tick`: move `last` to it and create its run node in one multi request.
async fn claim(ctx: &JobContext, live: &LiveClient, tick: i64, nonce: &str) -> Result<Claim, ClaimFailure> {
    let dir = &ctx.job.dir;
    let last_path = registry::join(dir, "last");
    let run_path = registry::join(&registry::join(dir, "runs"), &run_name(tick));
    let record = format!("member={}\nclaim={nonce}\nstarted={}\n", ctx.member, now_ms());
    loop {
        // A lost answer may hide our own success: our nonce in the run node says so.
        if let Ok((data, stat)) = live.client.get_data(&run_path).await {
            let ours = String::from_utf8_lossy(&data).contains(&format!("claim={nonce}"));
            return Ok(if ours { Claim::Ours(stat.czxid as u64) } else { Claim::Taken });
        }
        let last = read_last(live, dir).await.map_err(|e| ("get_data", last_path.clone(), e))?;
        if matches!(last, Some((claimed, _)) if claimed >= tick) {
            return Ok(Claim::Taken);
        }
        let mut multi = live.client.new_multi_writer();
        let options = live.create_options(CreateMode::Persistent);
        let tick_text = tick.to_string();
        let added = match last {
            Some((_, version)) => multi.add_set_data(&last_path, tick_text.as_bytes(), Some(version)),
            None => multi.add_create(&last_path, tick_text.as_bytes(), &options),
        };
        added
            .and_then(|()| multi.add_create(&run_path, record.as_bytes(), &options))
            .map_err(|e| ("multi", run_path.clone(), e))?;
        match multi.commit().await {
            Ok(results) => return Ok(Claim::Ours(token_of(live, &run_path, &results).await)),
            Err(MultiWriteError::OperationFailed {
                source: ZkError::BadVersion | ZkError::NodeExists,
                ..
            }) => {
                continue; // someone claimed meanwhile: look again
            }
            Err(
                MultiWriteError::OperationFailed { source, .. } | MultiWriteError::RequestFailed { source },
            ) => return Err(("multi", run_path, source)),
        }
    }
}

/// The fencing token of a claim: the run node's creation zxid (read again if the server's
/// answer carries no valid stat, ZOOKEEPER-4026).
async fn token_of(live: &LiveClient, run_path: &str, results: &[MultiWriteResult]) -> u64 {
    let created = results.iter().rev().find_map(|r| match r {
        MultiWriteResult::Create { stat, .. } if stat.czxid > 0 => Some(stat.czxid),
        _ => None,
    });
    if let Some(czxid) = created {
        return czxid as u64;
    }
    match live.client.check_stat(run_path).await {
        Ok(Some(stat)) => stat.czxid as u64,
        _ => 0,
    }
}

/// The latest claimed tick and the version of `last`, if any tick was ever claimed.
pub(crate) async fn read_last(
    live: &LiveClient,
    dir: &str,
) -> std::result::Result<Option<(i64, i32)>, ZkError> {
    match live.client.get_data(&registry::join(dir, "last")).await {
        // Unreadable data counts as "before every tick", so that the next claim overwrites it.
        Ok((data, stat)) => {
            Ok(Some((String::from_utf8_lossy(&data).trim().parse().unwrap_or(i64::MIN), stat.version)))
        }
        Err(ZkError::NoNode) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs a claimed tick, records its outcome in the run node, and trims the history.
async fn run_claimed(ctx: &JobContext, tick: i64, token: u64) {
    tracing::info!(job = %ctx.job.dir, tick, token, "running a claimed tick");
    let started = now_ms();
    let outcome = match (ctx.run)(ctx.run_context(tick, token, None)).await {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            tracing::warn!(job = %ctx.job.dir, tick, error = %e, "job run failed");
            format!("error: {}", e.to_string().replace('\n', " "))
        }
    };
    let Ok(live) = ctx.session.core().live_now() else { return };
    let dir = &ctx.job.dir;
    let run_path = registry::join(&registry::join(dir, "runs"), &run_name(tick));
    let record = format!(
        "member={}\ntoken={token}\nstarted={started}\nfinished={}\noutcome={outcome}\n",
        ctx.member,
        now_ms()
    );
    if let Err(e) = live.client.set_data(&run_path, record.as_bytes(), None).await {
        tracing::debug!(path = %run_path, error = %e, "could not record a run's outcome");
    }
    trim_history(&live, dir, ctx.job.history).await;
}

/// Deletes the oldest run nodes beyond `keep`.
async fn trim_history(live: &LiveClient, dir: &str, keep: usize) {
    let runs = registry::join(dir, "runs");
    let Ok((mut names, _)) = live.client.get_children(&runs).await else { return };
    if names.len() <= keep {
        return;
    }
    names.sort();
    for name in &names[..names.len() - keep] {
        match live.client.delete(&registry::join(&runs, name), None).await {
            Ok(()) | Err(ZkError::NoNode) => {}
            Err(e) => {
                tracing::debug!(%runs, error = %e, "could not trim the run history");
                return;
            }
        }
    }
}
