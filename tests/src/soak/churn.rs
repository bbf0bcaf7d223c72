//! The churn's steps: registering, deregistering or dropping a provider, publishing a
//! document, injecting a session expiry.

use std::collections::BTreeSet;
use std::time::Duration;

use config_center::Expect;
use registry::Registration;

use super::actors::SoakDoc;
use super::engine::Engine;
use super::params::{
    address_of, doc_name, url_of, ADDRESSES, CONSUMERS, DOCS, NAMESPACE, PROVIDERS, SERVICES, SETTLE_MAX,
};

impl Engine {
    pub(super) fn free_address(&mut self, s: usize) -> Option<usize> {
        let taken: BTreeSet<usize> = self
            .providers
            .iter()
            .flat_map(|p| p.held.keys())
            .filter(|(ks, _)| *ks == s)
            .map(|(_, a)| *a)
            .collect();
        let free: Vec<usize> = (0..ADDRESSES).filter(|a| !taken.contains(a)).collect();
        (!free.is_empty()).then(|| free[self.rng.index(free.len())])
    }

    pub(super) async fn register(&mut self, p: usize, s: usize, a: usize) {
        let url = match url_of(s, a) {
            Ok(url) => url,
            Err(e) => return self.report.violation(e),
        };
        match self.providers[p].registry.register(&url).await {
            Ok(registration) => {
                self.report.registers += 1;
                self.providers[p].held.insert((s, a), registration);
            }
            Err(e) => self.report.violation(format!("registering {} was refused: {e}", address_of(s, a))),
        }
    }

    pub(super) async fn register_one(&mut self) {
        let s = self.rng.index(SERVICES);
        let p = self.rng.index(PROVIDERS);
        if let Some(a) = self.free_address(s) {
            self.register(p, s, a).await;
        }
    }

    pub(super) async fn deregister(&mut self, registration: Registration, (s, a): (usize, usize)) {
        if self.rng.chance(70) {
            match registration.deregister().await {
                Ok(()) => self.report.deregisters += 1,
                Err(e) => self.report.violation(format!("deregistering {} failed: {e}", address_of(s, a))),
            }
        } else {
            self.report.drops += 1;
            drop(registration);
        }
    }

    pub(super) async fn deregister_one(&mut self) {
        let s = self.rng.index(SERVICES);
        let held: Vec<(usize, (usize, usize))> = self
            .providers
            .iter()
            .enumerate()
            .flat_map(|(p, side)| side.held.keys().filter(|(ks, _)| *ks == s).map(move |k| (p, *k)))
            .collect();
        if held.len() <= 1 {
            return; // never leave a service without a provider
        }
        let (p, key) = held[self.rng.index(held.len())];
        if let Some(registration) = self.providers[p].held.remove(&key) {
            self.deregister(registration, key).await;
        }
    }

    async fn publish(&mut self, d: usize) -> bool {
        let seq = self.publisher.next_seq;
        self.publisher.next_seq += 1;
        let doc = SoakDoc { seq, note: format!("document {d}, version {seq}") };
        match self.publisher.center.publish(NAMESPACE, &doc_name(d), &doc, Expect::Any).await {
            Ok(_) => {
                self.report.publishes += 1;
                self.publisher.last[d] = seq;
                self.publisher.uncertain[d] = false;
                true
            }
            Err(e) => {
                self.report.publish_errors += 1;
                self.publisher.uncertain[d] = true;
                tracing::debug!(error = %e, "soak publish failed; retried before the next check");
                false
            }
        }
    }

    pub(super) async fn publish_one(&mut self) {
        let d = self.rng.index(DOCS);
        self.publish(d).await;
    }

    /// Publishes again each document whose last publish failed, until one succeeds (bounded).
    pub(super) async fn resolve_publishes(&mut self) {
        for d in 0..DOCS {
            let deadline = tokio::time::Instant::now() + SETTLE_MAX;
            while self.publisher.uncertain[d] {
                if self.publish(d).await {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    self.report
                        .violation(format!("{} could not be published within {SETTLE_MAX:?}", doc_name(d)));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    pub(super) async fn expire_one(&mut self) {
        let total = PROVIDERS + CONSUMERS + 1;
        let i = self.rng.index(total);
        let session = if i < PROVIDERS {
            self.providers[i].registry.session().clone()
        } else if i < PROVIDERS + CONSUMERS {
            self.consumers[i - PROVIDERS].registry.session().clone()
        } else {
            self.publisher.center.session().clone()
        };
        let Some(info) = session.session_info() else { return };
        match local_zk::expire_session(&self.connect, &info).await {
            Ok(()) => self.report.expiries += 1,
            Err(e) => {
                self.report.expiry_failures += 1;
                tracing::warn!(error = %e, "soak could not inject an expiry");
            }
        }
    }
}
