//! `zkbench`: zkmesh's speed against the raw `zookeeper-client` floor, measured in the same run.
//!
//! Each subcommand starts its own local ZooKeeper unless `--zk` is given and prints one summary
//! line last, in `key=value` form, with the ratios. See BENCHMARKS.md for recorded results.
#![forbid(unsafe_code)]

mod config;
mod config_follow;
mod eject;
mod fanout;
mod plot;
mod plot_cdf;
mod plot_cost;
mod plot_shares;
mod propagation;
mod rules;
mod scale;
mod select;
mod stats;
mod storm;
mod weighted;

use clap::{Parser, Subcommand, ValueEnum};
use local_zk::LocalZooKeeper;

/// zkmesh benchmarks.
#[derive(Debug, Parser)]
#[command(name = "zkbench")]
struct Cli {
    /// Use this ZooKeeper instead of starting a local one (`--server` is then ignored).
    #[arg(long, global = true)]
    zk: Option<String>,
    /// Which local ZooKeeper to measure on: `tuned` (`forceSync=no`, `tickTime` 500 ms),
    /// `production` (fsync on, `tickTime` 2000 ms, as production runs it) or `both`, one after
    /// the other; each summary line starts with `server=NAME`.
    #[arg(long, global = true, value_enum, default_value_t = Server::Both)]
    server: Server,
    /// Also draw the run as an SVG plot in FILE (with two servers, one file each: `-tuned` and
    /// `-production` before the extension): latency CDFs for `propagation`, cost per pick
    /// against the number of providers for `select`, request shares against weight shares for
    /// `weighted`.
    #[arg(long, global = true, value_name = "FILE")]
    plot: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The local servers a run measures on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Server {
    /// `forceSync=no`, `tickTime` 500 ms: the fast server tests use.
    Tuned,
    /// fsync on, `tickTime` 2000 ms: ZooKeeper as production runs it.
    Production,
    /// Tuned, then production.
    Both,
}

#[derive(Debug, Clone, Subcommand)]
enum Command {
    /// Random provider churn, config publishes and injected expiries with an invariant checker;
    /// fds, tasks and RSS measured at start and end (see `tests::soak`).
    Soak {
        /// How long to run.
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Random seed (a run replays from its seed).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A provider registers / deregisters (separate session) until a consumer's cache shows it,
    /// against the one-shot and the persistent-watch floors.
    Propagation(propagation::Args),
    /// A typed config publish until all W watchers (one session each) load it.
    Config {
        /// Watchers, each on its own session.
        #[arg(long, default_value_t = 100)]
        watchers: usize,
        /// Trials.
        #[arg(long, default_value_t = 200)]
        trials: usize,
        /// History entries kept per publish (0: no history, a publish is one `set_data`).
        #[arg(long, default_value_t = config_center::DEFAULT_HISTORY_LIMIT)]
        history_limit: usize,
        /// Also time the same `set_data` read through registry's `NodeWatch` alone (W more
        /// sessions), to split zkmesh's time between registry and config-center.
        #[arg(long)]
        breakdown: bool,
        /// Watchers keep no status node (no status writes; `status_p50_us` is then not
        /// measured): run it next to a default run to see what status writes cost.
        #[arg(long)]
        no_status: bool,
        /// Also time until a task waiting in `Config::changed()` per watcher wakes with the
        /// value (`wake_p50_us`): 100 more tasks woken in every trial, on zkmesh's side only.
        #[arg(long)]
        wake: bool,
    },
    /// P registrations from S sessions at once: how soon the consumer converges, how many reads.
    Storm {
        /// Providers.
        #[arg(long, default_value_t = 1000)]
        providers: usize,
        /// Provider sessions.
        #[arg(long, default_value_t = 10)]
        sessions: usize,
        /// Start without the service's `providers` node (a first deployment).
        #[arg(long)]
        cold: bool,
    },
    /// Picks per second through `select()` against a `RwLock<Vec<_>>` baseline.
    Select {
        /// Providers in the cache; several, comma-separated, run one after the other (one
        /// summary line each), e.g. `10,100,1000,10000` for the cost against the count.
        #[arg(long, value_delimiter = ',', default_values_t = [1000usize])]
        providers: Vec<usize>,
        /// Threads picking at once.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Picks per thread.
        #[arg(long, default_value_t = 2_000_000)]
        picks: usize,
    },
    /// Request shares per provider against weight shares, at equal latency: zkmesh's
    /// `Balancer` and tower's p2c in the same run.
    Weighted {
        /// The providers' weights, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [100u32, 100, 50])]
        weights: Vec<u32>,
        /// Requests through each balancer.
        #[arg(long, default_value_t = 30_000)]
        requests: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Every provider's latency, in milliseconds.
        #[arg(long, default_value_t = 1)]
        latency_ms: u64,
    },
    /// A `disable` publish (rules document) until every consumer's picks exclude the provider,
    /// against a raw `set_data` read by as many raw watchers.
    Rules {
        /// Consumers, each on its own session.
        #[arg(long, default_value_t = 100)]
        consumers: usize,
        /// Measured trials.
        #[arg(long, default_value_t = 50)]
        trials: usize,
        /// Also time a plain `set_data` of the rules (the consumers' side alone) and the floor
        /// written with a history-shaped `multi` (the write's shape alone).
        #[arg(long)]
        split: bool,
        /// Time the one-shot publish (read, then write) instead of following the service.
        #[arg(long)]
        no_follow: bool,
    },
    /// A provider starts refusing connections (its node stays registered), then listens again:
    /// how soon it gets no request, failed and retried calls, how soon its probe readmits it.
    Eject(eject::Args),
    /// Many consumers of one large service: bytes ZooKeeper sends per change per consumer and
    /// its CPU time per change, the one-shot path against the persistent watch.
    Fanout(fanout::Args),
    /// One consumer subscribing to many services.
    Scale {
        /// Services.
        #[arg(long, default_value_t = 1000)]
        services: usize,
        /// Providers per service.
        #[arg(long, default_value_t = 20)]
        providers_per_service: usize,
        /// Update trials after the initial sync.
        #[arg(long, default_value_t = 100)]
        trials: usize,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let servers: &[(&str, Option<bool>)] = match (&cli.zk, cli.server) {
        (Some(_), _) => &[("given", None)],
        (None, Server::Tuned) => &[("tuned", Some(false))],
        (None, Server::Production) => &[("production", Some(true))],
        (None, Server::Both) => &[("tuned", Some(false)), ("production", Some(true))],
    };
    if cli.plot.is_some() && !plots(&cli.command) {
        eprintln!("zkbench: --plot draws propagation, select and weighted runs only");
        return std::process::ExitCode::FAILURE;
    }
    for (name, production) in servers {
        let mut figure = None;
        match run(cli.zk.clone(), *production, cli.command.clone(), &mut figure).await {
            Ok(summary) => summary.lines().for_each(|line| println!("server={name} {line}")),
            Err(e) => {
                eprintln!("zkbench: server={name}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        if let (Some(file), Some(figure)) = (&cli.plot, figure) {
            let path = plot::path_for(file, name, servers.len());
            if let Err(e) = figure.write(&path, name) {
                eprintln!("zkbench: server={name}: writing the plot {}: {e}", path.display());
                return std::process::ExitCode::FAILURE;
            }
            eprintln!("zkbench: plot written to {}", path.display());
        }
    }
    std::process::ExitCode::SUCCESS
}

/// Whether `command` draws a plot with `--plot`.
fn plots(command: &Command) -> bool {
    matches!(command, Command::Propagation(_) | Command::Select { .. } | Command::Weighted { .. })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Tasks a benchmark spawned for its run, aborted when dropped: a raw zookeeper-client watcher
/// still waiting when the runtime drops its session's task panics in zookeeper-client, after the
/// summary line.
#[derive(Default)]
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Tasks {
    fn push(&mut self, task: tokio::task::JoinHandle<()>) {
        self.0.push(task);
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// One run of `command` on `zk`, or on a local server started here (`production`: the
/// production-like one); its summary, one line per measurement, and its plot in `figure`
/// where it draws one.
async fn run(
    zk: Option<String>,
    production: Option<bool>,
    command: Command,
    figure: &mut Option<plot::Figure>,
) -> Result<String, BoxError> {
    let _local;
    let mut pid = None;
    let zk = match zk {
        Some(zk) => zk,
        None => {
            let builder = LocalZooKeeper::builder();
            let builder = if production == Some(true) { builder.production_like() } else { builder };
            let local = builder.start().await?;
            let connect = local.connect_string();
            eprintln!("zkbench: local ZooKeeper on {connect}");
            pid = local.pid();
            _local = local;
            connect
        }
    };
    let root = format!("{zk}/zkbench-{}", std::process::id());
    match command {
        Command::Soak { seconds, seed } => {
            // The soak makes its own chroot under the ZooKeeper root.
            let report = tests::soak(&zk, std::time::Duration::from_secs(seconds), seed).await?;
            if !report.is_clean() {
                eprintln!("{report}");
                return Err("the soak broke an invariant (report above)".into());
            }
            Ok(report.to_string())
        }
        Command::Propagation(args) => propagation::run(&root, args, figure).await,
        Command::Config { watchers, trials, history_limit, breakdown, no_status, wake } => {
            let options = config::Options { history_limit, breakdown, status: !no_status, wake };
            config::run(&root, watchers, trials, options).await
        }
        Command::Storm { providers, sessions, cold } => storm::run(&root, providers, sessions, cold).await,
        Command::Select { providers, threads, picks } => {
            select::run(&root, &providers, threads, picks, figure).await
        }
        Command::Weighted { weights, requests, concurrency, latency_ms } => {
            let latency = std::time::Duration::from_millis(latency_ms);
            weighted::run(&root, weighted::Options { weights, requests, concurrency, latency }, figure).await
        }
        Command::Rules { consumers, trials, split, no_follow } => {
            rules::run(&root, consumers, trials, split, !no_follow).await
        }
        Command::Eject(args) => eject::run(&root, args).await,
        Command::Fanout(args) => fanout::run(&root, pid, args).await,
        Command::Scale { services, providers_per_service, trials } => {
            scale::run(&root, services, providers_per_service, trials).await
        }
    }
}
