//! Connecting, with the errors an operator can act on.

use std::time::Duration;

use registry::Session;

use crate::args::Cli;

/// Whether a command may create the connect string's chroot: commands that write (register,
/// config put and rollback) create it like `Registry::builder().connect` does; commands that
/// only read never create a chroot (a mistyped one would be left behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroot {
    /// Create the chroot when it is missing.
    Create,
    /// Use it only if it exists.
    Existing,
}

/// A session on `--zk`, or a one-line error saying ZooKeeper is unreachable.
pub async fn session(cli: &Cli, chroot: Chroot) -> Result<Session, String> {
    Session::builder()
        .connect_timeout(Duration::from_secs(cli.timeout))
        .create_chroot(chroot == Chroot::Create)
        .connect(&cli.zk)
        .await
        .map_err(|e| format!("cannot reach ZooKeeper at {} within {} s ({e})", cli.zk, cli.timeout))
}

/// The live client of `session`.
pub fn client(session: &Session) -> Result<registry::Client, String> {
    session.client().ok_or_else(|| "lost the ZooKeeper connection".to_owned())
}
