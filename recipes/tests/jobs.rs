//! Scheduled jobs against a real ZooKeeper: a singleton job scheduled by 3 processes runs once
//! per tick, missed ticks follow the misfire policy, and a sharded job keeps every item with
//! exactly one live member while members die and join.

// The registry's test support names the registry by its own name.
extern crate registry as zkmesh_registry;

/// The registry suite's test support (one copy for both crates).
#[path = "../../registry/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use registry::Session;
use zkmesh_recipes::{job_status, Job, JobHandle, JobScheduler, MisfirePolicy, RunContext, Schedule};

const WAIT: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// Tick → the (member, token) of every run of it.
type Runs = Arc<Mutex<BTreeMap<i64, Vec<(String, u64)>>>>;

async fn singleton(session: &Session, member: &str, job: Job, runs: &Runs) -> JobHandle {
    let runs = runs.clone();
    JobScheduler::new(session, member)
        .expect("scheduler")
        .singleton(job, move |ctx: RunContext| {
            let runs = runs.clone();
            async move {
                runs.lock()
                    .expect("runs")
                    .entry(ctx.tick_ms)
                    .or_default()
                    .push((ctx.member, ctx.fencing_token));
                Ok(())
            }
        })
        .await
        .expect("schedule")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_singleton_job_scheduled_by_three_processes_runs_once_per_tick() {
    const INTERVAL: i64 = 150;
    let connect = chroot("jobs-singleton");
    let schedule = Schedule::every(Duration::from_millis(INTERVAL as u64)).expect("schedule");
    let runs = Runs::default();
    let mut handles = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..3 {
        let s = session(&connect).await;
        let job = Job::new("report", schedule.clone()).expect("job").history(5);
        handles.push(singleton(&s, &format!("node-{i}"), job, &runs).await);
        sessions.push(s);
    }
    let first = schedule.next_after(now_ms() + 2 * INTERVAL).expect("tick");
    let window: Vec<i64> = (0..20).map(|i| first + i * INTERVAL).collect();
    let last = *window.last().expect("20 ticks");
    eventually(WAIT, "20 ticks run", || async { runs.lock().expect("runs").contains_key(&last) }).await;
    let status = job_status(&sessions[0], "report").await.expect("status");
    assert_eq!(status.members, ["node-0", "node-1", "node-2"]);
    assert_eq!(status.kind, "singleton");
    assert!(status.next_run_ms.is_some_and(|n| n > last));
    for handle in handles {
        handle.stop().await.expect("stop");
    }

    let runs = runs.lock().expect("runs").clone();
    let in_window: Vec<_> = window.iter().map(|t| runs.get(t).map_or(0, Vec::len)).collect();
    assert_eq!(in_window, [1; 20], "every tick of the window exactly once");
    assert!(runs.values().all(|r| r.len() == 1), "no tick twice: {runs:?}");
    let tokens: Vec<u64> = runs.values().map(|r| r[0].1).collect();
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "fencing tokens increase with the ticks: {tokens:?}");
    let runners: std::collections::BTreeSet<_> = runs.values().map(|r| r[0].0.clone()).collect();
    assert!(!runners.is_empty());

    // The history keeps the latest 5; the last run is recorded with its outcome.
    let status = job_status(&sessions[0], "report").await.expect("status");
    assert_eq!(status.runs_kept, 5);
    assert!(status.members.is_empty(), "every scheduler left");
    let last_run = status.last_run.expect("a last run");
    assert_eq!(last_run.tick_ms, *runs.keys().last().expect("runs"));
    assert_eq!(last_run.outcome.as_deref(), Some("ok"));
}

/// Runs `job` on one scheduler until it ran once, stops it, waits out 4 ticks, and starts it
/// again with `policy`; returns the tick run before, the restart time, and the first tick run
/// after the restart.
async fn missed_ticks(name: &str, policy: MisfirePolicy) -> (i64, i64, i64) {
    let connect = chroot(&format!("jobs-misfire-{name}"));
    let s = session(&connect).await;
    let job = || {
        Job::new(name, Schedule::every(Duration::from_millis(200)).expect("schedule"))
            .expect("job")
            .misfire(policy)
            .misfire_threshold(Duration::from_millis(100))
    };
    let runs = Runs::default();
    let handle = singleton(&s, "a", job(), &runs).await;
    eventually(WAIT, "a first run", || async { !runs.lock().expect("runs").is_empty() }).await;
    handle.stop().await.expect("stop");
    let before = *runs.lock().expect("runs").keys().last().expect("a run");
    tokio::time::sleep(Duration::from_millis(800)).await; // nobody alive for 4 ticks
    let restart = now_ms();
    let again = Runs::default();
    let handle = singleton(&s, "b", job(), &again).await;
    eventually(WAIT, "a run after the restart", || async { !again.lock().expect("runs").is_empty() }).await;
    handle.stop().await.expect("stop");
    let after = *again.lock().expect("runs").keys().next().expect("a run");
    (before, restart, after)
}

#[tokio::test]
async fn ticks_missed_while_nobody_ran_follow_the_misfire_policy() {
    let (before, restart, after) = missed_ticks("fire-once", MisfirePolicy::FireOnce).await;
    assert!(
        before < after && after < restart,
        "one catch-up run for a missed tick: {before} < {after} < {restart}"
    );
    let (before, restart, after) = missed_ticks("skip", MisfirePolicy::Skip).await;
    assert!(before < restart && restart < after, "missed ticks skipped: {before} < {restart} < {after}");
}

/// A sharded member: records overlapping runs of an item and counts runs per item.
struct Shards {
    running: Mutex<HashMap<u32, String>>,
    overlaps: AtomicUsize,
    runs: Mutex<HashMap<u32, usize>>,
}

/// Takes an item out of the running ones when dropped.
struct Leave<'a>(&'a Mutex<HashMap<u32, String>>, u32);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

async fn sharded_member(connect: &str, member: &str, shards: &Arc<Shards>) -> (Session, JobHandle) {
    let s = session(connect).await;
    let job = Job::new("work", Schedule::every(Duration::from_millis(100)).expect("schedule")).expect("job");
    let shards = shards.clone();
    let handle = JobScheduler::new(&s, member)
        .expect("scheduler")
        .sharded(job, 6, move |ctx: RunContext| {
            let shards = shards.clone();
            async move {
                let item = ctx.shard.expect("a shard item").item;
                if let Some(other) = shards.running.lock().expect("running").insert(item, ctx.member.clone())
                {
                    eprintln!("item {item} run by {} while {other} runs it", ctx.member);
                    shards.overlaps.fetch_add(1, Ordering::SeqCst);
                }
                // Out of `running` however the run ends (a killed member's run is dropped).
                let _leave = Leave(&shards.running, item);
                tokio::time::sleep(Duration::from_millis(10)).await;
                *shards.runs.lock().expect("runs").entry(item).or_default() += 1;
                Ok(())
            }
        })
        .await
        .expect("sharded");
    (s, handle)
}

/// Waits until ZooKeeper shows every item claimed by the member it falls to among `live`.
async fn owned_exactly_by(raw: &zookeeper_client::Client, live: &[&str]) {
    let mut live: Vec<&str> = live.to_vec();
    live.sort();
    let expected: BTreeMap<String, String> =
        (0..6usize).map(|i| (i.to_string(), live[i % live.len()].to_owned())).collect();
    eventually(WAIT, &format!("items dealt over {live:?}"), || async {
        let mut owners = BTreeMap::new();
        for item in raw.list_children("/jobs/work/shards").await.unwrap_or_default() {
            if let Ok((owner, _)) = raw.get_data(&format!("/jobs/work/shards/{item}")).await {
                owners.insert(item, String::from_utf8_lossy(&owner).into_owned());
            }
        }
        owners == expected
    })
    .await;
}

/// Waits until every item ran at least once more.
async fn every_item_runs(shards: &Shards) {
    let base = shards.runs.lock().expect("runs").clone();
    eventually(WAIT, "every item runs again", || async {
        let runs = shards.runs.lock().expect("runs");
        (0..6).all(|i| runs.get(&i).copied().unwrap_or(0) > base.get(&i).copied().unwrap_or(0))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_job_keeps_each_item_with_one_live_member_while_members_die_and_join() {
    let connect = chroot("jobs-sharded");
    let raw = raw(&connect).await;
    let shards = Arc::new(Shards {
        running: Default::default(),
        overlaps: AtomicUsize::new(0),
        runs: Default::default(),
    });
    let mut members = HashMap::new();
    for id in ["m0", "m1", "m2"] {
        members.insert(id, sharded_member(&connect, id, &shards).await);
    }
    owned_exactly_by(&raw, &["m0", "m1", "m2"]).await;
    every_item_runs(&shards).await;
    assert_eq!(members["m1"].1.owned_shards(), [1, 4]);

    // m1 dies: its run stops, then its session ends.
    let (s, handle) = members.remove("m1").expect("m1");
    handle.kill().await;
    s.close().await;
    owned_exactly_by(&raw, &["m0", "m2"]).await;
    every_item_runs(&shards).await;

    // Two join, then m0 dies.
    for id in ["m3", "m4"] {
        members.insert(id, sharded_member(&connect, id, &shards).await);
    }
    owned_exactly_by(&raw, &["m0", "m2", "m3", "m4"]).await;
    every_item_runs(&shards).await;
    let (s, handle) = members.remove("m0").expect("m0");
    handle.kill().await;
    s.close().await;
    owned_exactly_by(&raw, &["m2", "m3", "m4"]).await;
    every_item_runs(&shards).await;

    assert_eq!(shards.overlaps.load(Ordering::SeqCst), 0, "an item ran on two members at once");
    let status = job_status(&members["m2"].0, "work").await.expect("status");
    assert_eq!(status.shards, Some(6));
    assert_eq!(status.members, ["m2", "m3", "m4"]);
    for (_, (_, handle)) in members {
        handle.stop().await.expect("stop");
    }
    assert!(raw.list_children("/jobs/work/shards").await.expect("shards").is_empty(), "claims given up");
}

#[tokio::test]
async fn an_unreadable_last_tick_is_overwritten_not_fatal() {
    let connect = chroot("jobs-garbage");
    let raw = raw(&connect).await;
    let persistent = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    for (path, data) in [("/jobs", &b""[..]), ("/jobs/g", b""), ("/jobs/g/last", b"not a tick")] {
        raw.create(path, data, &persistent).await.expect("create");
    }
    let s = session(&connect).await;
    let runs = Runs::default();
    let job = Job::new("g", Schedule::every(Duration::from_millis(100)).expect("schedule")).expect("job");
    let handle = singleton(&s, "a", job, &runs).await;
    eventually(WAIT, "a run", || async { !runs.lock().expect("runs").is_empty() }).await;
    handle.stop().await.expect("stop");
    let (last, _) = raw.get_data("/jobs/g/last").await.expect("last");
    let last: i64 = String::from_utf8_lossy(&last).parse().expect("a tick again");
    assert!(runs.lock().expect("runs").contains_key(&last));
}
