//! Distributed scheduled jobs: three processes (three sessions, as far as ZooKeeper knows)
//! schedule the same singleton job and each tick runs exactly once, on one of them; then a
//! sharded job spreads 6 items over two members, a third joins and takes its share, and one
//! dies and its items move to the others.
//!
//! ```text
//! cargo run -p examples --bin jobs -- --zk 127.0.0.1:2181
//! ```
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examples::BoxError;
use recipes::{Job, JobHandle, JobScheduler, RunContext, Schedule};
use registry::Session;

const WAIT: Duration = Duration::from_secs(10);
const TICKS: usize = 10;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("jobs", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    singleton(&zk).await?;
    sharded(&zk).await
}

/// Tick → who ran it, with which fencing token.
type Runs = Arc<Mutex<BTreeMap<i64, Vec<(String, u64)>>>>;

async fn singleton(zk: &str) -> Result<(), BoxError> {
    let runs = Runs::default();
    let mut handles = Vec::new();
    for name in ["node-a", "node-b", "node-c"] {
        let session = Session::connect(zk).await?;
        let job = Job::new("report", Schedule::every(Duration::from_millis(200))?)?.history(20);
        let runs = runs.clone();
        let handle = JobScheduler::new(&session, name)?
            .singleton(job, move |ctx: RunContext| {
                let runs = runs.clone();
                async move {
                    // The token goes with every write the run makes, so a store can refuse a
                    // run that stalled past its session's expiry.
                    println!(
                        "report: tick {} run by {} (token {})",
                        ctx.tick_ms, ctx.member, ctx.fencing_token
                    );
                    runs.lock()
                        .expect("runs")
                        .entry(ctx.tick_ms)
                        .or_default()
                        .push((ctx.member, ctx.fencing_token));
                    Ok(())
                }
            })
            .await?;
        handles.push((session, handle));
    }
    tokio::time::timeout(WAIT * 2, async {
        while runs.lock().expect("runs").len() < TICKS + 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await?;
    let status = recipes::job_status(&handles[0].0, "report").await?;
    println!(
        "report: {} members, schedule {}",
        status.members.len(),
        status.schedule.map(|s| s.to_string()).unwrap_or_default()
    );
    for (_, handle) in handles {
        handle.stop().await?;
    }
    // The first tick may have come before every scheduler was up: count the ones after it.
    let runs = runs.lock().expect("runs").clone();
    let counted: Vec<usize> = runs.values().skip(1).take(TICKS).map(Vec::len).collect();
    if counted != vec![1; TICKS] {
        return Err(format!("ticks ran {counted:?} times").into());
    }
    println!("report: {TICKS} ticks, each run once");
    Ok(())
}

async fn member(zk: &str, name: &str) -> Result<(Session, JobHandle), BoxError> {
    let session = Session::connect(zk).await?;
    let job = Job::new("resize", Schedule::every(Duration::from_millis(200))?)?;
    let handle = JobScheduler::new(&session, name)?
        .sharded(job, 6, |ctx: RunContext| async move {
            let _item = ctx.shard.map(|s| s.item); // resize the images of this item's bucket
            Ok(())
        })
        .await?;
    Ok((session, handle))
}

/// Waits until the members own `expected` items each (in order), and prints who owns what.
async fn wait_owned(members: &[(&str, &(Session, JobHandle))], expected: &[usize]) -> Result<(), BoxError> {
    tokio::time::timeout(WAIT, async {
        loop {
            let counts: Vec<usize> = members.iter().map(|(_, (_, h))| h.owned_shards().len()).collect();
            if counts == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await?;
    for (name, (_, handle)) in members {
        println!("resize: {name} owns items {:?}", handle.owned_shards());
    }
    Ok(())
}

async fn sharded(zk: &str) -> Result<(), BoxError> {
    let a = member(zk, "worker-a").await?;
    let b = member(zk, "worker-b").await?;
    wait_owned(&[("worker-a", &a), ("worker-b", &b)], &[3, 3]).await?;
    println!("resize: worker-c joins");
    let c = member(zk, "worker-c").await?;
    wait_owned(&[("worker-a", &a), ("worker-b", &b), ("worker-c", &c)], &[2, 2, 2]).await?;
    println!("resize: worker-b dies");
    let (session, handle) = b;
    handle.kill().await;
    session.close().await;
    wait_owned(&[("worker-a", &a), ("worker-c", &c)], &[3, 3]).await?;
    println!("resize: every item owned by exactly one live worker");
    a.1.stop().await?;
    c.1.stop().await?;
    Ok(())
}
