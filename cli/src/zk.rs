//! Connecting, with the errors an operator can act on.

use std::time::Duration;

use registry::{Registry, Session};

use crate::args::Cli;

/// A session on `--zk`, or a one-line error saying ZooKeeper is unreachable.
pub async fn session(cli: &Cli) -> Result<Session, String> {
    Session::builder()
        .connect_timeout(Duration::from_secs(cli.timeout))
        .create_chroot(false)
        .connect(&cli.zk)
        .await
        .map_err(|e| format!("cannot reach ZooKeeper at {} within {} s ({e})", cli.zk, cli.timeout))
}

/// A registry on `--zk` (consumers of the command line itself are not registered).
pub async fn registry(cli: &Cli) -> Result<Registry, String> {
    Registry::builder().register_consumers(false).build(session(cli).await?).map_err(|e| e.to_string())
}

/// The live client of `session`.
pub fn client(session: &Session) -> Result<registry::Client, String> {
    session.client().ok_or_else(|| "lost the ZooKeeper connection".to_owned())
}
