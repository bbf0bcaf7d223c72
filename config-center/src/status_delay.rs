//! The status writers' delay, kept by one timer thread per process instead of by each writer.
//!
//! A status writer writes its node a while after its watcher's state changes
//! ([`crate::ConfigCenterBuilder::status_delay`]). Were each writer woken at the change to start
//! its own timer, a publish would wake as many writer tasks as the process has watchers, in the
//! middle of those watchers' reads of the same publish. Instead the watch's task (the one that
//! applied the read) files a [`Poke`] here, which costs a lock and a push; this thread wakes the
//! writer when the delay has passed. A poke filed while one is pending folds into it.
//!
//! The thread is std, not a task: it belongs to no tokio runtime, so it outlives any (tests run
//! many), and [`tokio::sync::Notify`] can be notified from any thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// What a status writer waits on: notified once the delay after a change has passed.
#[derive(Debug, Default)]
pub(crate) struct Poke {
    notify: Notify,
    /// A poke is filed and not delivered yet.
    pending: AtomicBool,
}

impl Poke {
    /// Waits until a poke is delivered (one delivered while nobody waited is kept).
    pub(crate) async fn delivered(&self) {
        self.notify.notified().await;
    }
}

/// The pokes filed, and when each is due.
#[derive(Default)]
struct Timer {
    due: Mutex<Vec<(Instant, Arc<Poke>)>>,
    wake: Condvar,
}

static TIMER: LazyLock<Arc<Timer>> = LazyLock::new(|| {
    let timer = Arc::new(Timer::default());
    let run = timer.clone();
    let spawned = std::thread::Builder::new().name("zkmesh-status-delay".into()).spawn(move || run.run());
    if let Err(e) = spawned {
        tracing::error!(error = %e, "config status delay thread not started; status nodes will not be updated");
    }
    timer
});

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes `poke`'s writer `delay` from now, unless a poke of it is pending already (it then
/// covers this change too: the writer reads the state when it wakes).
pub(crate) fn after(delay: Duration, poke: &Arc<Poke>) {
    if poke.pending.swap(true, Ordering::AcqRel) {
        return;
    }
    let at = Instant::now() + delay;
    let timer = &*TIMER;
    let mut due = lock(&timer.due);
    let earliest = due.iter().all(|(other, _)| at < *other);
    due.push((at, poke.clone()));
    drop(due);
    if earliest {
        timer.wake.notify_one();
    }
}

impl Timer {
    /// Delivers the pokes as they fall due. The next deadline is computed under the lock the
    /// wait releases, so a poke filed meanwhile (and its notification) cannot be missed.
    fn run(&self) {
        let mut due = lock(&self.due);
        loop {
            let now = Instant::now();
            let mut ready = Vec::new();
            due.retain(|(at, poke)| {
                let is_due = *at <= now;
                if is_due {
                    ready.push(poke.clone());
                }
                !is_due
            });
            if !ready.is_empty() {
                drop(due);
                for poke in ready {
                    poke.pending.store(false, Ordering::Release);
                    poke.notify.notify_one();
                }
                due = lock(&self.due);
                continue;
            }
            due = match due.iter().map(|(at, _)| *at).min() {
                Some(next) => {
                    let wait = next.saturating_duration_since(now);
                    self.wake.wait_timeout(due, wait).unwrap_or_else(PoisonError::into_inner).0
                }
                None => self.wake.wait(due).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_poke_is_delivered_and_a_poke_filed_while_one_is_pending_folds_into_it() {
        let later = Arc::new(Poke::default());
        after(Duration::from_secs(3600), &later);
        after(Duration::ZERO, &later);
        let filed = lock(&TIMER.due).iter().filter(|(_, p)| Arc::ptr_eq(p, &later)).count();
        assert_eq!(filed, 1, "the second poke folded into the pending one");

        let now = Arc::new(Poke::default());
        after(Duration::ZERO, &now);
        now.delivered().await;
        assert!(!now.pending.load(Ordering::Acquire), "delivered: the next change files a new poke");
        after(Duration::ZERO, &now);
        now.delivered().await;
    }
}
