//! Command-line arguments.

use clap::{Parser, Subcommand};

/// The zkmesh operator's command line.
#[derive(Debug, Parser)]
#[command(name = "zkmesh", version, about = "Operate zkmesh: services, providers, consumers, config")]
pub struct Cli {
    /// ZooKeeper connect string (`host:port[,host:port...][/chroot]`).
    #[arg(long, global = true, env = "ZKMESH_ZK", default_value = "127.0.0.1:2181")]
    pub zk: String,
    /// Print JSON (one document; JSON lines for streams) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for ZooKeeper before giving up.
    #[arg(long, global = true, default_value_t = 5)]
    pub timeout: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every service, with provider and consumer counts.
    Services,
    /// The providers of a service, decoded.
    Providers {
        /// The service name.
        service: String,
    },
    /// The consumers of a service, decoded.
    Consumers {
        /// The service name.
        service: String,
    },
    /// Live provider additions and removals of a service, until Ctrl-C.
    Watch {
        /// The service name.
        service: String,
    },
    /// Holds an ephemeral provider registration until Ctrl-C.
    Register {
        /// The service name (must match the URL's path).
        service: String,
        /// The provider URL, e.g. `http://10.0.0.5:8080/greeter?weight=100`.
        url: String,
    },
    /// Runs a local ZooKeeper for development in the foreground, until Ctrl-C.
    Dev {
        /// The client port.
        #[arg(long, default_value_t = 2181)]
        port: u16,
    },
}
