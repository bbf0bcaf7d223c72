//! A subscription to one service in several sources (layouts, roots) at once: the union of
//! their providers, one per address, so that a fleet can move from one layout to another
//! without a flag day.
//!
//! Each source is followed by a part: a [`Directory`] of its own, in its own layout, with no
//! filter, no empty protection and no disk snapshot, whose providers report their outcomes to
//! the subscription's ejector (the parts share its outliers). A merge task takes every
//! part's current providers whenever one changes, keeps the newest registration of each
//! address (`latest_per_address`) and publishes the union through the subscription's own
//! directory (filter, empty protection, the set and its balancer). The union is published
//! once every source has answered, so the first set is not missing a source.

use std::sync::Arc;

use futures::future::select_all;

use super::directory::{latest_per_address, Listing};
use super::{Directory, Filter, ProviderSource};
use crate::layout::Source;
use crate::session::{lock, Session};

/// The tasks of a union subscription: one follower per source, the merge, the warm-up ticker
/// and the ejector.
pub(super) fn spawn_tasks(
    session: &Session,
    dir: &Arc<Directory>,
    sources: &[Source],
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut options = dir.options.clone().filter(Filter::any()).empty_protection(false);
    options.snapshot_dir = None;
    let mut tasks = Vec::new();
    let mut parts = Vec::new();
    for source in sources {
        options.sources = vec![source.clone()];
        let mut part = Directory::new(&dir.service, dir.environment.clone(), options.clone(), source.layout);
        part.outliers = dir.outliers.clone();
        part.part_of_union = true;
        let part = Arc::new(part);
        tasks.push(tokio::spawn(super::membership::follow_source(
            session.core(),
            part.clone(),
            source.clone(),
        )));
        parts.push(part);
    }
    tasks.push(tokio::spawn(merge(dir.clone(), parts)));
    tasks.push(tokio::spawn(super::directory::warmup_ticker(dir.clone())));
    tasks.push(tokio::spawn(super::ejector::run(dir.clone())));
    tasks
}

/// Publishes the union of the parts' providers whenever one of them changes.
async fn merge(dir: Arc<Directory>, parts: Vec<Arc<Directory>>) {
    let mut updates: Vec<_> = parts.iter().map(|p| p.updates.subscribe()).collect();
    loop {
        let sets: Vec<_> = updates.iter_mut().map(|rx| rx.borrow_and_update().clone()).collect();
        if sets.iter().all(|s| s.source() != ProviderSource::Empty) {
            let providers = sets.iter().flat_map(|s| s.iter().cloned()).collect::<Vec<_>>();
            let rejected = sets.iter().flat_map(|s| s.rejected().iter().cloned()).collect();
            let _known = lock(&dir.known);
            let current = dir.cache.load_full();
            let protected = dir.refuses_empty(providers.is_empty(), &current);
            let mut providers = latest_per_address(providers);
            super::provider_set::sort_by_url(&mut providers);
            let source = ProviderSource::ZooKeeper;
            dir.publish(&current, Listing { providers, rejected, protected, source, disk: None });
        }
        let changed = select_all(updates.iter_mut().map(|rx| Box::pin(rx.changed()))).await;
        if changed.0.is_err() {
            return; // a part is gone: the subscription is being dropped
        }
    }
}
