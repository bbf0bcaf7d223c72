//! The built `zkmesh` binary against a real ZooKeeper, including nodes written by another
//! client in the documented layout.

mod common;

use common::*;
use std::process::Stdio;
use std::time::Duration;

use local_zk::LocalZooKeeper;
use registry::ServiceUrl;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use zookeeper_client::{Acls, Client, CreateMode};

const WAIT: Duration = Duration::from_secs(20);

async fn write_provider(client: &Client, url: &str) -> String {
    let url = ServiceUrl::parse(url).expect("url");
    let dir = format!("/services/{}/providers", url.service());
    client.mkdir(&dir, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.expect("mkdir");
    let path = format!("{dir}/{}", url.to_node_name());
    client.create(&path, b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.expect("create");
    path
}

#[tokio::test]
async fn lists_services_and_decodes_nodes_written_by_another_client() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let connect = zk.connect_string();
    let other = Client::connect(&connect).await.expect("connect");
    write_provider(&other, "http://10.0.0.5:8080/greeter?version=1.2&weight=100&zone=east").await;
    write_provider(&other, "dubbo://[::1]:20880/greeter?group=g1").await;
    write_provider(&other, "http://10.0.0.9:80/orders").await;
    // A node that is not a URL: shown as such, never a crash.
    other
        .create(
            "/services/orders/providers/garbage",
            b"",
            &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
        )
        .await
        .expect("create");

    let json: Value =
        serde_json::from_str(&stdout(&zkmesh(&connect, &["--json", "services"]))).expect("json");
    assert_eq!(
        json["services"],
        serde_json::json!([
            {"service": "greeter", "layouts": ["zkmesh"], "providers": 2, "consumers": 0, "instances": 0, "unknown": []},
            {"service": "orders", "layouts": ["zkmesh"], "providers": 2, "consumers": 0, "instances": 0, "unknown": []},
        ])
    );
    let table = stdout(&zkmesh(&connect, &["services"]));
    assert!(table.lines().next().is_some_and(|h| h.starts_with("SERVICE")), "{table}");
    assert!(table.contains("greeter") && table.contains("orders"), "{table}");

    let json: Value =
        serde_json::from_str(&stdout(&zkmesh(&connect, &["providers", "greeter", "--json"]))).expect("json");
    let providers = json["providers"].as_array().expect("list");
    assert_eq!(providers.len(), 2);
    let http = providers.iter().find(|p| p["host"] == "10.0.0.5").expect("decoded");
    assert_eq!(
        (&http["port"], &http["weight"], &http["version"], &http["zone"], &http["group"]),
        (&Value::from(8080), &Value::from(100), &Value::from("1.2"), &Value::from("east"), &Value::Null)
    );
    assert!(http["age_seconds"].as_u64().is_some(), "age from the node's ctime: {http}");
    let v6 = providers.iter().find(|p| p["host"] == "::1").expect("IPv6 decoded");
    assert_eq!(v6["group"], "g1");

    let table = stdout(&zkmesh(&connect, &["providers", "orders"]));
    assert!(table.contains("10.0.0.9") && table.contains("undecodable node garbage"), "{table}");
}

#[tokio::test]
async fn failures_exit_non_zero_with_one_line() {
    let mut zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let connect = zk.connect_string();
    let cases: [(&[&str], &str); 4] = [
        (&["providers", "nosuch"], "unknown service"),
        (&["providers", "bad/name"], "invalid service name"),
        (&["register", "svc", "http://h/svc"], "missing port"),
        (&["register", "svc", "http://h:1/other"], "names service"),
    ];
    for (args, message) in cases {
        let out = zkmesh(&connect, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("zkmesh: ") && err.contains(message), "{args:?}: {err}");
    }
    zk.stop().await.expect("stop");
    let out = zkmesh(&connect, &["--timeout", "1", "services"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach ZooKeeper") && err.contains(&connect), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

async fn next_json(lines: &mut Lines) -> Value {
    let line = tokio::time::timeout(WAIT, lines.next_line()).await.expect("a line in time").expect("read");
    serde_json::from_str(&line.expect("a line")).expect("json line")
}

/// Starts `zkmesh register` and waits until it says it registered `url`.
async fn spawn_register(connect: &str, service: &str, url: &str) -> (tokio::process::Child, Lines) {
    let mut register = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["--zk", connect, "register", service, url])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn register");
    let mut out = BufReader::new(register.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(WAIT, out.next_line()).await.expect("in time").expect("read");
    let base = url.split('?').next().unwrap_or(url);
    assert!(line.as_deref().is_some_and(|l| l.starts_with(&format!("registered {base}"))), "{line:?}");
    (register, out)
}

#[tokio::test]
async fn register_holds_until_interrupted_and_watch_streams_json_lines() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let connect = zk.connect_string();
    let other = Client::connect(&connect).await.expect("connect");
    let first = write_provider(&other, "http://10.0.0.1:1/svc").await;

    let mut watch = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["--zk", &connect, "--json", "watch", "svc"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn watch");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let event = next_json(&mut lines).await;
    assert_eq!((event["event"].as_str(), event["address"].as_str()), (Some("added"), Some("10.0.0.1:1")));

    let (mut register, _out) = spawn_register(&connect, "svc", "http://10.0.0.2:2/svc?weight=7").await;
    let event = next_json(&mut lines).await;
    assert_eq!((event["event"].as_str(), event["weight"].as_u64()), (Some("added"), Some(7)));

    // Ctrl-C: the registration is removed before the command exits.
    let pid = nix::unistd::Pid::from_raw(register.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = tokio::time::timeout(WAIT, register.wait()).await.expect("exits").expect("status");
    assert!(status.success());
    let event = next_json(&mut lines).await;
    assert_eq!((event["event"].as_str(), event["address"].as_str()), (Some("removed"), Some("10.0.0.2:2")));

    other.delete(&first, None).await.expect("delete");
    let event = next_json(&mut lines).await;
    assert_eq!((event["event"].as_str(), event["address"].as_str()), (Some("removed"), Some("10.0.0.1:1")));
    watch.kill().await.expect("stop watch");
}

#[tokio::test]
async fn dev_serves_a_local_zookeeper_until_interrupted() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["dev", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn dev");
    let mut out = BufReader::new(dev.stdout.take().expect("stdout")).lines();
    let line =
        tokio::time::timeout(Duration::from_secs(60), out.next_line()).await.expect("starts").expect("read");
    let connect = format!("127.0.0.1:{port}");
    assert!(line.is_some_and(|l| l.contains(&connect)), "says where it serves");
    let json: Value =
        serde_json::from_str(&stdout(&zkmesh(&connect, &["--json", "services"]))).expect("json");
    assert_eq!(json["services"], serde_json::json!([]));
    let pid = nix::unistd::Pid::from_raw(dev.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = tokio::time::timeout(WAIT, dev.wait()).await.expect("exits").expect("status");
    assert!(status.success());
    assert!(std::net::TcpStream::connect(&connect).is_err(), "ZooKeeper stopped with it");
}

/// A free port of 127.0.0.1 (free when asked).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port()
}

/// The body of `GET /metrics` on `addr`, or `None` if there is no 200 answer (yet).
async fn scrape(addr: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.ok()?;
    let mut response = String::new();
    tokio::time::timeout(WAIT, conn.read_to_string(&mut response)).await.ok()?.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// Scrapes `addr` until a body has every line of `lines` (exactly), and returns that body.
async fn scrape_until(addr: &str, lines: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = scrape(addr).await;
        if let Some(body) = &body {
            if lines.iter().all(|want| body.lines().any(|line| line == *want)) {
                return body.clone();
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let ours: Vec<&str> =
                body.iter().flat_map(|b| b.lines()).filter(|l| l.starts_with("zkmesh_")).collect();
            panic!("never scraped {lines:?} from {addr}; the zkmesh_ lines of the last scrape: {ours:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn dev_serves_metrics_for_every_service_and_zookeeper() {
    let (port, metrics_port) = (free_port(), free_port());
    let metrics = format!("127.0.0.1:{metrics_port}");
    let mut dev = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["dev", "--port", &port.to_string(), "--metrics", &metrics])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn dev");
    let mut out = BufReader::new(dev.stdout.take().expect("stdout")).lines();
    let announced = format!("metrics on http://{metrics}/metrics");
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = out.next_line().await.expect("read") {
            if line.starts_with(&announced) {
                return true;
            }
        }
        false
    });
    assert!(ready.await.expect("starts in time"), "announces {announced:?}");

    let connect = format!("127.0.0.1:{port}");
    let (mut register, _out) = spawn_register(&connect, "metered", "http://10.0.0.3:3/metered").await;

    let session = format!("zkmesh_session_connected{{connect=\"{connect}\"}} 1");
    let body = scrape_until(&metrics, &["zkmesh_providers{service=\"metered\"} 1", &session]).await;
    let znodes = body
        .lines()
        .find_map(|l| l.strip_prefix("zookeeper_znode_count "))
        .unwrap_or_else(|| panic!("zookeeper_znode_count missing from:\n{body}"));
    assert!(znodes.parse::<f64>().is_ok_and(|n| n >= 4.0), "/, /zookeeper, /services, ...: {znodes}");
    for gauge in ["zookeeper_watch_count ", "zookeeper_num_alive_connections ", "zookeeper_avg_latency "] {
        assert!(body.lines().any(|l| l.starts_with(gauge)), "{gauge} missing from:\n{body}");
    }
    assert!(!body.contains("zookeeper_version") && !body.contains("zookeeper_server_state"), "{body}");
    // Following is not consuming: the dev process registered no consumer node.
    let json: Value =
        serde_json::from_str(&stdout(&zkmesh(&connect, &["--json", "services"]))).expect("json");
    assert_eq!(
        json["services"],
        serde_json::json!([{"service": "metered", "layouts": ["zkmesh"], "providers": 1, "consumers": 0, "instances": 0, "unknown": []}])
    );

    let pid = nix::unistd::Pid::from_raw(register.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = tokio::time::timeout(WAIT, register.wait()).await.expect("exits").expect("status");
    assert!(status.success());
    scrape_until(&metrics, &["zkmesh_providers{service=\"metered\"} 0"]).await;

    let pid = nix::unistd::Pid::from_raw(dev.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = tokio::time::timeout(WAIT, dev.wait()).await.expect("exits").expect("status");
    assert!(status.success());
    let mut rest = Vec::new();
    while let Some(line) = out.next_line().await.expect("read") {
        rest.push(line);
    }
    assert_eq!(rest.last().map(String::as_str), Some("stopped"), "{rest:?}");
    assert!(std::net::TcpStream::connect(&connect).is_err(), "ZooKeeper stopped with it");
    assert!(std::net::TcpStream::connect(&metrics).is_err(), "the metrics endpoint stopped with it");
}

#[tokio::test]
async fn dev_refuses_a_bad_or_busy_metrics_address() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = busy.local_addr().expect("addr").to_string();
    let port = free_port().to_string();
    for (address, message) in [
        (busy.as_str(), "cannot serve metrics on"),
        ("nonsense", "invalid --metrics address"),
        ("127.0.0.1:0", "invalid --metrics address"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zkmesh"))
            .args(["dev", "--port", &port, "--metrics", address])
            .output()
            .expect("run zkmesh dev");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{address}: should fail");
        assert_eq!(err.trim_end().lines().count(), 1, "{address}: one line: {err}");
        assert!(err.starts_with("zkmesh: ") && err.contains(message), "{address}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{address}: nothing started: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test]
async fn config_put_get_diff_history_rollback_and_watch() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let connect = zk.connect_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let v0 = write("v0.toml", "greeting = \"Hello\"\ntimeout_ms = 100\n");
    let v1 = write("v1.toml", "greeting = \"Howdy\"\ntimeout_ms = 100\n");
    let bad = write("bad.toml", "greeting = \n");

    let mut watch = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["--zk", &connect, "--json", "config", "watch", "demo", "greeter"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn watch");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let first = next_json(&mut lines).await;
    assert_eq!(first["version"], Value::Null, "absent at first: {first}");

    let out = stdout(&zkmesh(
        &connect,
        &["--json", "config", "put", "demo", "greeter", &v0, "--expect-version", "-1"],
    ));
    assert_eq!(serde_json::from_str::<Value>(&out).expect("json")["version"], 0);
    let seen = next_json(&mut lines).await;
    assert_eq!((seen["version"].as_i64(), seen["document"]["greeting"].as_str()), (Some(0), Some("Hello")));

    let got = stdout(&zkmesh(&connect, &["config", "get", "demo", "greeter"]));
    assert!(got.contains("version 0") && got.contains("greeting = \"Hello\""), "{got}");
    let diff = stdout(&zkmesh(&connect, &["config", "diff", "demo", "greeter", &v1]));
    assert_eq!(diff.lines().collect::<Vec<_>>(), ["- greeting = \"Hello\"", "+ greeting = \"Howdy\""]);
    assert!(stdout(&zkmesh(&connect, &["config", "diff", "demo", "greeter", &v0])).contains("no differences"));

    // A stale version and a bad document are refused with one line, nothing written.
    for (args, message) in [
        (vec!["config", "put", "demo", "greeter", &v1, "--expect-version", "5"], "version"),
        (vec!["config", "put", "demo", "greeter", &bad], &format!("{bad}, line 1, column 12: not TOML")),
        (vec!["config", "get", "demo", "nosuch"], "no config"),
        (vec!["config", "put", "bad/ns", "greeter", &v1], "invalid"),
    ] {
        let out = zkmesh(&connect, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.starts_with("zkmesh: ") && err.contains(message), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }

    let put =
        ["config", "put", "demo", "greeter", &v1, "--expect-version", "0", "--author", "ana", "-m", "howdy"];
    stdout(&zkmesh(&connect, &put));
    let seen = next_json(&mut lines).await;
    assert_eq!((seen["version"].as_i64(), seen["document"]["greeting"].as_str()), (Some(1), Some("Howdy")));
    let history: Value =
        serde_json::from_str(&stdout(&zkmesh(&connect, &["--json", "config", "history", "demo", "greeter"])))
            .expect("json");
    let entries = history["history"].as_array().expect("entries");
    let seen: Vec<_> = entries
        .iter()
        .map(|e| (e["version"].as_i64(), e["current"].as_bool(), e["author"].as_str(), e["message"].as_str()))
        .collect();
    assert_eq!(seen[0], (Some(1), Some(true), Some("ana"), Some("howdy")), "{history}");
    assert_eq!((seen[1].0, seen[1].1, seen[1].3), (Some(0), Some(false), None), "{history}");
    let table = stdout(&zkmesh(&connect, &["config", "history", "demo", "greeter"]));
    assert!(table.contains("AUTHOR") && table.contains("ana") && table.contains("howdy"), "{table}");
    // The identity is the session's (no credentials here), not the author the command gave.
    assert_eq!(entries[0]["identity"].as_str(), Some("anonymous (no credentials)"), "{history}");
    assert!(table.contains("IDENTITY") && table.contains("anonymous (no credentials)"), "{table}");

    // The watch command is a watcher like any other: it shows in the fleet status.
    let status = zkmesh(
        &connect,
        &["--json", "--timeout", "20", "config", "status", "demo", "greeter", "--wait", "1"],
    );
    let status: Value = serde_json::from_str(&stdout(&status)).expect("json");
    assert_eq!(status["watchers"].as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(
        (status["watchers"][0]["version"].as_i64(), status["watchers"][0]["state"].as_str()),
        (Some(1), Some("accepted"))
    );
    // A canary that selects it: the watch loads it; refused before publish when it selects nobody.
    for (args, message) in [
        (
            vec!["config", "canary", "demo", "greeter", &v0, "--zone", "az9"],
            "matches none of the 1 live watchers",
        ),
        (vec!["config", "canary", "demo", "greeter", &v0, "--percent", "101"], "outside 0..=100"),
        (vec!["config", "canary", "demo", "greeter", &v0], "--percent"),
        (vec!["config", "promote", "demo", "greeter"], "no canary"),
    ] {
        let out = zkmesh(&connect, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(message), "{args:?}: {err}");
    }
    let out = stdout(&zkmesh(&connect, &["config", "canary", "demo", "greeter", &v0, "--percent", "100"]));
    assert!(out.contains("published canary 1 over version 1 for 100%"), "{out}");
    let seen = next_json(&mut lines).await;
    assert_eq!((seen["version"].as_i64(), seen["document"]["greeting"].as_str()), (Some(1), Some("Hello")));
    let status: Value =
        serde_json::from_str(&stdout(&zkmesh(&connect, &["--json", "config", "status", "demo", "greeter"])))
            .expect("json");
    assert_eq!(status["canary"]["id"].as_u64(), Some(1), "{status}");
    let table = stdout(&zkmesh(&connect, &["config", "status", "demo", "greeter"]));
    assert!(table.contains("canary 1 over version 1") && table.contains("INSTANCE"), "{table}");
    assert!(stdout(&zkmesh(&connect, &["config", "abort", "demo", "greeter"])).contains("aborted canary 1"));
    let seen = next_json(&mut lines).await;
    assert_eq!((seen["version"].as_i64(), seen["document"]["greeting"].as_str()), (Some(1), Some("Howdy")));

    let out = stdout(&zkmesh(&connect, &["config", "rollback", "demo", "greeter", "0"]));
    assert!(out.contains("restored version 0") && out.contains("as version 2"), "{out}");
    let seen = next_json(&mut lines).await;
    assert_eq!((seen["version"].as_i64(), seen["document"]["greeting"].as_str()), (Some(2), Some("Hello")));

    // A document the watcher cannot parse (written by another client) is reported, not skipped.
    let other = Client::connect(&connect).await.expect("connect");
    other.set_data("/config/demo/greeter", b"greeting = \n", None).await.expect("set_data");
    let refused = next_json(&mut lines).await;
    assert_eq!(refused["version"].as_i64(), Some(2), "version 2 stays in use: {refused}");
    assert!(refused["refused"].as_str().is_some_and(|e| e.contains("line 1")), "{refused}");
    watch.kill().await.expect("stop watch");
}

#[tokio::test]
async fn register_creates_a_missing_chroot_and_reads_never_do() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let top = Client::connect(&zk.connect_string()).await.expect("connect");
    let reader = zkmesh(&format!("{}/team-b", zk.connect_string()), &["services"]);
    assert!(
        top.check_stat("/team-b").await.expect("stat").is_none(),
        "a read created the chroot: {reader:?}"
    );

    let connect = format!("{}/team-a", zk.connect_string());
    let (mut register, _out) = spawn_register(&connect, "svc", "http://10.0.0.2:2/svc").await;
    let providers =
        top.list_children("/team-a/services/svc/providers").await.expect("registered under the chroot");
    assert_eq!(providers.len(), 1);
    register.kill().await.expect("stop register");
}

#[tokio::test]
async fn age_counts_from_the_current_node_not_the_first_registration() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let other = Client::connect(&zk.connect_string()).await.expect("connect");
    // A URL registered long ago (its timestamp), whose node was just re-created.
    write_provider(&other, "http://10.0.0.9:9/old?timestamp=1000").await;
    let out = zkmesh(&zk.connect_string(), &["--json", "providers", "old"]);
    let doc: Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    let provider = &doc["providers"][0];
    assert_eq!(provider["registered_ms"].as_u64(), Some(1000));
    let age = provider["age_seconds"].as_u64().expect("age");
    assert!(age < 3600, "AGE counts from the node's creation, not from 1970: {age} s");
}

#[tokio::test]
async fn a_reader_that_goes_away_ends_the_command_quietly() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let other = Client::connect(&zk.connect_string()).await.expect("connect");
    for i in 0..2000 {
        write_provider(&other, &format!("http://10.0.{}.{}:80/many", i / 250, i % 250)).await;
    }
    // `zkmesh providers many | head -1`: the reader closes the pipe after one line.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["--zk", &zk.connect_string(), "providers", "many"])
        .env_remove("ZKMESH_ZK")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("exit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}, stderr {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn dev_on_a_taken_port_fails_with_the_cause_and_never_reports_another_server() {
    let other = LocalZooKeeper::start().await.expect("somebody else's ZooKeeper");
    let port =
        other.connect_string().rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).expect("port");
    // Through --zk (the port every other command would use), and through --port.
    for args in [vec!["--zk", &*other.connect_string(), "dev"], vec!["dev", "--port", &port.to_string()]]
        .iter()
        .map(|a| a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            Command::new(env!("CARGO_BIN_EXE_zkmesh")).args(&args).env_remove("ZKMESH_ZK").output(),
        )
        .await
        .expect("ends by itself")
        .expect("run");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{args:?}: {stdout}");
        assert!(!stdout.contains("is serving"), "{args:?}: reported success: {stdout}");
        assert!(stderr.contains(&format!("port {port}")) && stderr.contains("in use"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn config_explain_names_the_layer_and_line_of_each_value() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let connect = zk.connect_string();
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [("shared", "[db]\nhost = \"a\"\npool = 4\n"), ("app", "\n[db]\npool = 8\n")] {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, text).expect("write");
        stdout(&zkmesh(&connect, &["config", "put", "shop", name, &file.display().to_string()]));
    }
    let out =
        zkmesh(&connect, &["--json", "config", "explain", "shop", "app", "db", "--layers", "shared,app"]);
    let doc: Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    let values = doc["values"].as_array().expect("values");
    let seen: Vec<_> = values
        .iter()
        .map(|v| (v["key"].as_str(), v["value"].as_str(), v["layer"].as_str(), v["line"].as_u64()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("db.host"), Some("\"a\""), Some("/config/shop/shared"), Some(2)),
            (Some("db.pool"), Some("8"), Some("/config/shop/app"), Some(3)),
        ]
    );
    assert_eq!(values[1]["overridden"][0]["value"].as_str(), Some("4"));
    let table =
        stdout(&zkmesh(&connect, &["config", "explain", "shop", "app", "db.pool", "--layers", "shared,app"]));
    assert!(
        table.contains("/config/shop/app (version 0) line 3") && table.contains("4 (/config/shop/shared"),
        "{table}"
    );
    let out = zkmesh(&connect, &["config", "explain", "shop", "app", "nosuch", "--layers", "shared,app"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("sets \"nosuch\""));
}
