//! `zkmesh jobs` against a real ZooKeeper, with jobs scheduled by the recipes crate.

use std::time::Duration;

use local_zk::support::{chroot, eventually};
use recipes::{Job, JobScheduler, RunContext, Schedule};
use registry::Session;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

fn zkmesh(zk: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .arg("--zk")
        .arg(zk)
        .args(args)
        .env_remove("ZKMESH_ZK")
        .output()
        .expect("run zkmesh");
    assert!(out.status.success(), "zkmesh failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_lists_members_shard_owners_and_last_and_next_runs() {
    let connect = chroot("cli", "jobs");
    let session = Session::connect(&connect).await.expect("connect");
    let scheduler = JobScheduler::new(&session, "host-1").expect("scheduler");
    let every = || Schedule::every(Duration::from_millis(200)).expect("schedule");
    let report = scheduler
        .singleton(Job::new("report", every()).expect("job"), |_: RunContext| async { Ok(()) })
        .await
        .expect("singleton");
    let resize = scheduler
        .sharded(Job::new("resize", every()).expect("job"), 3, |_: RunContext| async { Ok(()) })
        .await
        .expect("sharded");
    eventually(WAIT, "a run and every shard owned", || async {
        let status = recipes::job_status(&session, "report").await.expect("status");
        status.last_run.is_some_and(|r| r.outcome.is_some()) && resize.owned_shards().len() == 3
    })
    .await;

    let json: Value = serde_json::from_str(&zkmesh(&connect, &["--json", "jobs"])).expect("json");
    let jobs = json["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 2, "{json}");
    let report_json = &jobs[0];
    assert_eq!(report_json["job"], "report");
    assert_eq!(report_json["kind"], "singleton");
    assert_eq!(report_json["schedule"], "every 200ms");
    assert_eq!(report_json["members"], serde_json::json!(["host-1"]));
    assert_eq!(report_json["last_run"]["member"], "host-1");
    assert_eq!(report_json["last_run"]["outcome"], "ok");
    assert!(report_json["next_run_ms"].as_i64().is_some());
    assert_eq!(jobs[1]["shard_owners"], serde_json::json!({"0": "host-1", "1": "host-1", "2": "host-1"}));

    let table = zkmesh(&connect, &["jobs", "resize"]);
    assert!(table.contains("sharded (3 items)") && table.contains("members: host-1"), "{table}");
    assert!(table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["2", "host-1"]), "{table}");
    let list = zkmesh(&connect, &["jobs"]);
    assert!(list.contains("report") && list.contains("every 200ms") && list.contains("in "), "{list}");
    report.stop().await.expect("stop");
    resize.stop().await.expect("stop");
}
