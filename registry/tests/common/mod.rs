//! Shared test support: one real ZooKeeper per test binary and a chroot per test
//! (`local_zk::support`), plus the helpers that need registry's types.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

use zkmesh_registry::{NodeEvent, Registry, Session, SessionState, SubscribeOptions};

mod ports;

pub use local_zk::support::{eventually, init_logging, raw, shared_zk};
pub use ports::{tcp_balancer, Ports};

/// A connect string rooted at a fresh chroot (`/test-<pid>-<name>-<n>`) of the shared ZooKeeper.
pub fn chroot(name: &str) -> String {
    local_zk::support::chroot("test", name)
}

/// A session on `connect` with a short session timeout (4 s).
pub async fn session(connect: &str) -> Session {
    let connecting = Session::builder().session_timeout(Duration::from_secs(4)).connect(connect);
    connecting.await.unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

/// Waits (bounded) for a state transition equal to `want` on `events`, returning the states seen.
pub async fn expect_state(
    events: &mut tokio::sync::broadcast::Receiver<SessionState>,
    want: SessionState,
    within: Duration,
) -> Vec<SessionState> {
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

/// The children in a watch event, sorted (empty when absent or unknown).
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

/// `s` parsed as a provider URL (a test's own literal).
pub fn url(s: &str) -> zkmesh_registry::ServiceUrl {
    zkmesh_registry::ServiceUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The addresses of a provider set, in its order.
pub fn addresses(set: &zkmesh_registry::ProviderSet) -> Vec<String> {
    set.providers().iter().map(|p| p.address().to_owned()).collect()
}

/// A registry that registers no consumer node, with a 4 s session (the watch tests').
pub async fn registry_without_consumer_nodes(connect: &str) -> Registry {
    Registry::builder()
        .session_timeout(Duration::from_secs(4))
        .register_consumers(false)
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

/// Subscribe options without empty protection (a set may go empty).
pub fn no_protection() -> SubscribeOptions {
    SubscribeOptions::default().empty_protection(false)
}
