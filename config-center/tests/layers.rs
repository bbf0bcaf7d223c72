//! Layered documents from ZooKeeper against a real ZooKeeper: merge order with defaults and
//! environment, one reload per change, provenance, a broken or deleted layer.

mod common;

use common::*;
use serde::Deserialize;
use zkmesh_config::{Error, Expect};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct App {
    db: Db,
    log: Log,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Db {
    host: String,
    pool: u32,
    timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Log {
    level: String,
}

const DEFAULTS: &str = "[db]\nhost = \"localhost\"\npool = 1\ntimeout_ms = 100\n[log]\nlevel = \"error\"\n";

async fn publish(center: &zkmesh_config::ConfigCenter, name: &str, text: &str) {
    center
        .publish_toml("shop", name, text, Expect::Any)
        .await
        .unwrap_or_else(|e| panic!("publish {name}: {e}"));
}

#[tokio::test]
async fn layers_merge_in_order_reload_once_per_change_and_explain_names_each_layer() {
    let connect = chroot("merge");
    let center = center(&connect).await;
    publish(&center, "shared", "[db]\nhost = \"shared-db\"\npool = 4\n[log]\nlevel = \"warn\"\n").await;
    publish(&center, "app", "[db]\npool = 8\n").await;
    publish(&center, "app-prod", "\n[log]\nlevel = \"info\"\n").await;
    let spec = center
        .config::<App>("shop", "app")
        .expect("spec")
        .layers(["shared", "app", "app-prod"])
        .defaults_toml(DEFAULTS)
        .env_vars("APP", [("APP__DB__TIMEOUT_MS", "250")]);
    let mut config = spec.watch().await.expect("watch");
    let want = |host: &str, pool, level: &str| App {
        db: Db { host: host.into(), pool, timeout_ms: 250 },
        log: Log { level: level.into() },
    };
    assert_eq!(*config.load(), want("shared-db", 8, "info"), "defaults < shared < app < app-prod < env");
    assert_eq!(config.version(), Some(0), "the version of the watcher's own document");

    // A change to a lower layer reloads the merged value once.
    let before = config.status().accepted;
    publish(&center, "shared", "[db]\nhost = \"shared-db-2\"\npool = 4\n[log]\nlevel = \"warn\"\n").await;
    let value = tokio::time::timeout(WAIT, config.changed()).await.expect("in time").expect("changed");
    assert_eq!(*value, want("shared-db-2", 8, "info"));
    assert_eq!(config.status().accepted, before + 1, "one reload");
    // The status node lists the layers.
    let statuses = center.wait_for_version("shop", "app", 0, WAIT).await.expect("status");
    assert_eq!(statuses[0].layers, ["/config/shop/shared", "/config/shop/app", "/config/shop/app-prod"]);

    let explained = spec.explain("db").await.expect("explain");
    let seen: Vec<_> =
        explained.iter().map(|p| (p.key.as_str(), p.value.as_str(), p.source.to_string())).collect();
    assert_eq!(
        seen,
        [
            ("db.host", "\"shared-db-2\"", "/config/shop/shared (version 1) line 2".to_owned()),
            ("db.pool", "8", "/config/shop/app (version 0) line 2".to_owned()),
            ("db.timeout_ms", "250", "$APP__DB__TIMEOUT_MS line 1".to_owned()),
        ]
    );
    let pool = &explained[1];
    let overridden: Vec<String> = pool.overridden.iter().map(ToString::to_string).collect();
    assert_eq!(overridden, ["<defaults> line 3", "/config/shop/shared (version 1) line 3"]);
    let level = spec.explain("log.level").await.expect("explain");
    assert_eq!(level[0].source.layer, "/config/shop/app-prod");
    assert_eq!(level[0].source.line, 3);
}

#[tokio::test]
async fn a_broken_or_deleted_layer_keeps_the_last_good_value_and_is_named() {
    let connect = chroot("broken");
    let center = center(&connect).await;
    publish(&center, "shared", "[db]\nhost = \"shared-db\"\n").await;
    publish(&center, "app", "[db]\npool = 8\n").await;
    let spec = center.config::<App>("shop", "app").expect("spec").layers(["shared"]).defaults_toml(DEFAULTS);
    let mut config = spec.watch().await.expect("watch");
    let good = config.load();
    assert_eq!((good.db.host.as_str(), good.db.pool), ("shared-db", 8));

    // Broken: the last good value stays; the error names the layer and the line.
    publish(&center, "shared", "[db]\nhost = \"shared-db\"\ntimeout_ms = \"soon\"\n").await;
    config.wait_for(WAIT, |_, s| s.error.is_some()).await.expect("refused");
    let error = config.last_error().expect("refused");
    assert!(
        matches!(&error, Error::ConfigParse { path, version: Some(1), line: Some(3), .. } if path == "/config/shop/shared"),
        "{error:?}"
    );
    assert!(error.to_string().contains("while applying /config/shop/app"), "{error}");
    assert_eq!(config.load(), good);
    let refused = center
        .wait_for("shop", "app", WAIT, |all| all.len() == 1 && all[0].error.is_some())
        .await
        .expect("the status node says so");
    assert!(refused[0].error.as_deref().is_some_and(|e| e.contains("/config/shop/shared")), "{refused:?}");

    // Fixed, then deleted: the layer's last text stays in the merge, and the status names it.
    publish(&center, "shared", "[db]\nhost = \"shared-db-3\"\n").await;
    let value =
        config.wait_for(WAIT, |v, s| v.db.host == "shared-db-3" && s.error.is_none()).await.expect("fixed");
    assert_eq!(value.db.pool, 8);
    assert!(center.delete("shop", "shared").await.expect("delete"));
    let status =
        config.wait_for(WAIT, |_, s| s.error.is_some()).await.map(|_| config.status()).expect("named");
    assert!(
        matches!(&status.error, Some(Error::LayerDeleted { layer, version: Some(2) }) if layer == "/config/shop/shared"),
        "{:?}",
        status.error
    );
    assert_eq!(config.load().db.host, "shared-db-3", "last good text kept");
    // The app's own document still changes the value.
    publish(&center, "app", "[db]\npool = 9\n").await;
    let value = config.wait_for(WAIT, |v, _| v.db.pool == 9).await.expect("own change");
    assert_eq!(value.db.host, "shared-db-3");
    // Back: no error any more.
    publish(&center, "shared", "[db]\nhost = \"shared-db-4\"\n").await;
    config.wait_for(WAIT, |v, s| v.db.host == "shared-db-4" && s.error.is_none()).await.expect("back");
}
