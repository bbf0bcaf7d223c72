//! The proxy's counters: what [`ProxyStats`] reports, and the guards that keep them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Counters of a proxy (one consistent-enough snapshot; each field is read on its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Connections accepted from clients.
    pub accepted: u64,
    /// Connections that reached the target.
    pub forwarded: u64,
    /// Client connections open now.
    pub open: usize,
    /// Connections closed with a reset (by a `Reset`, by
    /// [`Proxy::reset_connections`](super::Proxy::reset_connections), or
    /// because the target could not be reached).
    pub resets: u64,
    /// Bytes forwarded from clients to the target.
    pub bytes_up: u64,
    /// Bytes forwarded from the target to clients.
    pub bytes_down: u64,
    /// Tasks of the proxy still alive (the accept loop and one per connection); 0 once the
    /// proxy is dropped and its tasks have ended.
    pub live_tasks: usize,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) forwarded: AtomicU64,
    pub(super) open: AtomicUsize,
    pub(super) resets: AtomicU64,
    pub(super) bytes_up: AtomicU64,
    pub(super) bytes_down: AtomicU64,
    pub(super) live_tasks: AtomicUsize,
}

impl Counters {
    pub(super) fn snapshot(&self) -> ProxyStats {
        ProxyStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            resets: self.resets.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
            live_tasks: self.live_tasks.load(Ordering::Relaxed),
        }
    }
}

/// Counts an open connection while it lives.
pub(super) struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    pub(super) fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Open(counter)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a task from before it is spawned until its future is dropped (also when it is
/// aborted before it ever ran): moved into the future.
pub(super) struct LiveTask(Arc<Counters>);

impl LiveTask {
    pub(super) fn new(counters: &Arc<Counters>) -> Self {
        counters.live_tasks.fetch_add(1, Ordering::Relaxed);
        LiveTask(counters.clone())
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        self.0.live_tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A handle on a proxy's counters that outlives the proxy (to see its tasks end).
#[derive(Debug, Clone)]
pub struct ProxyMonitor(pub(super) Arc<Counters>);

impl ProxyMonitor {
    /// The counters now.
    pub fn stats(&self) -> ProxyStats {
        self.0.snapshot()
    }
}
