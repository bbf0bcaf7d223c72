//! Leader election: three candidates on three sessions (three processes, as far as ZooKeeper
//! knows), and an observer that follows who leads. The first leader resigns, the second crashes
//! (its session closes), the third resigns, and the observer sees each change. Each leader runs
//! its work in [`lead`], which pauses while the session is `Suspended` (ZooKeeper may expire the
//! session and elect another leader before this process hears of it) and stops when the
//! leadership is lost, as the recipe's docs advise.
//!
//! ```text
//! cargo run -p examples --bin election -- --zk 127.0.0.1:2181
//! ```
use std::time::Duration;

use examples::BoxError;
use recipes::{LeaderElection, LeaderObserver, Leadership};
use registry::{Session, SessionState};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("election", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    // The observer is not a candidate; it watches only the leader's node (and keeps its session
    // open for as long as it lives).
    let observer_session = Session::connect(&zk).await?;
    let mut observer = LeaderObserver::new(&observer_session, "scheduler").await?;

    // Each candidate stands on its own session; `elect()` resolves when it leads.
    let (won, mut leaders) = mpsc::unbounded_channel();
    for name in ["candidate-a", "candidate-b", "candidate-c"] {
        let session = Session::connect(&zk).await?;
        let election = LeaderElection::new(&session, "scheduler", name.as_bytes())?;
        let won = won.clone();
        tokio::spawn(async move {
            let leadership = election.elect().await;
            let _ = won.send((name, session, leadership));
        });
    }

    for round in 0..3 {
        let Ok(Some((name, session, leadership))) = tokio::time::timeout(WAIT, leaders.recv()).await else {
            return Err("no candidate was elected".into());
        };
        let leadership = leadership?;
        println!("{name}: elected ({})", leadership.path());
        // The observer reads the leader's identity, the data of its candidate node.
        let leader = observer.wait_for(WAIT, |l| l.is_some_and(|l| l.identity == name.as_bytes())).await?;
        let identity = leader.map(|l| String::from_utf8_lossy(&l.identity).into_owned());
        println!("observer: leader is {}", identity.unwrap_or_default());
        let ticks = lead(name, &session, &leadership, 3).await;
        println!("{name}: did {ticks} units of work as leader");
        if round == 1 {
            // A crash: the session ends, the candidate node goes with it, and the next one in
            // line (only it was watching this node) takes over.
            println!("{name}: crashes");
            session.close().await;
            tokio::time::timeout(WAIT, leadership.lost()).await?;
            println!("{name}: leadership lost");
        } else {
            println!("{name}: resigns");
            leadership.resign().await?;
        }
    }
    observer.wait_for(WAIT, |l| l.is_none()).await?;
    println!("observer: nobody leads");
    Ok(())
}

/// The leader's work: `units` ticks, each done only while this process leads *and* its session
/// is connected. On `Suspended` it pauses until the session is back (`Reconnected`: same
/// session, still the leader) or the leadership is lost (the session expired; another process
/// may lead by now). Returns how many units it did.
async fn lead(name: &str, session: &Session, leadership: &Leadership, units: usize) -> usize {
    let mut states = session.state_watch();
    let mut done = 0;
    while done < units && leadership.is_leader() {
        if *states.borrow() == SessionState::Suspended {
            println!("{name}: session suspended; pausing the work");
            tokio::select! {
                _ = states.wait_for(|s| s.is_connected()) => continue,
                _ = leadership.lost() => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        done += 1;
    }
    done
}
