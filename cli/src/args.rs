//! Command-line arguments.

use clap::{Parser, Subcommand};

/// The zkmesh operator's command line.
#[derive(Debug, Parser)]
#[command(
    name = "zkmesh",
    version,
    about = "Operate zkmesh: services, providers, consumers, config",
    after_help = "Credentials never go on the command line: put them in --auth-file or in ZKMESH_AUTH \
                  (`scheme:credentials`, e.g. `digest:team:secret`, `sasl:alice:secret`); Kerberos \
                  (--kerberos) uses the ticket `kinit` left."
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
    /// The root services live under (default: the layout's own, `/services`, or `/dubbo` with
    /// `--layout dubbo`).
    #[arg(long, global = true, env = "ZKMESH_ROOT")]
    pub root: Option<String>,
    /// Credentials file (mode 600): one `scheme:credentials` per line, e.g. `digest:team:secret`
    /// or `sasl:alice:secret`; `#` comments. `ZKMESH_AUTH` may hold one more entry.
    #[arg(long, global = true, env = "ZKMESH_AUTH_FILE", value_name = "FILE")]
    pub auth_file: Option<std::path::PathBuf>,
    /// Authenticate with SASL DIGEST-MD5 as USER; the password is the `sasl:USER:<password>`
    /// entry of --auth-file or ZKMESH_AUTH.
    #[arg(long, global = true, value_name = "USER")]
    pub sasl: Option<String>,
    /// Authenticate with SASL GSSAPI (Kerberos), with the ticket of the credentials cache
    /// (`kinit` first; `KRB5CCNAME`, `KRB5_CONFIG`), for the service principal
    /// `zookeeper/<host of --zk>`; ACL entries name `sasl:<principal>`. Not with --sasl.
    #[arg(long, global = true, conflicts_with = "sasl")]
    pub kerberos: bool,
    /// With --kerberos (implied): the host of the service principal `zookeeper/HOST`, when it is
    /// not the host of --zk (e.g. an IP address or a load balancer in --zk).
    #[arg(long, global = true, value_name = "HOST", conflicts_with = "sasl")]
    pub kerberos_host: Option<String>,
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
    /// Every service under the root, with its layouts and provider, consumer and instance counts.
    Services {
        /// The layout the root is read in.
        #[command(flatten)]
        layout: LayoutArg,
    },
    /// The providers of a service (the instances, in Curator's layout), decoded, with their
    /// registered weight and their effective weight under the service's rules, and whether the
    /// rules disable them (ejection after failed requests is each consumer process's own state:
    /// see its metrics).
    Providers {
        /// The service name.
        service: String,
        /// The layout the root is read in.
        #[command(flatten)]
        layout: LayoutArg,
    },
    /// The consumers of a service, decoded.
    Consumers {
        /// The service name.
        service: String,
        /// The layout the root is read in.
        #[command(flatten)]
        layout: LayoutArg,
    },
    /// Live provider additions and removals of a service, until Ctrl-C.
    Watch {
        /// The service name.
        service: String,
        /// The layout the root is read in.
        #[command(flatten)]
        layout: LayoutArg,
    },
    /// Holds an ephemeral provider registration until Ctrl-C.
    Register {
        /// The service name (must match the URL's path).
        service: String,
        /// The provider URL, e.g. `http://10.0.0.5:8080/greeter?weight=100`.
        url: String,
        /// The layout to register in.
        #[command(flatten)]
        layout: LayoutArg,
    },
    /// Finds layouts that collide under one root (zkmesh, Dubbo and Curator services side by
    /// side) and says what breaks for whom; exits non-zero when something does.
    Doctor,
    /// Config center documents: get, put, diff, history, rollback, watch.
    Config {
        /// What to do with the config.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Scheduled jobs (recipes' JobScheduler): kind, schedule, members, last and next run; with
    /// a name, also its members and shard owners.
    Jobs {
        /// One job to show in detail (default: every job, one line each).
        name: Option<String>,
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
    /// Who may write under a service or a config namespace (everyone reads): show, grant, revoke.
    Acl {
        /// What to do.
        #[command(subcommand)]
        command: AclCommand,
    },
    /// Serves the web console and its JSON API (see the README's "Console" section) until
    /// Ctrl-C; read-only unless a write token is given.
    Console {
        /// The console's settings.
        #[command(flatten)]
        args: ConsoleArgs,
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

/// `zkmesh console`'s settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// The address to serve on (`IP:PORT`; loopback by default: anything else reaches the
    /// network without TLS).
    #[arg(long, default_value = zkmesh_console::DEFAULT_LISTEN, value_name = "ADDR")]
    pub listen: String,
    /// Allow writes from requests carrying `Authorization: Bearer TOKEN` (better from the
    /// environment, ZKMESH_CONSOLE_TOKEN, than on the command line). Default: read-only.
    #[arg(long, env = "ZKMESH_CONSOLE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub write_token: Option<String>,
    /// The root of the config tree.
    #[arg(long, value_name = "PATH")]
    pub config_root: Option<String>,
    /// Where recipes live, scanned for elections, locks, queues, barriers (repeatable, or
    /// comma-separated). Default: the recipes' conventional roots (see the README).
    #[arg(long = "recipes", value_name = "PATH", value_delimiter = ',')]
    pub recipes: Vec<String>,
    /// The layout the root is read in.
    #[command(flatten)]
    pub layout: LayoutArg,
}

/// `--layout zkmesh|dubbo|curator`.
#[derive(Debug, Clone, clap::Args)]
pub struct LayoutArg {
    /// How the root is written: `zkmesh`, `dubbo` (`/dubbo/<interface>/providers`) or `curator`
    /// (`<root>/<name>/<id>` with Curator x-discovery's JSON).
    #[arg(long = "layout", default_value = "zkmesh")]
    pub layout: registry::Layout,
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
        /// Who publishes and why, kept with the version in the history.
        #[command(flatten)]
        meta: MetaArgs,
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
    /// Lists the versions kept in the history, the current one first, with author and message
    /// (`unknown` when the writer recorded none).
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
        /// Who rolls back and why (default message: `rollback to version N`).
        #[command(flatten)]
        meta: MetaArgs,
    },
    /// Prints every new version until Ctrl-C. The command is a watcher like any other: it keeps
    /// a status node (see `config status`) and loads a canary that selects it.
    Watch {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Who this watcher is.
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// The watchers of a document: the version each runs, accepted or refused (and why), since
    /// when. With `--wait VERSION`, waits (up to `--timeout` seconds) until every live watcher
    /// runs that version, and fails naming those that do not.
    Status {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Wait until every live watcher runs this version.
        #[arg(long, value_name = "VERSION")]
        wait: Option<i32>,
    },
    /// Publishes a TOML file as a canary: only the watchers selected load it (every criterion
    /// given must hold); refused when it selects no live watcher. A selected watcher that
    /// refuses it halts it (see `config status`).
    Canary {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The TOML file.
        file: std::path::PathBuf,
        /// A percentage of the watchers (0 to 100), by a stable hash of their instance names.
        #[arg(long)]
        percent: Option<u32>,
        /// The watchers with this label, `KEY=VALUE` (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// The watchers in this zone.
        #[arg(long)]
        zone: Option<String>,
        /// Who publishes and why.
        #[command(flatten)]
        meta: MetaArgs,
    },
    /// Publishes the canary's document for every watcher, as a new version.
    Promote {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Who promotes and why (default: the canary's).
        #[command(flatten)]
        meta: MetaArgs,
    },
    /// Removes the canary: the watchers that loaded it go back to the document.
    Abort {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Which layer sets each value at or under KEY (dotted; `""` for all) of a layered
    /// config, with the line and the lower layers it overrides (defaults and environment
    /// overrides live in the application: not shown).
    Explain {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The key (`db.pool`, or a table: `db`).
        key: String,
        /// The layers, lowest first, comma-separated (`shared,app,app-prod`; `NS/NAME` for
        /// another namespace). Default: those a live watcher of the document reports.
        #[arg(long, value_delimiter = ',')]
        layers: Option<Vec<String>>,
    },
}

/// `--instance`, `--label` and `--zone` of a watcher.
#[derive(Debug, Clone, clap::Args)]
pub struct IdentityArgs {
    /// The watcher's instance name in `config status` (default: `$ZKMESH_INSTANCE`, else
    /// `<hostname>-<pid>`).
    #[arg(long)]
    pub instance: Option<String>,
    /// A label, `KEY=VALUE`, for canaries by label (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// The zone, for canaries by zone.
    #[arg(long)]
    pub zone: Option<String>,
}

/// `--author` and `--message` of a publish.
#[derive(Debug, Clone, clap::Args)]
pub struct MetaArgs {
    /// Who publishes, kept in the history (default: `$ZKMESH_AUTHOR`, else `$USER`).
    #[arg(long)]
    pub author: Option<String>,
    /// Why, kept in the history.
    #[arg(long, short = 'm')]
    pub message: Option<String>,
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
