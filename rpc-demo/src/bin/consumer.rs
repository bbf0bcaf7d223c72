//! A greeter consumer, for running the demo's pieces in separate terminals:
//! `cargo run -p rpc-demo --bin consumer -- --zk 127.0.0.1:2181 --requests 20`.
//! Prints which provider answered each request.
#![forbid(unsafe_code)]

use std::time::Duration;

use clap::Parser;
use registry::Registry;
use rpc_demo::GreeterClient;

/// A greeter consumer.
#[derive(Debug, Parser)]
struct Args {
    /// ZooKeeper connect string.
    #[arg(long, env = "ZKMESH_ZK", default_value = "127.0.0.1:2181")]
    zk: String,
    /// How many requests (0: until Ctrl-C).
    #[arg(long, default_value_t = 20)]
    requests: u64,
    /// Milliseconds between requests.
    #[arg(long, default_value_t = 250)]
    interval_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let run = async {
        let registry = Registry::builder().connect(&args.zk).await?;
        let client = GreeterClient::new(&registry).await?;
        let mut i = 0u64;
        while args.requests == 0 || i < args.requests {
            match client.hello(&format!("user{i}")).await {
                Ok(reply) => println!("{:>5} {} ({}): {}", i, reply.provider, reply.address, reply.message),
                Err(e) => println!("{i:>5} failed: {e}"),
            }
            i += 1;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(args.interval_ms)) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        let stats = client.stats();
        println!("{} ok, {} failed, {} retried", stats.ok(), stats.failed(), stats.retries());
        Ok::<bool, rpc_demo::BoxError>(stats.failed() == 0)
    };
    match run.await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("consumer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
