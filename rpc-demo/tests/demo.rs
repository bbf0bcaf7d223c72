//! The demo runs end to end against a local ZooKeeper and tells its story.

#[test]
fn the_demo_runs_every_step_and_exits_zero() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rpc-demo"))
        .args(["--requests", "120", "--session-timeout", "2"])
        .env_remove("ZKMESH_ZK")
        .output()
        .expect("run rpc-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in [
        "consumer sees 3 providers of greeter",
        "PROVIDER",
        "requests during the change: 120 ok, 0 failed",
        "after: \"Howdy, zkmesh!\"",
        "hot-reloaded it within",
        "publishing an empty greeting: refused",
        "ZooKeeper expired p1's session",
        "demo finished: every step passed",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn a_bad_argument_exits_non_zero() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rpc-demo"))
        .args(["--providers", "1"])
        .output()
        .expect("run rpc-demo");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--providers must be at least 2"));
}
