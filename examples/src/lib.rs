//! zkmesh examples: one short program per feature, each a binary of this crate.
//!
//! | program | shows |
//! |---|---|
//! | `register` | a provider registers, is seen by a subscription, deregisters |
//! | `discover` | weighted picks over 3 providers, and the change stream while one leaves |
//! | `tower_balance` | tower's p2c balancer over a subscription's `Discover` |
//! | `weighted_balance` | zkmesh's weighted balancer: shares by weight, ejection, a probe |
//! | `grpc_balance` | tonic clients and servers through the weighted balancer; a server stops, no call fails |
//! | `hot_config` | a typed, validated config: publish, refuse a bad document, roll back, history |
//! | `election` | leader election with an observer, through a resignation and a crash |
//! | `lock` | four sessions increment a counter in ZooKeeper under a lock, exactly |
//! | `queue` | a producer and three consumers share a FIFO queue, each item taken once |
//! | `barrier` | participants enter a double barrier together and leave together |
//! | `jobs` | a singleton job on 3 schedulers runs once per tick; a sharded job rebalances as workers join and die |
//!
//! Run one with `cargo run -p examples --bin lock -- --zk 127.0.0.1:2181`. Each works in a chroot
//! of its own (`/examples-<name>-<pid>`), removed at the end, and ends by itself.
//!
//! This library is only the shared plumbing: the arguments and [`run`].
#![forbid(unsafe_code)]

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// The error an example's story returns: anything, printed in one line.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The command line every example takes.
#[derive(Debug, Parser)]
#[command(about = "A zkmesh example; see the examples crate's README")]
pub struct Args {
    /// ZooKeeper to use: `host:port[,host:port...][/chroot]`.
    #[arg(long, env = "ZKMESH_ZK", default_value = "127.0.0.1:2181")]
    pub zk: String,
}

/// Parses the [`Args`], runs `story` with a connect string rooted at a fresh chroot
/// (`<zk>/examples-<name>-<pid>`), removes that chroot afterwards, and returns the exit code:
/// on error, `error: <message>` goes to stderr and the code is 1.
pub async fn run<F, Fut>(name: &str, story: F) -> ExitCode
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let args = Args::parse();
    let zk = args.zk.trim_end_matches('/');
    let chroot = format!("/examples-{name}-{}", std::process::id());
    if let Err(e) = story(format!("{zk}{chroot}")).await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = remove_tree(zk, &chroot).await {
        eprintln!("warning: could not remove {chroot}: {e}");
    }
    ExitCode::SUCCESS
}

/// Deletes `root` and everything under it (retrying while the story's sessions finish closing).
async fn remove_tree(zk: &str, root: &str) -> Result<(), BoxError> {
    let session = registry::Session::builder().connect_timeout(Duration::from_secs(5)).connect(zk).await?;
    let client = session.client().ok_or("the session is not connected")?;
    for _ in 0..20 {
        // Breadth-first listing, then deletion deepest first; errors are judged by the check below.
        let mut nodes = vec![root.to_owned()];
        let mut i = 0;
        while i < nodes.len() {
            let children = client.list_children(&nodes[i]).await.unwrap_or_default();
            let parent = nodes[i].clone();
            nodes.extend(children.into_iter().map(|child| format!("{parent}/{child}")));
            i += 1;
        }
        for node in nodes.iter().rev() {
            let _ = client.delete(node, None).await;
        }
        if client.check_stat(root).await?.is_none() {
            session.close().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("nodes kept appearing under it".into())
}
