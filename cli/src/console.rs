//! `zkmesh console`: the web console (crate `zkmesh-console`) on this command line's
//! connection, until Ctrl-C.

use std::net::SocketAddr;

use crate::args::{Cli, ConsoleArgs};
use crate::zk;

/// Serves the console on `--listen` until Ctrl-C.
pub async fn console(cli: &Cli, args: &ConsoleArgs) -> Result<(), String> {
    let listen: SocketAddr =
        args.listen.parse().map_err(|_| format!("--listen {:?} is not IP:PORT", args.listen))?;
    let mut interrupt = crate::interrupt::Interrupt::new()?;
    let token = args.write_token.clone().filter(|t| !t.is_empty());
    let writable = token.is_some();
    let session = zk::session(cli, zk::Chroot::Existing).await?;
    let mut builder = zkmesh_console::Console::builder()
        .listen(listen)
        .write_token(token)
        .layout(args.layout.layout)
        .recipes(args.recipes.clone());
    if let Some(root) = &cli.root {
        builder = builder.root(root);
    }
    if let Some(root) = &args.config_root {
        builder = builder.config_root(root);
    }
    let console = builder.serve(session).await.map_err(|e| e.to_string())?;
    let mode = if writable {
        "writes need the token"
    } else {
        "read-only: start with --write-token to allow writes"
    };
    crate::out!("zkmesh console on http://{} ({mode}; Ctrl-C stops it)", console.local_addr());
    if !listen.ip().is_loopback() {
        eprintln!("zkmesh: WARNING: the console listens on {listen}, beyond this machine (no TLS)");
    }
    interrupt.recv().await;
    console.shutdown().await;
    Ok(())
}
