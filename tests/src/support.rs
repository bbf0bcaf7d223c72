//! Helpers shared by the fault tests: one ZooKeeper per test binary, chroots, a raw client that
//! reads ZooKeeper's truth independently of the code under test, bounded waits.
//!
//! A module rather than flat re-exports: these are test plumbing, and `support::eventually`
//! reads better at the call site than a bare `eventually` would in the crate's root API.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use registry::ServiceUrl;

/// The default bound of every wait in the fault tests: generous, so a busy machine never
/// makes a test fail; a broken behaviour still fails, only later.
pub const WAIT: Duration = Duration::from_secs(30);

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=registry=debug,tests=debug`).
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

/// `127.0.0.1:PORT` of a standalone ZooKeeper shared by the test binary (`tickTime` 500 ms),
/// started on first use on a thread of its own so that it outlives every test's runtime; the
/// launcher's watchdog kills the JVM when the test process exits.
///
/// # Panics
/// When ZooKeeper cannot be started.
pub fn shared_zk() -> &'static str {
    init_logging();
    local_zk::shared_local_zookeeper().unwrap_or_else(|e| panic!("cannot start the shared ZooKeeper: {e}"))
}

/// A fresh chroot path (`/fault-<pid>-<name>-<n>`) for one test.
pub fn chroot_path(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("/fault-{}-{name}-{n}", std::process::id())
}

/// A raw `zookeeper-client` on `connect` (hosts, optional chroot), independent of the code
/// under test; creates the chroot first when there is one.
///
/// # Panics
/// When ZooKeeper cannot be reached.
pub async fn raw(connect: &str) -> zookeeper_client::Client {
    local_zk::raw_client(connect).await.unwrap_or_else(|e| panic!("raw client on {connect}: {e}"))
}

/// ZooKeeper's truth for `service` read with a raw client: how many provider nodes each
/// address (`host:port`) has, and each node's owner session, by address. Nodes that do not
/// decode count under their node name.
///
/// # Errors
/// The ZooKeeper error (the caller decides whether to retry); no node is no providers.
pub async fn providers_in_zookeeper(
    raw: &zookeeper_client::Client,
    service: &str,
) -> Result<BTreeMap<String, Vec<i64>>, zookeeper_client::Error> {
    let dir = format!("/services/{service}/providers");
    let names = match raw.list_children(&dir).await {
        Ok(names) => names,
        Err(zookeeper_client::Error::NoNode) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut by_address: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for name in names {
        let owner = match raw.check_stat(&format!("{dir}/{name}")).await? {
            Some(stat) => stat.ephemeral_owner,
            None => continue, // gone meanwhile
        };
        let key = match ServiceUrl::from_node_name(&name) {
            Ok(url) => url.address(),
            Err(_) => name,
        };
        by_address.entry(key).or_default().push(owner);
    }
    Ok(by_address)
}

/// The addresses in a consumer's provider set, sorted.
pub fn addresses(set: &registry::ProviderSet) -> Vec<String> {
    let mut v: Vec<String> = set.providers().iter().map(|p| p.address().to_owned()).collect();
    v.sort();
    v
}

/// Polls `check` every 25 ms until it returns true; panics after `within`, naming `what`.
///
/// # Panics
/// When `check` is still false after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs `f` with the bound [`WAIT`], panicking with `what` when it takes longer.
///
/// # Panics
/// When `f` does not finish within [`WAIT`].
pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.unwrap_or_else(|_| panic!("not within {WAIT:?}: {what}"))
}

/// Every state a session goes through from now on, collected in the background (the
/// broadcast of transitions, drained as it comes so that it never lags).
#[derive(Debug)]
pub struct StateLog {
    states: std::sync::Arc<std::sync::Mutex<Vec<registry::SessionState>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StateLog {
    /// Starts collecting the transitions of `session`.
    pub fn start(session: &registry::Session) -> StateLog {
        let states = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut events = session.events();
        let sink = states.clone();
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(state) => sink.lock().unwrap_or_else(|e| e.into_inner()).push(state),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        StateLog { states, task }
    }

    /// The transitions seen so far.
    pub fn seen(&self) -> Vec<registry::SessionState> {
        self.states.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many times `state` was entered.
    pub fn count(&self, state: registry::SessionState) -> usize {
        self.seen().iter().filter(|s| **s == state).count()
    }
}

impl Drop for StateLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}
