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
    /// The providers of a service, decoded, with their registered weight and their effective
    /// weight under the service's rules, and whether the rules disable them (ejection after
    /// failed requests is each consumer process's own state: see its metrics).
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
    /// Config center documents: get, put, diff, history, rollback, watch.
    Config {
        /// What to do with the config.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Takes a provider out of rotation, brings it back, or sets its weight, for every consumer
    /// (an override in the service's rules document; `zkmesh rules` shows it).
    Provider {
        /// What to do with the provider.
        #[command(subcommand)]
        command: ProviderCommand,
    },
    /// A service's traffic rules document: get, put, diff, history, rollback, check.
    Rules {
        /// What to do with the rules.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Runs a local ZooKeeper for development in the foreground, until Ctrl-C, on 127.0.0.1 at
    /// the port of `--zk` (default 2181), or `--port`.
    Dev {
        /// The client port (default: the port of `--zk` / `ZKMESH_ZK`, which must then name
        /// this machine).
        #[arg(long)]
        port: Option<u16>,
        /// Also serve Prometheus metrics on this address (`IP:PORT`, e.g. 127.0.0.1:9464): zkmesh's
        /// metrics for every service on the server and ZooKeeper's `mntr` numbers.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
    },
}

/// `zkmesh config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Prints the document and its version.
    Get {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Publishes a TOML file (checked first), with compare-and-set on the version.
    Put {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The TOML file.
        file: std::path::PathBuf,
        /// Publish only if the current version is this one (-1: only if the document does not
        /// exist yet). Default: whatever is there.
        #[arg(long, allow_negative_numbers = true)]
        expect_version: Option<i32>,
    },
    /// Shows how a TOML file differs from the published document (lines: `-` published, `+` file).
    Diff {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The TOML file.
        file: std::path::PathBuf,
    },
    /// Lists the versions kept in the history.
    History {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Publishes an old version again, as a new version.
    Rollback {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The version to bring back (see `config history`).
        version: i32,
    },
    /// Prints every new version until Ctrl-C.
    Watch {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

/// `zkmesh provider ...`.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Takes the provider out of every consumer's set (refused when it would leave a consumer
    /// with no provider or disable more than half of them, unless `--force`).
    Disable {
        /// The service name.
        service: String,
        /// The provider's `HOST:PORT`.
        address: String,
        /// Publish even when the check refuses (loudly).
        #[arg(long)]
        force: bool,
    },
    /// Removes the provider's override: its registered weight applies again.
    Enable {
        /// The service name.
        service: String,
        /// The provider's `HOST:PORT`.
        address: String,
    },
    /// Sets the provider's weight (replacing the registered one) for every consumer.
    Weight {
        /// The service name.
        service: String,
        /// The provider's `HOST:PORT`.
        address: String,
        /// The new weight.
        weight: u32,
        /// Publish even when the check refuses (loudly).
        #[arg(long)]
        force: bool,
    },
}

/// `zkmesh rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Prints the rules document and its version.
    Get {
        /// The service name.
        service: String,
    },
    /// Publishes a rules file (validated, and checked against the service's consumers), with
    /// compare-and-set on the version; a conflict shows what was published meanwhile.
    Put {
        /// The service name.
        service: String,
        /// The TOML rules file.
        file: std::path::PathBuf,
        /// Publish only if the current version is this one (-1: only if there is no document
        /// yet). Default: whatever is there.
        #[arg(long, allow_negative_numbers = true)]
        expect_version: Option<i32>,
        /// Publish even when the check refuses (loudly).
        #[arg(long)]
        force: bool,
    },
    /// Shows how a rules file differs from the published document (`-` published, `+` file).
    Diff {
        /// The service name.
        service: String,
        /// The TOML rules file.
        file: std::path::PathBuf,
    },
    /// Lists the versions kept in the history.
    History {
        /// The service name.
        service: String,
    },
    /// Publishes an old version again, as a new version (checked like `put`).
    Rollback {
        /// The service name.
        service: String,
        /// The version to bring back (see `rules history`).
        version: i32,
        /// Publish even when the check refuses (loudly).
        #[arg(long)]
        force: bool,
    },
    /// Prints, for one consumer, which providers would receive what share under the published
    /// rules (or a file's), and whether a publish would pass the check.
    Check {
        /// The service name.
        service: String,
        /// The consumer's parameters, `zone=az1,tag=canary`. Default: none.
        #[arg(long)]
        consumer: Option<String>,
        /// Check this rules file instead of the published document.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}
