//! Provider additions and removals as a stream, diffed per subscriber.
//!
//! Each [`ProviderChanges`] keeps the set it has reported so far and diffs every new provider
//! set against it, so a slow reader never loses a change that matters: it may skip
//! intermediate states, but always converges on the latest set, one `Added`/`Removed` at a time.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use crate::consumer::subscription::KeepAlive;
use crate::consumer::{Provider, ProviderSet};
use crate::url::ServiceUrl;

/// One change in a service's provider list.
#[derive(Debug, Clone)]
pub enum ProviderChange {
    /// A provider appeared (or is reported for the first time).
    Added(Provider),
    /// A provider went away.
    Removed(Provider),
}

/// A stream of [`ProviderChange`]s; see [`crate::Subscription::changes`].
pub struct ProviderChanges {
    sets: WatchStream<Arc<ProviderSet>>,
    seen: BTreeMap<ServiceUrl, Provider>,
    pending: VecDeque<ProviderChange>,
    _alive: KeepAlive,
}

impl std::fmt::Debug for ProviderChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderChanges")
            .field("seen", &self.seen.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl ProviderChanges {
    pub(crate) fn new(rx: watch::Receiver<Arc<ProviderSet>>, alive: KeepAlive) -> Self {
        ProviderChanges {
            sets: WatchStream::new(rx),
            seen: BTreeMap::new(),
            pending: VecDeque::new(),
            _alive: alive,
        }
    }

    /// The next change. The stream keeps its subscription running, so it ends only when the
    /// session is closed.
    pub async fn next(&mut self) -> Option<ProviderChange> {
        futures::StreamExt::next(self).await
    }

    fn diff(&mut self, set: &ProviderSet) {
        let mut next: BTreeMap<ServiceUrl, Provider> = BTreeMap::new();
        for p in set.iter() {
            next.insert(p.url().clone(), p.clone());
        }
        for (url, p) in &self.seen {
            if !next.contains_key(url) {
                self.pending.push_back(ProviderChange::Removed(p.clone()));
            }
        }
        for (url, p) in &next {
            if !self.seen.contains_key(url) {
                self.pending.push_back(ProviderChange::Added(p.clone()));
            }
        }
        self.seen = next;
    }
}

impl Stream for ProviderChanges {
    type Item = ProviderChange;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ProviderChange>> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                return Poll::Ready(Some(change));
            }
            match Pin::new(&mut self.sets).poll_next(cx) {
                Poll::Ready(Some(set)) => self.diff(&set),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
