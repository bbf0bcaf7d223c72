//! The soak engine for ~20 s against a real ZooKeeper: random provider churn, config publishes
//! and injected session expiries keep every invariant (caches, config versions, `select()`
//! picks), and the process's file descriptors and
//! tokio tasks come back to where they started once the churn is over and everything settled.

use std::time::Duration;

use local_zk::LocalZooKeeper;
use tests::support::init_logging;

/// Growth allowed between the start and the end (same population, everything settled): a
/// leak grows with every expiry and every registration, far past this over a run.
const FD_SLACK: i64 = 8;
const TASK_SLACK: i64 = 8;

#[tokio::test]
async fn twenty_seconds_of_churn_and_expiries_keep_every_invariant_and_flat_resources() {
    init_logging();
    let zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let seed = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2024);
    // SOAK_SEED / SOAK_SECONDS replay or lengthen a run; the defaults keep the suite short.
    let seconds = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let report =
        tests::soak(&zk.connect_string(), Duration::from_secs(seconds), seed).await.expect("soak set-up");
    println!("{report}");

    assert!(report.is_clean(), "invariants broken:\n{report}");
    // The run really exercised what it checks.
    assert!(report.checks >= 4, "{report}");
    assert!(report.registers >= 20 && report.deregisters + report.drops >= 10, "{report}");
    assert!(report.publishes >= 10, "{report}");
    assert!(report.picks_checked >= 100, "{report}");
    assert!(report.expiries >= 3, "{report}");
    assert!(report.sessions_lost >= report.expiries, "every injected expiry was seen as Lost:\n{report}");
    let summary = report.to_string();
    let last = summary.lines().last().expect("a summary line");
    assert!(
        last.starts_with("soak ") && last.contains("violations=0") && last.ends_with("result=ok"),
        "{last}"
    );

    let fds = report.fd_growth().expect("fds measured");
    let tasks = report.task_growth().expect("tasks measured");
    assert!(fds <= FD_SLACK, "file descriptors grew by {fds}:\n{report}");
    assert!(tasks <= TASK_SLACK, "tokio tasks grew by {tasks}:\n{report}");
    assert!(report.rss_growth_kb().is_some(), "RSS measured");
}
