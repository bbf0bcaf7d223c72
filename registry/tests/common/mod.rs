//! Shared test support: one real ZooKeeper per test binary, a chroot per test.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use registry::{NodeEvent, Session};

/// The connect string of the ZooKeeper shared by this test binary (started on first use, on a
/// thread of its own so that it outlives every test's runtime; the launcher's watchdog kills
/// the JVM when the test process exits).
pub fn shared_zk() -> &'static str {
    init_logging();
    local_zk::shared_local_zookeeper().unwrap_or_else(|e| panic!("cannot start the shared ZooKeeper: {e}"))
}

/// A connect string rooted at a fresh chroot of the shared ZooKeeper.
pub fn chroot(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{}/test-{}-{name}-{n}", shared_zk(), std::process::id())
}

/// A session on `connect` with a short session timeout.
pub async fn session(connect: &str) -> Session {
    Session::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

/// A raw zookeeper-client on the same ensemble and chroot, independent of the code under test.
/// Creates the connect string's chroot first when it has one.
pub async fn raw(connect: &str) -> zookeeper_client::Client {
    local_zk::raw_client(connect).await.unwrap_or_else(|e| panic!("raw client on {connect}: {e}"))
}

/// Waits (bounded) for a state transition equal to `want` on `events`, returning the states seen.
pub async fn expect_state(
    events: &mut tokio::sync::broadcast::Receiver<registry::SessionState>,
    want: registry::SessionState,
    within: Duration,
) -> Vec<registry::SessionState> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(s)) => {
                seen.push(s);
                if s == want {
                    return seen;
                }
            }
            Ok(Err(e)) => panic!("state events: {e}; seen {seen:?}"),
            Err(_) => panic!("no {want:?} within {within:?}; seen {seen:?}"),
        }
    }
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

/// The children in a watch event (empty when absent or unknown).
pub fn children(event: &NodeEvent<Vec<String>>) -> Vec<String> {
    match event {
        NodeEvent::Present { value, .. } => {
            let mut v = value.clone();
            v.sort();
            v
        }
        _ => Vec::new(),
    }
}

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=registry=debug`).
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
