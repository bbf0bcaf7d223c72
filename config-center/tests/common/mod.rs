//! Shared test support: one real ZooKeeper per test binary and a chroot per test
//! (`local_zk::support`), plus the helpers that need registry's and config-center's types.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

use registry::Session;
use zkmesh_config::ConfigCenter;

pub use local_zk::support::{eventually, init_logging, raw, shared_zk};

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A config center with the defaults on a new session.
pub async fn center(connect: &str) -> ConfigCenter {
    ConfigCenter::builder().build(session(connect).await).expect("config center")
}

/// A session on `connect` with a short session timeout (4 s).
pub async fn session(connect: &str) -> Session {
    let connecting = Session::builder().session_timeout(Duration::from_secs(4)).connect(connect);
    connecting.await.unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

/// A connect string rooted at a fresh chroot (`/cc-<pid>-<name>-<n>`) of the shared ZooKeeper.
pub fn chroot(name: &str) -> String {
    local_zk::support::chroot("cc", name)
}

/// Registers provider and consumer nodes (ephemeral, on `zk`'s session) for `service`.
pub async fn members(zk: &zookeeper_client::Client, service: &str, providers: &[&str], consumers: &[&str]) {
    for (kind, urls) in [("providers", providers), ("consumers", consumers)] {
        let dir = format!("/services/{service}/{kind}");
        for part in ["/services".to_owned(), format!("/services/{service}"), dir.clone()] {
            let options =
                zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
            match zk.create(&part, b"", &options).await {
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
                Err(e) => panic!("create {part}: {e}"),
            }
        }
        for u in urls {
            let node = registry::ServiceUrl::parse(u).expect("url").to_node_name();
            let options =
                zookeeper_client::CreateMode::Ephemeral.with_acls(zookeeper_client::Acls::anyone_all());
            zk.create(&format!("{dir}/{node}"), b"", &options).await.expect("member");
        }
    }
}

/// A rules store on a new session.
pub async fn store(connect: &str) -> zkmesh_config::RulesStore {
    zkmesh_config::RulesStore::new(session(connect).await).expect("store")
}
