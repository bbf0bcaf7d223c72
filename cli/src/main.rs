//! `zkmesh`: the operator's command line for the zkmesh registry and config center.
//!
//! Every command takes `--zk CONNECT` (default: `$ZKMESH_ZK`, then `127.0.0.1:2181`), prints a
//! table by default and JSON with `--json` (one document, or JSON lines for streams), and exits
//! non-zero with a one-line error on failure. On a secured ensemble, credentials come from
//! `--auth-file` or `ZKMESH_AUTH`, never from the command line (see `credentials.rs`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod acl;
mod args;
mod config;
mod config_rollout;
mod console;
mod credentials;
mod dev;
mod dev_metrics;
mod doctor;
mod follow;
mod follow_tree;
mod interrupt;
mod jobs;
mod mntr;
mod output;
mod provider;
mod rules;
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
        Command::Services { layout } => services::services(&cli, layout.layout).await,
        Command::Providers { service, layout } => {
            services::members(&cli, service, "providers", layout.layout).await
        }
        Command::Consumers { service, layout } => {
            services::members(&cli, service, "consumers", layout.layout).await
        }
        Command::Watch { service, layout } => watch::watch(&cli, service, layout.layout).await,
        Command::Register { service, url, layout } => {
            watch::register(&cli, service, url, layout.layout).await
        }
        Command::Doctor => doctor::doctor(&cli).await,
        Command::Config { command } => config::run(&cli, command).await,
        Command::Jobs { name } => jobs::jobs(&cli, name.as_deref()).await,
        Command::Provider { command } => provider::run(&cli, command).await,
        Command::Rules { command } => rules::run(&cli, command).await,
        Command::Acl { command } => acl::run(&cli, command).await,
        Command::Console { args } => console::console(&cli, args).await,
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
