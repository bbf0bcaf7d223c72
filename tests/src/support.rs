//! Helpers shared by the fault tests: ZooKeeper's truth about a service read with a raw client,
//! a bounded wait, a session's state log, and (re-exported from `local_zk::support`) one
//! ZooKeeper per test binary, a raw client, polling and logging.
//!
//! A module rather than flat re-exports: these are test plumbing, and `support::eventually`
//! reads better at the call site than a bare `eventually` would in the crate's root API.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

pub use local_zk::support::{init_logging, raw, shared_zk};
use registry::ServiceUrl;

/// The default bound of every wait in the fault tests: generous, so a busy machine never
/// makes a test fail; a broken behaviour still fails, only later.
pub const WAIT: Duration = Duration::from_secs(30);

/// A fresh chroot path (`/fault-<pid>-<name>-<n>`) for one test.
pub fn chroot_path(name: &str) -> String {
    local_zk::support::chroot_path("fault", name)
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
pub async fn eventually<F, Fut>(within: Duration, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    local_zk::support::eventually_every(Duration::from_millis(25), within, what, check).await
}

/// Runs `f` with the bound [`WAIT`], panicking with `what` when it takes longer.
///
/// # Panics
/// When `f` does not finish within [`WAIT`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
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
