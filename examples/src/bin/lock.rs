//! An exclusive lock: four workers on four sessions each add 1 to a counter kept in ZooKeeper, ten
//! times, by reading it and writing it back. Without the lock, increments would be lost; with
//! it, the final count is exact.
//!
//! ```text
//! cargo run -p examples --bin lock -- --zk 127.0.0.1:2181
//! ```
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examples::BoxError;
use recipes::Lock;
use registry::Session;

const WORKERS: usize = 4;
const ROUNDS: usize = 10;
const COUNTER: &str = "/counter";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("lock", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    let session = Session::connect(&zk).await?;
    session.ensure_path(COUNTER).await?; // an empty node: count 0

    // How many workers are inside the critical section at once (should never exceed 1).
    let inside = Arc::new(AtomicUsize::new(0));
    let most_inside = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        // Each worker has its own session, as separate processes would.
        let session = Session::connect(&zk).await?;
        let lock = Lock::new(&session, "counter")?.with_data(format!("worker-{worker}").as_bytes());
        let (inside, most_inside) = (inside.clone(), most_inside.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                // Waits its turn: each waiter watches only the node just before its own.
                let guard = lock.acquire().await?;
                most_inside.fetch_max(inside.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);

                // The critical section: read, think, write back (no version check).
                let client = session.client().ok_or("not connected")?;
                let (data, _) = client.get_data(COUNTER).await?;
                let count: u64 = if data.is_empty() { 0 } else { std::str::from_utf8(&data)?.parse()? };
                tokio::time::sleep(Duration::from_millis(2)).await;
                client.set_data(COUNTER, (count + 1).to_string().as_bytes(), None).await?;

                inside.fetch_sub(1, Ordering::SeqCst);
                guard.release().await?; // deletes our node: the next in line goes
            }
            println!("worker-{worker}: done {ROUNDS} increments");
            Ok::<_, BoxError>(())
        }));
    }
    for worker in workers {
        let finished = tokio::time::timeout(Duration::from_secs(20), worker).await?;
        finished??; // the task's panic, then the worker's error
    }

    let client = session.client().ok_or("not connected")?;
    let (data, _) = client.get_data(COUNTER).await?;
    let count = String::from_utf8_lossy(&data).into_owned();
    let expected = WORKERS * ROUNDS;
    println!("most workers inside the lock at once: {}", most_inside.load(Ordering::SeqCst));
    println!("final count: {count} (expected {expected})");
    if count != expected.to_string() {
        return Err(format!("lost increments: {count} instead of {expected}").into());
    }
    println!("the count is exact");
    Ok(())
}
