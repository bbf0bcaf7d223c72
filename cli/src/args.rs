//! Command-line arguments.

use clap::{Parser, Subcommand};

/// The zkmesh operator's command line.
#[derive(Debug, Parser)]
#[command(
    name = "zkmesh",
    version,
    about = "Operate zkmesh: services, providers, consumers, config",
    after_help = "Credentials never go on the command line: put them in --auth-file or in ZKMESH_AUTH \
                  (`scheme:credentials`, e.g. `digest:team:secret`, `sasl:alice:secret`)."
)]
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
    /// Credentials file (mode 600): one `scheme:credentials` per line, e.g. `digest:team:secret`
    /// or `sasl:alice:secret`; `#` comments. `ZKMESH_AUTH` may hold one more entry.
    #[arg(long, global = true, env = "ZKMESH_AUTH_FILE", value_name = "FILE")]
    pub auth_file: Option<std::path::PathBuf>,
    /// Authenticate with SASL DIGEST-MD5 as USER; the password is the `sasl:USER:<password>`
    /// entry of --auth-file or ZKMESH_AUTH.
    #[arg(long, global = true, value_name = "USER")]
    pub sasl: Option<String>,
    /// Connect over TLS, trusting the CA certificates of this PEM file (`--zk` then names TLS
    /// ports).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for mutual TLS; with --tls-key and --tls-ca.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_key: Option<std::path::PathBuf>,
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
    /// Config center documents: get, put, diff, history, rollback, watch.
    Config {
        /// What to do with the config.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Who may write under a service or a config namespace (everyone reads): show, grant, revoke.
    Acl {
        /// What to do.
        #[command(subcommand)]
        command: AclCommand,
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

/// What an ACL command governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AclKind {
    /// `/services/<name>`: its providers and rules.
    Service,
    /// `/config/<name>`: its documents.
    Namespace,
}

/// `zkmesh acl ...`.
#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Who may write under a service or namespace.
    Show {
        /// service or namespace.
        kind: AclKind,
        /// Its name.
        name: String,
    },
    /// Lets identities write (`digest:<user>:<digest>`, `sasl:<user>`, `x509:<subject>`); the
    /// caller's own identities stay writers. Needs credentials.
    Grant {
        /// service or namespace.
        kind: AclKind,
        /// Its name.
        name: String,
        /// The identities.
        #[arg(required = true)]
        identities: Vec<String>,
    },
    /// Takes write rights away (digest users by name: `digest:<user>` is enough).
    Revoke {
        /// service or namespace.
        kind: AclKind,
        /// Its name.
        name: String,
        /// The identities.
        #[arg(required = true)]
        identities: Vec<String>,
    },
    /// Prints the ACL id of a digest user (`digest:<user>:<digest>`), reading the password
    /// from standard input (never from the command line).
    Digest {
        /// The user name.
        user: String,
    },
}
