//! `zkmesh --kerberos` against a Kerberized ZooKeeper (the registry's loopback KDC,
//! `registry/tests/kdc/mod.rs`): a config put authenticated by a `kinit` ticket, recorded in the
//! history under the principal; the same put without `--kerberos` refused naming the path.

#[path = "../../registry/tests/kdc/mod.rs"]
mod kdc;

use kdc::{start_kdc, REALM};
use serde_json::Value;

#[tokio::test]
async fn zkmesh_publishes_with_a_kerberos_ticket_and_history_names_the_principal() {
    let kdc = start_kdc().await;
    let cache = kdc.dir.path().join("cc");
    kdc.kinit("alice");
    let zk = kdc.zookeeper().await;
    let connect = format!("{}/krb", zk.connect_string());
    let doc = kdc.dir.path().join("db.toml");
    std::fs::write(&doc, "pool = 4\n").expect("doc");
    let doc = doc.to_str().expect("utf-8");
    let zkmesh = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zkmesh"))
            .args(["--zk", &connect, "--timeout", "20"])
            .args(args)
            .env_remove("ZKMESH_ZK")
            .env_remove("ZKMESH_AUTH")
            .env("KRB5_CONFIG", kdc.krb5_conf())
            .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
            .output()
            .expect("run zkmesh")
    };
    let kerberos = ["--kerberos", "--kerberos-host", "localhost"];

    let put = zkmesh(&[&kerberos[..], &["config", "put", "shop", "db", doc]].concat());
    assert!(put.status.success(), "put: {}", String::from_utf8_lossy(&put.stderr));
    let out = zkmesh(&[&kerberos[..], &["--json", "config", "history", "shop", "db"]].concat());
    assert!(out.status.success(), "history: {}", String::from_utf8_lossy(&out.stderr));
    let history: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        history["history"][0]["identity"].as_str(),
        Some(&*format!("sasl:alice@{REALM}")),
        "{history}"
    );

    // Without the ticket's principal: the document (alice's, world-readable) is refused.
    let refused = zkmesh(&["config", "put", "shop", "db", doc]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("/config/shop/db"), "{stderr}");
    assert!(stderr.contains("anonymous"), "names the identity refused: {stderr}");
}
