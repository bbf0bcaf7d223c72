//! Shared test support: one real ZooKeeper per test binary, a chroot per test (the pattern of
//! `registry/tests/common`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use config_center::ConfigCenter;
use registry::Session;

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// The connect string of the ZooKeeper shared by this test binary (started on first use, on a
/// thread of its own so that it outlives every test's runtime; the JVM dies with the process).
pub fn shared_zk() -> &'static str {
    init_logging();
    local_zk::shared_local_zookeeper().unwrap_or_else(|e| panic!("cannot start the shared ZooKeeper: {e}"))
}

/// A connect string rooted at a fresh chroot of the shared ZooKeeper.
pub fn chroot(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{}/cc-{}-{name}-{n}", shared_zk(), std::process::id())
}

/// A session on `connect` with a short session timeout.
pub async fn session(connect: &str) -> Session {
    Session::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

/// A config center with the defaults on a new session.
pub async fn center(connect: &str) -> ConfigCenter {
    ConfigCenter::builder().build(session(connect).await).expect("config center")
}

/// A raw zookeeper-client on the same chroot, independent of the code under test (the chroot
/// is created first).
pub async fn raw(connect: &str) -> zookeeper_client::Client {
    local_zk::raw_client(connect).await.unwrap_or_else(|e| panic!("raw client on {connect}: {e}"))
}

/// Polls `check` every 20 ms until it returns true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=config_center=debug`).
pub fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}
