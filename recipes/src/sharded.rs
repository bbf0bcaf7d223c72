//! A sharded job's loop: follow the members, hold the claims of the items assigned to this
//! member (and only those), run them at each tick.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client::{CreateMode, Error as ZkError};

use registry::{LiveClient, SessionState};

use crate::jobs::{lock, Claims, JobContext, ShardItem};
use crate::singleton::now_ms;

/// A claim on a shard item held by this member.
#[derive(Debug, Clone)]
struct Claim {
    path: String,
    /// The claim node's creation zxid: the item's fencing token.
    czxid: i64,
    /// The generation of the ZooKeeper session the claim node lives in.
    generation: u64,
}

/// The items `me` is assigned among `members` (sorted ids): item `i` goes to member `i mod m`.
pub(crate) fn assigned(total: u32, members: &[String], me: &str) -> Vec<u32> {
    let Some(index) = members.iter().position(|m| m == me) else { return Vec::new() };
    (0..total).filter(|i| *i as usize % members.len() == index).collect()
}

/// The sharded loop of one member.
pub(crate) async fn run(ctx: Arc<JobContext>, total: u32, owned: watch::Sender<Vec<u32>>, claims: Claims) {
    let shared = ctx.session.core();
    let dir = ctx.job.dir.clone();
    let (Ok(mut members), Ok(mut shards)) = (
        ctx.session.watch_children(&registry::join(&dir, "members")),
        ctx.session.watch_children(&registry::join(&dir, "shards")),
    ) else {
        return;
    };
    let mut states = ctx.session.state_watch();
    let mut held = BTreeMap::new();
    let Some(mut next) = ctx.job.schedule.next_after(now_ms()) else { return };
    loop {
        rebalance(&ctx, total, &mut held, &claims).await;
        owned.send_if_modified(|o| {
            let now: Vec<u32> = held.keys().copied().collect();
            std::mem::replace(o, now.clone()) != now
        });
        *lock(&claims) = held.values().map(|c: &Claim| c.path.clone()).collect();
        let wait = Duration::from_millis(u64::try_from(next.saturating_sub(now_ms())).unwrap_or(0));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                run_items(&ctx, total, next, &held).await;
                let threshold = ctx.job.misfire_threshold.as_millis() as i64;
                let from = if now_ms() > next.saturating_add(threshold) { now_ms() } else { next };
                let Some(after) = ctx.job.schedule.next_after(from) else { return };
                next = after;
            }
            changed = members.changed() => if changed.is_err() { return },
            changed = shards.changed() => if changed.is_err() { return },
            changed = states.changed() => if changed.is_err() { return },
            _ = shared.closed() => return,
        }
    }
}

/// Brings this member's claims in line with the members ZooKeeper lists now: drops claims lost
/// with an old session or deleted, gives up items no longer assigned here, claims the assigned
/// items nobody holds. Changes nothing while ZooKeeper is unreachable.
async fn rebalance(ctx: &JobContext, total: u32, held: &mut BTreeMap<u32, Claim>, claims: &Claims) {
    let Ok(live) = ctx.session.core().live_now() else { return };
    let dir = &ctx.job.dir;
    let shards_dir = registry::join(dir, "shards");
    let (Ok((mut members, _)), Ok((claimed, _))) = (
        live.client.get_children(&registry::join(dir, "members")).await,
        live.client.get_children(&shards_dir).await,
    ) else {
        return;
    };
    members.sort();
    held.retain(|item, c| {
        let kept = c.generation == live.generation && claimed.contains(&item.to_string());
        if !kept {
            tracing::warn!(job = %dir, item, "shard claim lost");
        }
        kept
    });
    let wanted = assigned(total, &members, &ctx.member);
    let unwanted: Vec<u32> = held.keys().filter(|i| !wanted.contains(i)).copied().collect();
    for item in unwanted {
        if let Some(claim) = held.remove(&item) {
            match live.client.delete(&claim.path, None).await {
                Ok(()) | Err(ZkError::NoNode) => tracing::info!(job = %dir, item, "shard item handed over"),
                Err(e) => {
                    tracing::debug!(path = %claim.path, error = %e, "could not give up a shard claim yet");
                    held.insert(item, claim);
                }
            }
        }
    }
    let missing: Vec<u32> = wanted.into_iter().filter(|i| !held.contains_key(i)).collect();
    for item in missing {
        if let Some(claim) =
            take(&live, &shards_dir, item, &ctx.member, claimed.contains(&item.to_string())).await
        {
            tracing::info!(job = %dir, item, "shard item claimed");
            lock(claims).push(claim.path.clone());
            held.insert(item, claim);
        }
    }
}

/// Claims `item` (or adopts our own claim, whose create answer was lost). `None`: held by
/// another member, or ZooKeeper refused; the claims watch brings us back when it changes.
async fn take(live: &LiveClient, shards_dir: &str, item: u32, member: &str, listed: bool) -> Option<Claim> {
    let path = registry::join(shards_dir, &item.to_string());
    let ours = live.client.session_id().0;
    if listed {
        let stat = live.client.check_stat(&path).await.ok()??;
        return (stat.ephemeral_owner == ours).then_some(Claim {
            path,
            czxid: stat.czxid,
            generation: live.generation,
        });
    }
    let options = live.create_options(CreateMode::Ephemeral);
    match live.client.create(&path, member.as_bytes(), &options).await {
        Ok((stat, _)) => Some(Claim { path, czxid: stat.czxid, generation: live.generation }),
        Err(ZkError::NodeExists) => None,
        Err(e) => {
            tracing::debug!(%path, error = %e, "could not claim a shard item");
            None
        }
    }
}

/// Runs every held item for `tick`, all at once; cancelled if the session is disconnected or
/// lost meanwhile (the claims may be gone).
async fn run_items(ctx: &JobContext, total: u32, tick: i64, held: &BTreeMap<u32, Claim>) {
    let Ok(live) = ctx.session.core().live_now() else { return };
    if !ctx.session.state().is_connected() {
        tracing::info!(job = %ctx.job.dir, tick, "not connected: shard items not run");
        return;
    }
    let runs = held.iter().filter(|(_, c)| c.generation == live.generation).map(|(item, claim)| {
        let shard = ShardItem { item: *item, total };
        (ctx.run)(ctx.run_context(tick, claim.czxid as u64, Some(shard)))
    });
    let runs = futures::future::join_all(runs);
    let mut states = ctx.session.state_watch();
    tokio::select! {
        results = runs => {
            for result in results {
                if let Err(e) = result {
                    tracing::warn!(job = %ctx.job.dir, tick, error = %e, "shard item run failed");
                }
            }
        }
        _ = states.wait_for(|s| *s != SessionState::Connected && *s != SessionState::Reconnected) => {
            tracing::warn!(job = %ctx.job.dir, tick, "session disconnected: shard item runs cancelled");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_dealt_round_robin_over_sorted_members() {
        let members: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(assigned(7, &members, "a"), [0, 3, 6]);
        assert_eq!(assigned(7, &members, "c"), [2, 5]);
        assert!(assigned(7, &members, "z").is_empty(), "not a member: nothing");
        let all: usize = members.iter().map(|m| assigned(7, &members, m).len()).sum();
        assert_eq!(all, 7, "every item once");
    }
}
