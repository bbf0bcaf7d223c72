//! The demo runs end to end against a local ZooKeeper and tells its story.

#[test]
fn the_demo_runs_every_step_and_exits_zero() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rpc-demo"))
        // A session outlives the ejection's first back-off (1 s) with room to spare, so the
        // killed provider, listening again, is readmitted by its probe before it expires.
        .args(["--requests", "120", "--session-timeout", "4"])
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
        "p1 ejected at its first failed request",
        "p1 readmitted by the consumer's probe",
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

#[test]
fn metrics_are_served_in_prometheus_format() {
    use std::io::{BufRead, BufReader, Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut demo = std::process::Command::new(env!("CARGO_BIN_EXE_rpc-demo"))
        .args(["--requests", "40", "--session-timeout", "2", "--metrics", &format!("127.0.0.1:{port}")])
        .env_remove("ZKMESH_ZK")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run rpc-demo");
    let stdout = demo.stdout.take().expect("stdout");
    let mut saw_keep = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if line.contains("keeping the metrics up") {
            saw_keep = true;
            break;
        }
    }
    assert!(saw_keep, "the demo reached its end");
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    conn.read_to_string(&mut body).expect("response");
    let _ = demo.kill();
    let _ = demo.wait();
    for name in [
        "zkmesh_session_connected",
        "zkmesh_providers",
        "zkmesh_watch_events_total",
        "zkmesh_provider_updates_total",
        "zkmesh_ejections_total",
    ] {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }
    assert!(body.contains("zkmesh_providers{service=\"greeter\"}"), "{body}");
}
