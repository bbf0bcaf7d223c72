//! `zkmesh`: the operator's command line for the zkmesh registry and config center.
//!
//! Every command takes `--zk CONNECT` (default: `$ZKMESH_ZK`, then `127.0.0.1:2181`), prints a
//! table by default and JSON with `--json` (one document, or JSON lines for streams), and exits
//! non-zero with a one-line error on failure. On a secured ensemble, credentials come from
//! `--auth-file` or `ZKMESH_AUTH`, never from the command line (see `credentials.rs`).
#![forbid(unsafe_code)]

mod acl;
mod args;
mod config;
mod credentials;
mod dev;
mod dev_metrics;
mod follow;
mod interrupt;
mod mntr;
mod output;
mod services;
mod watch;
mod zk;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Services => services::services(&cli).await,
        Command::Providers { service } => services::members(&cli, service, "providers").await,
        Command::Consumers { service } => services::members(&cli, service, "consumers").await,
        Command::Watch { service } => watch::watch(&cli, service).await,
        Command::Register { service, url } => watch::register(&cli, service, url).await,
        Command::Config { command } => config::run(&cli, command).await,
        Command::Acl { command } => acl::run(&cli, command).await,
        Command::Dev { port, metrics } => dev::dev(&cli.zk, *port, metrics.as_deref()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkmesh: {}", zk::explain(&cli, e));
            ExitCode::FAILURE
        }
    }
}
