//! A distributed FIFO queue: three consumers wait on it, a producer puts 20 items, and every item
//! is taken exactly once.
//!
//! ```text
//! cargo run -p examples --bin queue -- --zk 127.0.0.1:2181
//! ```
use std::collections::BTreeMap;
use std::time::Duration;

use examples::BoxError;
use recipes::DistributedQueue;
use registry::Session;

const ITEMS: usize = 20;
const CONSUMERS: usize = 3;
const STOP: &[u8] = b"stop";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("queue", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    // Consumers first, each on its own session: `take()` blocks until there is an item. Waiting
    // takers line up, and only the first in line watches the queue: no herd on each put.
    let mut consumers = Vec::new();
    for consumer in 0..CONSUMERS {
        let queue = DistributedQueue::new(&Session::connect(&zk).await?, "jobs")?;
        consumers.push(tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let item = queue.take().await?;
                if item == STOP {
                    break;
                }
                taken.push(String::from_utf8(item)?);
                tokio::time::sleep(Duration::from_millis(5)).await; // work on it
            }
            println!("consumer-{consumer} took {}: {}", taken.len(), taken.join(" "));
            Ok::<_, BoxError>(taken)
        }));
    }

    // The producer: items are persistent sequential nodes, so they outlive it.
    let producer = DistributedQueue::new(&Session::connect(&zk).await?, "jobs")?;
    for i in 0..ITEMS {
        producer.put(format!("item-{i:02}").as_bytes()).await?;
    }
    // First in, first out: the stops come after every item, one per consumer.
    for _ in 0..CONSUMERS {
        producer.put(STOP).await?;
    }
    println!("producer put {ITEMS} items and {CONSUMERS} stops");

    // Count how many times each item was taken.
    let mut times_taken: BTreeMap<String, usize> = BTreeMap::new();
    for consumer in consumers {
        let finished = tokio::time::timeout(Duration::from_secs(20), consumer).await?;
        for item in finished?? {
            *times_taken.entry(item).or_default() += 1;
        }
    }
    let once = times_taken.values().filter(|&&n| n == 1).count();
    println!("{} distinct items taken, {once} of them exactly once", times_taken.len());
    if once != ITEMS || times_taken.len() != ITEMS {
        return Err(format!("items taken: {times_taken:?}").into());
    }
    println!("each of the {ITEMS} items was taken exactly once; queue length now {}", producer.len().await?);
    Ok(())
}
