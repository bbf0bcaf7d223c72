//! `zkmesh provider` and `zkmesh rules` against a real ZooKeeper (one per test binary, a
//! chroot per test), with providers and consumers written by another client.

mod common;

use common::*;
use local_zk::support::{chroot, raw, shared_zk};
use registry::ServiceUrl;
use serde_json::Value;
use zookeeper_client::{Acls, Client, CreateMode};

async fn member(client: &Client, kind: &str, url: &str) {
    let url = ServiceUrl::parse(url).expect("url");
    let dir = format!("/services/{}/{kind}", url.service());
    client.mkdir(&dir, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.expect("mkdir");
    let path = format!("{dir}/{}", url.to_node_name());
    client.create(&path, b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.expect("create");
}

fn providers_json(connect: &str) -> Vec<Value> {
    let json: Value =
        serde_json::from_str(&stdout(&zkmesh(connect, &["providers", "shop", "--json"]))).expect("json");
    json["providers"].as_array().expect("list").clone()
}

#[tokio::test]
async fn provider_switches_show_in_providers_and_a_stranding_disable_is_refused() {
    let _ = shared_zk();
    let connect = chroot("cli", "rules-switch");
    let other = raw(&connect).await;
    member(&other, "providers", "http://10.0.0.1:80/shop?zone=az1").await;
    member(&other, "providers", "http://10.0.0.2:80/shop?zone=az2").await;
    member(&other, "providers", "http://10.0.0.3:80/shop?zone=az2").await;
    member(&other, "consumers", "consumer://10.9.0.1/shop?zone=az1").await;

    stdout(&zkmesh(&connect, &["provider", "weight", "shop", "10.0.0.2:80", "40"]));
    let listed = providers_json(&connect);
    let b = listed.iter().find(|p| p["host"] == "10.0.0.2").expect("b");
    assert_eq!(
        (&b["weight"], &b["effective_weight"], &b["disabled"]),
        (&Value::from(100), &Value::from(40), &Value::from(false))
    );

    // 10.0.0.1 is az1's only provider: a condition keeping az1 in az1 strands its consumer.
    let rules =
        "[[condition]]\nconsumer = { zone = \"az1\" }\nprovider = { zone = \"az1\" }\nstrict = true\n";
    let file = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(file.path(), rules).expect("write");
    let path = file.path().to_str().expect("utf-8");
    stdout(&zkmesh(&connect, &["rules", "put", "shop", path]));
    let refused = failure(&zkmesh(&connect, &["provider", "disable", "shop", "10.0.0.1:80"]));
    assert!(refused.contains("10.9.0.1 (zone=az1)") && refused.contains("--force"), "{refused}");
    let doc = stdout(&zkmesh(&connect, &["rules", "get", "shop"]));
    assert!(doc.contains("version 1") && !doc.contains("disabled"), "unchanged: {doc}");

    let forced = zkmesh(&connect, &["provider", "disable", "shop", "10.0.0.1:80", "--force"]);
    stdout(&forced);
    assert!(String::from_utf8_lossy(&forced.stderr).contains("WARNING"), "loud");
    let a = providers_json(&connect).into_iter().find(|p| p["host"] == "10.0.0.1").expect("a");
    assert_eq!((&a["effective_weight"], &a["disabled"]), (&Value::from(0), &Value::from(true)));
    let table = stdout(&zkmesh(&connect, &["providers", "shop"]));
    assert!(table.contains("EFFECTIVE") && table.contains("each consumer process"), "{table}");

    stdout(&zkmesh(&connect, &["provider", "enable", "shop", "10.0.0.1:80"]));
    let a = providers_json(&connect).into_iter().find(|p| p["host"] == "10.0.0.1").expect("a");
    assert_eq!(a["disabled"], Value::from(false));
}

#[tokio::test]
async fn rules_put_conflict_diff_history_rollback_and_check() {
    let _ = shared_zk();
    let connect = chroot("cli", "rules-doc");
    let other = raw(&connect).await;
    member(&other, "providers", "http://10.0.0.1:80/shop?weight=100").await;
    member(&other, "providers", "http://10.0.0.2:80/shop?weight=100&tag=canary").await;
    let dir = tempfile::tempdir().expect("dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_owned()
    };
    let first = write("first.toml", "[tags]\n");
    let second = write("second.toml", "[[override]]\naddress = \"10.0.0.1:80\"\nfactor = 2.0\n");
    let broken = write("broken.toml", "[tags]\nstrict = yes\n");

    stdout(&zkmesh(&connect, &["rules", "put", "shop", &first, "--expect-version", "-1"]));
    stdout(&zkmesh(&connect, &["rules", "put", "shop", &second, "--expect-version", "0"]));
    let conflict = failure(&zkmesh(&connect, &["rules", "put", "shop", &first, "--expect-version", "0"]));
    assert!(
        conflict.contains("version conflict")
            && conflict.contains("- [[override]]")
            && conflict.contains("+ [tags]"),
        "{conflict}"
    );
    let invalid = failure(&zkmesh(&connect, &["rules", "put", "shop", &broken]));
    assert!(invalid.contains("line 2, column 10"), "{invalid}");

    let diff = stdout(&zkmesh(&connect, &["rules", "diff", "shop", &first]));
    assert!(diff.contains("+ [tags]"), "{diff}");
    let history: Value =
        serde_json::from_str(&stdout(&zkmesh(&connect, &["--json", "rules", "history", "shop"])))
            .expect("json");
    assert_eq!((&history["current"], &history["history"][0]["version"]), (&Value::from(1), &Value::from(0)));
    assert_eq!(history["history"][0]["identity"].as_str(), Some("anonymous (no credentials)"), "{history}");
    let table = stdout(&zkmesh(&connect, &["rules", "history", "shop"]));
    assert!(table.contains("IDENTITY") && table.contains("anonymous (no credentials)"), "{table}");

    let check: Value =
        serde_json::from_str(&stdout(&zkmesh(&connect, &["--json", "rules", "check", "shop"])))
            .expect("json");
    let shares: Vec<f64> = check["providers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["share"].as_f64().expect("share"))
        .collect();
    assert_eq!(shares, [2.0 / 3.0, 1.0 / 3.0], "factor 2 on the first");

    stdout(&zkmesh(&connect, &["rules", "rollback", "shop", "0"]));
    let check: Value = serde_json::from_str(&stdout(&zkmesh(
        &connect,
        &["--json", "rules", "check", "shop", "--consumer", "tag=canary"],
    )))
    .expect("json");
    let shares: Vec<f64> = check["providers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["share"].as_f64().expect("share"))
        .collect();
    assert_eq!(shares, [0.0, 1.0], "a canary consumer goes to the canary provider");
    let table = stdout(&zkmesh(&connect, &["rules", "check", "shop"]));
    assert!(table.contains("100.0%") && table.contains("would pass the check"), "{table}");

    // Another client writes a broken document: shown with why, and `providers` still lists.
    other.set_data("/services/shop/rules", b"[tags]\nstrict = maybe\n", None).await.expect("set_data");
    let shown = stdout(&zkmesh(&connect, &["rules", "get", "shop"]));
    assert!(shown.contains("INVALID") && shown.contains("strict = maybe"), "{shown}");
    assert_eq!(providers_json(&connect).len(), 2);
}
