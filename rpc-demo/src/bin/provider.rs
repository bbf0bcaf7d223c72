//! One greeter provider, for running the demo's pieces in separate terminals:
//! `cargo run -p rpc-demo --bin provider -- --zk 127.0.0.1:2181 --name p1 --weight 100`.
//! It hot-reloads its settings from `/config/demo/greeter` (try `zkmesh config put demo greeter
//! settings.toml`). Ctrl-C shuts it down gracefully (deregister, then drain).
#![forbid(unsafe_code)]

use std::time::Duration;

use clap::Parser;
use rpc_demo::GreeterProvider;

/// A greeter provider.
#[derive(Debug, Parser)]
struct Args {
    /// ZooKeeper connect string.
    #[arg(long, env = "ZKMESH_ZK", default_value = "127.0.0.1:2181")]
    zk: String,
    /// The provider's name (shown in replies).
    #[arg(long, default_value = "p1")]
    name: String,
    /// Port to listen on (0: any free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Load-balancing weight.
    #[arg(long, default_value_t = 100)]
    weight: u32,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // Installed before "serving" is printed, so an early Ctrl-C still drains and deregisters.
    let mut interrupt = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        Ok(signal) => signal,
        Err(e) => {
            eprintln!("provider: cannot handle Ctrl-C: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let provider =
        match GreeterProvider::start(&args.zk, &args.name, args.port, args.weight, Duration::from_secs(10))
            .await
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("provider: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    println!(
        "{} serving on {}, registered as {:?}",
        args.name,
        provider.addr(),
        provider.url().map(|u| u.to_string())
    );
    interrupt.recv().await;
    println!("shutting down: deregister, then drain");
    match provider.shutdown(Duration::from_secs(1)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provider: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
