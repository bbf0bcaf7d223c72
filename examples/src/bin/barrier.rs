//! A double barrier: four participants arrive at different times and are released together once
//! the last one is in; they work for different times and leave together once the last one is done.
//!
//! ```text
//! cargo run -p examples --bin barrier -- --zk 127.0.0.1:2181
//! ```
use std::time::Duration;

use examples::BoxError;
use recipes::DoubleBarrier;
use registry::Session;
use tokio::time::Instant;

const PARTICIPANTS: usize = 4;

/// When a participant arrived, was let in, asked to leave and was let out.
struct Times {
    arrived: Instant,
    entered: Instant,
    leaving: Instant,
    left: Instant,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("barrier", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    let start = Instant::now();
    let ms = move |t: Instant| t.duration_since(start).as_millis();
    let mut participants = Vec::new();
    for i in 0..PARTICIPANTS {
        // Each participant has its own session, as separate processes would.
        let session = Session::connect(&zk).await?;
        let barrier = DoubleBarrier::new(&session, "batch-1", PARTICIPANTS)?;
        participants.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150 * i as u64)).await; // arrives late
            let arrived = Instant::now();
            println!("participant-{i} arrives at {} ms", ms(arrived));
            // Waits until all PARTICIPANTS are in; the last to come releases everyone at once.
            let member = barrier.enter().await?;
            let entered = Instant::now();
            println!("participant-{i} released at {} ms", ms(entered));

            tokio::time::sleep(Duration::from_millis(100 * (PARTICIPANTS - i) as u64)).await; // works

            let leaving = Instant::now();
            println!("participant-{i} done at {} ms", ms(leaving));
            // Waits until every participant has left.
            member.leave().await?;
            let left = Instant::now();
            println!("participant-{i} left at {} ms", ms(left));
            Ok::<_, BoxError>(Times { arrived, entered, leaving, left })
        }));
    }
    let mut times = Vec::new();
    for participant in participants {
        let finished = tokio::time::timeout(Duration::from_secs(20), participant).await?;
        times.push(finished??);
    }

    // Nobody passed the barrier before the last one arrived, nor left it before the last was done.
    let last_arrival = times.iter().map(|t| t.arrived).max().ok_or("nobody came")?;
    let first_entry = times.iter().map(|t| t.entered).min().ok_or("nobody came")?;
    let last_done = times.iter().map(|t| t.leaving).max().ok_or("nobody came")?;
    let first_exit = times.iter().map(|t| t.left).min().ok_or("nobody came")?;
    if first_entry < last_arrival || first_exit < last_done {
        return Err("a participant passed the barrier early".into());
    }
    println!("all {PARTICIPANTS} entered together, after the last arrival at {} ms", ms(last_arrival));
    println!("all {PARTICIPANTS} left together, after the last was done at {} ms", ms(last_done));
    Ok(())
}
