//! Every example runs against a real local ZooKeeper, exits 0 and tells the story it should.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

/// The ZooKeeper shared by this test binary.
fn shared_zk() -> &'static str {
    local_zk::shared_local_zookeeper().unwrap_or_else(|e| panic!("cannot start the shared ZooKeeper: {e}"))
}

/// Runs an example binary with `--zk <zk>`, killed if it takes longer than 20 s.
async fn run(bin: &str, zk: &str) -> Output {
    let child = tokio::process::Command::new(bin)
        .args(["--zk", zk])
        .env_remove("ZKMESH_ZK")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(20), child)
        .await
        .unwrap_or_else(|_| panic!("{bin} did not finish within 20 s"))
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
}

/// Runs an example against the shared ZooKeeper, asserts exit 0 and that each line of `expect`
/// is in its output; returns the output.
async fn story(bin: &str, expect: &[&str]) -> String {
    let out = run(bin, shared_zk()).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{bin} failed ({}):\n{stdout}\n{stderr}", out.status);
    for needle in expect {
        assert!(stdout.contains(needle), "missing {needle:?} in the output of {bin}:\n{stdout}");
    }
    assert!(!stderr.contains("warning"), "{bin} left its chroot behind:\n{stderr}");
    stdout
}

#[tokio::test]
async fn register() {
    story(
        env!("CARGO_BIN_EXE_register"),
        &[
            "registered http://10.0.0.5:8080/greeter?timestamp=",
            "node path: /services/greeter/providers/http%3A%2F%2F10.0.0.5%3A8080%2Fgreeter%3F",
            "status: Active { session_id: ",
            "services: [\"greeter\"]",
            "consumer registered at /services/greeter/consumers/consumer%3A%2F%2F",
            "subscription sees 10.0.0.5:8080 (weight 100)",
            "deregistered; subscription sees 0 providers",
        ],
    )
    .await;
}

#[tokio::test]
async fn discover() {
    story(
        env!("CARGO_BIN_EXE_discover"),
        &[
            "subscription sees 3 providers:",
            "  10.0.0.3:8080 weight 300",
            "  10.0.0.3:8080 picked ",
            "every share within 2 points of its weight share",
            "change: + 10.0.0.1:8080",
            "change: + 10.0.0.2:8080",
            "change: + 10.0.0.3:8080",
            "10.0.0.3:8080 deregisters",
            "change: - 10.0.0.3:8080",
            "subscription now sees 2 providers",
        ],
    )
    .await;
}

#[tokio::test]
async fn weighted_balance() {
    let out = story(
        env!("CARGO_BIN_EXE_weighted_balance"),
        &[
            "3000 calls over weights 100/100/50:",
            "10.0.0.1:8080 refuses connections: ejected after 1 failed call(s); 300 calls:",
            "10.0.0.1:8080 answers again: back after one probe call; 3000 more calls:",
        ],
    )
    .await;
    // Shares by weight before and after (40/40/20, within a few points over 3000 calls); while
    // it was ejected, the flaky provider served nothing.
    let mut phases: Vec<BTreeMap<String, f64>> = Vec::new();
    for line in out.lines() {
        match line.strip_prefix("  ").and_then(|l| l.split_once(": ")) {
            Some((address, rest)) => {
                let pct = rest.rsplit('(').next().and_then(|p| p.strip_suffix("%)")).unwrap_or("0");
                let phase = phases.last_mut().expect("a header first");
                phase.insert(address.to_owned(), pct.parse().unwrap_or(0.0));
            }
            None => phases.push(BTreeMap::new()),
        }
    }
    let phases: Vec<_> = phases.into_iter().filter(|p| !p.is_empty()).collect();
    assert_eq!(phases.len(), 3, "{out}");
    for phase in [&phases[0], &phases[2]] {
        for (address, want) in [("10.0.0.1:8080", 40.0), ("10.0.0.2:8080", 40.0), ("10.0.0.3:8080", 20.0)] {
            let got = phase.get(address).copied().unwrap_or(0.0);
            assert!((got - want).abs() < 4.0, "{address} {got}% for {want}%:\n{out}");
        }
    }
    assert_eq!(phases[1].get("10.0.0.1:8080"), None, "nothing to the ejected provider:\n{out}");
}

#[tokio::test]
async fn grpc_balance() {
    let out = story(
        env!("CARGO_BIN_EXE_grpc_balance"),
        &[
            "3000 calls over weights 100/100/50:",
            "stopped (still registered); 1000 calls:",
            "failed calls: 0, retried: ",
            "tag canary on ",
        ],
    )
    .await;
    // Shares by weight (40/40/20 within a few points over 3000 calls); after the stop, the two
    // left serve every call, and at most a call or two met the stopped server (then ejected).
    let (balanced, tags) = out.split_once("tag canary on ").expect("the tag phase");
    let (before, after) = balanced.split_once("stopped (still registered)").expect("two phases");
    let shares: Vec<f64> =
        before.lines().filter_map(|l| l.rsplit('(').next()?.strip_suffix("%)")?.parse().ok()).collect();
    assert_eq!(shares.len(), 3, "{out}");
    let mut sorted = shares.clone();
    sorted.sort_by(f64::total_cmp);
    for (got, want) in sorted.iter().zip([20.0, 40.0, 40.0]) {
        assert!((got - want).abs() < 5.0, "{got}% for {want}%:\n{out}");
    }
    let served: usize = after
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_once(": ")?.1.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(served, 1000, "{out}");
    let retried: usize =
        balanced.rsplit("retried: ").next().and_then(|r| r.trim().parse().ok()).expect("retried");
    assert!(
        retried <= 2,
        "ejected at its first refused connection (a call in flight may meet it too):\n{out}"
    );
    // Tag routing over gRPC: every call carrying the tag as metadata reached the canary server,
    // no untagged call did (100 of each).
    let canary = tags.split_whitespace().next().expect("the canary's address");
    let routes: Vec<(&str, usize)> = tags
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (route, n) = l.trim().rsplit_once(": ")?;
            Some((route, n.strip_suffix(" calls")?.parse().ok()?))
        })
        .collect();
    let tagged: Vec<_> = routes.iter().filter(|(r, _)| r.starts_with("canary -> ")).collect();
    assert_eq!(tagged, [&(format!("canary -> {canary}").as_str(), 100)], "{out}");
    let untagged: Vec<_> = routes.iter().filter(|(r, _)| r.starts_with("untagged -> ")).collect();
    assert!(untagged.iter().all(|(r, _)| !r.ends_with(canary)), "no untagged call to the canary:\n{out}");
    assert_eq!(untagged.iter().map(|(_, n)| n).sum::<usize>(), 100, "{out}");
}

#[tokio::test]
async fn tower_balance() {
    let out = story(
        env!("CARGO_BIN_EXE_tower_balance"),
        &[
            "300 calls over 3 providers:",
            "10.0.0.3:8080 deregistered and out of the balancer; 300 more calls:",
            "calls to 10.0.0.3:8080 after it left: 0",
        ],
    )
    .await;
    // Before: all three served; after: the two left served every call.
    let (before, after) = out.split_once("deregistered").expect("two phases");
    for address in ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"] {
        assert!(before.contains(&format!("  {address}: ")), "{address} got no call:\n{out}");
    }
    let served: usize = after
        .lines()
        .filter_map(|l| {
            l.strip_prefix("  ")?.split_once(": ")?.1.strip_suffix(" calls")?.parse::<usize>().ok()
        })
        .sum();
    assert_eq!(served, 300, "{out}");
}

#[tokio::test]
async fn hot_config() {
    story(
        env!("CARGO_BIN_EXE_hot_config"),
        &[
            "start: size 4 from Defaults",
            "published version 0",
            "loaded version 0: size 8, url postgres://db1/shop",
            // The defaults fill in the url the document leaves out.
            "loaded version 1: size 16, url postgres://localhost/shop",
            "publisher refused: /config/shop/pool refused by the validator: size must be 1..=64, not 0",
            "watcher refused: cannot load /config/shop/pool (version 2) at line 2, column 8:",
            "still serving version 1: size 16",
            "rolled back to version 1 as version 3: size 16",
            "history: version 2 (",
            "history: version 1 (10 bytes)",
        ],
    )
    .await;
}

#[tokio::test]
async fn election() {
    let out = story(
        env!("CARGO_BIN_EXE_election"),
        &["crashes", "leadership lost", "resigns", "observer: nobody leads"],
    )
    .await;
    // Three leaders, each seen by the observer, each a different candidate.
    let elected: Vec<&str> =
        out.lines().filter_map(|l| l.strip_suffix(')')?.split_once(": elected (")).map(|(n, _)| n).collect();
    assert_eq!(elected.len(), 3, "{out}");
    let mut distinct = elected.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{out}");
    for name in elected {
        assert!(out.contains(&format!("observer: leader is {name}")), "{out}");
        assert!(out.contains(&format!("{name}: did 3 units of work as leader")), "{out}");
    }
}

#[tokio::test]
async fn lock() {
    story(
        env!("CARGO_BIN_EXE_lock"),
        &[
            "worker-0: done 10 increments",
            "worker-3: done 10 increments",
            "most workers inside the lock at once: 1",
            "final count: 40 (expected 40)",
            "the count is exact",
        ],
    )
    .await;
}

#[tokio::test]
async fn queue() {
    story(
        env!("CARGO_BIN_EXE_queue"),
        &[
            "producer put 20 items and 3 stops",
            "20 distinct items taken, 20 of them exactly once",
            "each of the 20 items was taken exactly once; queue length now 0",
        ],
    )
    .await;
}

#[tokio::test]
async fn barrier() {
    story(
        env!("CARGO_BIN_EXE_barrier"),
        &["participant-3 arrives", "participant-0 released", "all 4 entered together", "all 4 left together"],
    )
    .await;
}

#[tokio::test]
async fn a_failure_is_one_line_on_stderr_and_exit_1() {
    // A malformed chroot fails at once, before any connection attempt.
    let out = run(env!("CARGO_BIN_EXE_register"), "127.0.0.1:1/bad//chroot").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: invalid ZooKeeper path"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn jobs() {
    let out = story(
        env!("CARGO_BIN_EXE_jobs"),
        &[
            "report: 3 members",
            "report: 10 ticks, each run once",
            "resize: worker-c joins",
            "resize: worker-b dies",
            "resize: every item owned by exactly one live worker",
        ],
    )
    .await;
    // Each tick line names one of the three schedulers.
    assert!(out.lines().filter(|l| l.starts_with("report: tick ")).count() >= 11, "{out}");
}
