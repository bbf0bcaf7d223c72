//! `zkmesh` in the Dubbo and Curator layouts and under another root (`--layout`, `--root`),
//! `zkmesh services` by layout, and `zkmesh doctor` on a root where zkmesh and Curator collide.

mod common;

use common::*;
use std::process::Stdio;
use std::time::Duration;

use local_zk::LocalZooKeeper;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use zookeeper_client::{Acls, Client, CreateMode};

const WAIT: Duration = Duration::from_secs(20);
const INSTANCE: &str = include_str!("../../registry/tests/fixtures/curator/instance.json");

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "zkmesh failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Starts `zkmesh register` with `args` and waits until it says it registered.
async fn register(connect: &str, args: &[&str]) -> tokio::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["--zk", connect, "register"])
        .args(args)
        .env_remove("ZKMESH_ROOT")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn register");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(WAIT, out.next_line()).await.expect("in time").expect("read");
    assert!(line.as_deref().is_some_and(|l| l.starts_with("registered ")), "{line:?}");
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    child
}

async fn create(client: &Client, path: &str, data: &[u8]) {
    let (parent, _) = path.rsplit_once('/').expect("a parent");
    client.mkdir(parent, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.expect("mkdir");
    client.create(path, data, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.expect("create");
}

#[tokio::test]
async fn layouts_and_roots_on_the_command_line() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let connect = zk.connect_string();
    let curator = ["--layout", "curator"];
    let _spring = register(
        &connect,
        &["springboot", "http://10.0.0.9:8081/springboot?version=2", "--layout", "curator"],
    )
    .await;
    let _dubbo =
        register(&connect, &["com.foo.Bar", "dubbo://10.0.0.7:20880/com.foo.Bar", "--layout", "dubbo"]).await;
    let _other_root = register(&connect, &["--root", "/mesh", "greeter", "http://10.0.0.5:80/greeter"]).await;

    let listed = json(&zkmesh(&connect, &["--json", "services", "--layout", "curator"]));
    assert_eq!(listed["root"], "/services");
    assert_eq!(listed["services"][0]["service"], "springboot");
    assert_eq!(listed["services"][0]["layouts"], serde_json::json!(["curator"]));
    assert_eq!(listed["services"][0]["instances"], 1);
    let providers = json(&zkmesh(&connect, &["--json", "providers", "springboot", curator[0], curator[1]]));
    assert_eq!(providers["providers"][0]["host"], "10.0.0.9");
    assert_eq!(providers["providers"][0]["version"], "2");
    let err = zkmesh(&connect, &["consumers", "springboot", "--layout", "curator"]);
    assert!(!err.status.success() && String::from_utf8_lossy(&err.stderr).contains("no consumer nodes"));

    let dubbo = json(&zkmesh(&connect, &["--json", "providers", "com.foo.Bar", "--layout", "dubbo"]));
    assert!(
        dubbo["providers"][0]["url"].as_str().is_some_and(|u| u.contains("interface=com.foo.Bar")),
        "{dubbo}"
    );
    let listed = json(&zkmesh(&connect, &["--json", "--root", "/mesh", "services"]));
    assert_eq!(listed["services"][0]["service"], "greeter");
    let bad = zkmesh(&connect, &["services", "--layout", "eureka"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("zkmesh, dubbo or curator"), "{bad:?}");
}

#[tokio::test]
async fn doctor_explains_a_collision_of_zkmesh_and_curator_under_one_root() {
    let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
    let connect = zk.connect_string();
    let healthy = zkmesh(&connect, &["--json", "doctor"]);
    assert_eq!(json(&healthy)["problems"], 0);

    let _greeter = register(&connect, &["greeter", "http://10.0.0.5:8080/greeter"]).await;
    let _orders = register(&connect, &["orders", "http://10.0.0.6:8080/orders"]).await;
    let raw = Client::connect(&connect).await.expect("connect");
    create(&raw, "/services/springapp/5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10", INSTANCE.as_bytes()).await;
    create(&raw, "/services/greeter/5b1c8f1e", INSTANCE.replace("springapp", "greeter").as_bytes()).await;

    let out = zkmesh(&connect, &["doctor"]);
    assert!(!out.status.success(), "a collision is a failure");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("problem  /services/greeter: zkmesh directories"), "{text}");
    assert!(text.contains("MismatchedInputException"), "{text}");
    assert!(text.contains("Curator services (springapp) and zkmesh/Dubbo services (orders)"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 problem(s) found"));
}
