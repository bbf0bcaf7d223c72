//! One ZooKeeper shared by a whole process (a test binary), started on first use.

use std::sync::OnceLock;

use super::LocalZooKeeper;
use crate::error::{Error, Result};

/// The connect string of a [`LocalZooKeeper`] shared by the whole process: started on first
/// use on a thread of its own (so it outlives every test's tokio runtime) and never stopped;
/// the launcher's watchdog ends the JVM when the process exits. Give each test its own chroot
/// (`format!("{connect}/my-test")`) so tests sharing it stay isolated.
///
/// # Errors
/// The start-up error (the same one on every call) when the server cannot be started.
pub fn shared_local_zookeeper() -> Result<&'static str> {
    static ZK: OnceLock<std::result::Result<String, Error>> = OnceLock::new();
    let started = ZK.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name("shared-local-zk".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = tx.send(Err(Error::io("creating the shared ZooKeeper's runtime", e)));
                    return;
                }
            };
            runtime.block_on(async move {
                match LocalZooKeeper::start().await {
                    Ok(zk) => {
                        let _ = tx.send(Ok(zk.connect_string()));
                        // Keep it (and its runtime) for the life of the process.
                        std::future::pending::<()>().await;
                        drop(zk);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        if let Err(e) = spawned {
            return Err(Error::io("spawning the shared ZooKeeper's thread", e));
        }
        rx.recv()
            .unwrap_or_else(|_| Err(Error::start("the shared ZooKeeper's thread ended before it started")))
    });
    match started {
        Ok(connect) => Ok(connect.as_str()),
        Err(e) => Err(e.clone()),
    }
}

/// A plain `zookeeper-client` on `connect` (hosts and an optional chroot), independent of the
/// code under test (what tests read ZooKeeper's truth with). The chroot is created first when
/// it is missing, which a plain client does not do.
///
/// # Errors
/// [`Error::Connect`] when ZooKeeper cannot be reached; [`Error::Zookeeper`] when the chroot
/// cannot be created.
pub async fn raw_client(connect: &str) -> Result<zookeeper_client::Client> {
    let connect_error = |source| Error::Connect { connect: connect.to_owned(), source };
    if let Some((hosts, root)) = connect.split_once('/') {
        let top = zookeeper_client::Client::connect(hosts).await.map_err(connect_error)?;
        create_path(&top, &format!("/{root}")).await?;
    }
    zookeeper_client::Client::connect(connect).await.map_err(connect_error)
}

/// `mkdir -p` for a chroot: creates `path` and its missing ancestors as persistent nodes with
/// empty data, open to anyone; a node that exists already (or is created meanwhile) is fine.
async fn create_path(client: &zookeeper_client::Client, path: &str) -> Result<()> {
    if path == "/" {
        return Ok(());
    }
    // Usually the chroot exists already or only its last segment is missing.
    match create_node(client, path).await {
        Err(Error::Zookeeper { source: zookeeper_client::Error::NoNode, .. }) => {}
        done => return done,
    }
    let ancestors = path.match_indices('/').skip(1).map(|(end, _)| &path[..end]);
    for prefix in ancestors.chain([path]) {
        create_node(client, prefix).await?;
    }
    Ok(())
}

/// Creates `path` (persistent, empty, open to anyone) unless it exists.
async fn create_node(client: &zookeeper_client::Client, path: &str) -> Result<()> {
    let options = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    match client.create(path, &[], &options).await {
        Ok(_) | Err(zookeeper_client::Error::NodeExists) => Ok(()),
        Err(source) => Err(Error::Zookeeper { op: "create", path: path.to_owned(), source }),
    }
}
