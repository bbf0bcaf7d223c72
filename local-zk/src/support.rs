//! Test support for suites that run against one real ZooKeeper per test binary: the shared
//! server, a fresh chroot per test, a raw client that reads ZooKeeper's truth independently of
//! the code under test, bounded polling, and logging when `RUST_LOG` is set.
//!
//! Everything here panics on failure with a message that says what failed: it is test plumbing.
//! Helpers that need a client library's own types (a session with the suite's time-out, its
//! state events) stay in that suite, as thin wrappers over these.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use zkmesh_local_zk::support::{chroot, eventually, raw};
//!
//! let connect = chroot("test", "greeter"); // 127.0.0.1:PORT/test-<pid>-greeter-<n>
//! let zk = raw(&connect).await; // the chroot exists now
//! eventually(Duration::from_secs(20), "/ready exists", || async {
//!     matches!(zk.check_stat("/ready").await, Ok(Some(_)))
//! })
//! .await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// How often [`eventually`] checks.
pub const POLL: Duration = Duration::from_millis(20);

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=registry=debug`); does
/// nothing otherwise. Only the first call in a process installs the subscriber.
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

/// `127.0.0.1:PORT` of the standalone ZooKeeper shared by the test binary
/// ([`shared_local_zookeeper`](crate::shared_local_zookeeper): `tickTime` 500 ms, started on
/// first use on a thread of its own so that it outlives every test's runtime, killed by its
/// watchdog when the process exits). Calls [`init_logging`] first.
///
/// # Panics
/// When ZooKeeper cannot be started.
pub fn shared_zk() -> &'static str {
    init_logging();
    crate::shared_local_zookeeper().unwrap_or_else(|e| panic!("cannot start the shared ZooKeeper: {e}"))
}

/// A fresh chroot path, `/<prefix>-<pid>-<name>-<n>`, unique in this process (`n` counts the
/// calls) and across test binaries sharing a server (the pid).
pub fn chroot_path(prefix: &str, name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("/{prefix}-{}-{name}-{n}", std::process::id())
}

/// A connect string rooted at a fresh chroot ([`chroot_path`]) of the [`shared_zk`]. The chroot
/// node is not created: [`raw`] creates it, and so do clients that create their chroot.
///
/// # Panics
/// When ZooKeeper cannot be started.
pub fn chroot(prefix: &str, name: &str) -> String {
    format!("{}{}", shared_zk(), chroot_path(prefix, name))
}

/// A plain `zookeeper-client` on `connect` (hosts and an optional chroot), independent of the
/// code under test; creates the chroot first when there is one ([`raw_client`](crate::raw_client)).
///
/// # Panics
/// When ZooKeeper cannot be reached or the chroot cannot be created.
pub async fn raw(connect: &str) -> zookeeper_client::Client {
    crate::raw_client(connect).await.unwrap_or_else(|e| panic!("raw client on {connect}: {e}"))
}

/// Each node under a root, the root included: path -> (data, data version, creation zxid).
pub type Subtree = BTreeMap<String, (Vec<u8>, i32, i64)>;

/// What ZooKeeper holds under `root`, read with a plain client: the truth a cache of that
/// subtree must end equal to. A node deleted while it is read is left out.
pub async fn subtree(raw: &zookeeper_client::Client, root: &str) -> Subtree {
    let mut tree = Subtree::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok((data, stat)) = raw.get_data(&path).await else { continue };
        tree.insert(path.clone(), (data, stat.version, stat.czxid));
        if let Ok(children) = raw.list_children(&path).await {
            let parent = path.trim_end_matches('/');
            stack.extend(children.iter().map(|c| format!("{parent}/{c}")));
        }
    }
    tree
}

/// Polls `check` every [`POLL`] until it returns true.
///
/// # Panics
/// When `check` is still false after `within`; the message names `what`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_every(POLL, within, what, check).await
}

/// [`eventually`] polling every `every`.
///
/// # Panics
/// When `check` is still false after `within`; the message names `what`.
pub async fn eventually_every<F, Fut>(every: Duration, within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(every).await;
    }
}

/// Asserts that every line of the README's ```` ```rust,no_run ```` block containing `marker`
/// (hidden `# ` lines and blank lines aside) appears in `here` (a test file's own text), in
/// order: a test that runs a README snippet verbatim cannot drift from it.
///
/// # Panics
/// When no block contains `marker`, or a line of it is not in `here` in order.
pub fn assert_readme_snippet_in(readme: &str, marker: &str, here: &str) {
    let block = readme
        .split("```rust,no_run\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no README snippet contains {marker:?}"));
    let mut from = 0;
    for line in block.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let found = here[from..]
            .find(line)
            .unwrap_or_else(|| panic!("README line not in the test, in order: {line}"));
        from += found + line.len();
    }
}
