//! The invariants: the checks made at every step, and the settle-and-check against
//! ZooKeeper.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use registry::SessionState;

use super::engine::Engine;
use super::params::{address_of, doc_name, service, DOCS, NAMESPACE, SERVICES, SETTLE_MAX};
use crate::support::{addresses, providers_in_zookeeper};

impl Engine {
    /// The checks made at every step: no cache that had providers is empty, no watcher goes
    /// back to an older document, and a `select()` picks from the set current around it (the
    /// calling thread's copy: the engine's task moves between the runtime's threads).
    pub(super) fn sample(&mut self) {
        let mut broken = Vec::new();
        for (c, consumer) in self.consumers.iter_mut().enumerate() {
            for (s, sub) in consumer.subs.iter().enumerate() {
                let before = sub.current();
                let picked = sub.select().map(|p| p.url().clone());
                let after = sub.current();
                if before.version() == after.version() {
                    self.report.picks_checked += 1;
                    match &picked {
                        Some(url) if before.get(url).is_none() => broken.push(format!(
                            "consumer {c}: select() on {} picked {url}, not in set version {}",
                            service(s),
                            before.version()
                        )),
                        None if !before.is_empty() => broken.push(format!(
                            "consumer {c}: select() on {} picked nothing from {} providers",
                            service(s),
                            before.len()
                        )),
                        _ => {}
                    }
                }
                let empty = after.is_empty();
                if empty && consumer.had_providers[s] {
                    self.report.empty_samples += 1;
                    if self.report.empty_samples == 1 {
                        broken.push(format!("consumer {c}: the cache of {} emptied", service(s)));
                    }
                }
                consumer.had_providers[s] |= !empty;
            }
            for (d, config) in consumer.configs.iter().enumerate() {
                let seq = config.load().seq;
                if seq < consumer.highest_seq[d] {
                    broken.push(format!(
                        "consumer {c}: {} went back from version {} to {seq}",
                        doc_name(d),
                        consumer.highest_seq[d]
                    ));
                }
                consumer.highest_seq[d] = consumer.highest_seq[d].max(seq);
            }
        }
        for b in broken {
            self.report.violation(b);
        }
    }

    /// Waits (bounded) until every check passes; a check still failing then is a violation.
    pub(super) async fn settle_and_check(&mut self, what: &str) {
        self.resolve_publishes().await;
        let began = tokio::time::Instant::now();
        let mut problems;
        loop {
            self.sample();
            problems = self.mismatches().await;
            if problems.is_empty() || began.elapsed() >= SETTLE_MAX {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.report.checks += 1;
        if problems.is_empty() {
            self.report.max_settle = self.report.max_settle.max(began.elapsed());
            tracing::info!(check = what, settle_ms = began.elapsed().as_millis() as u64, "soak check passed");
        } else {
            self.report.violation(format!(
                "{what} check: not settled within {SETTLE_MAX:?}: {}",
                problems.join("; ")
            ));
        }
    }

    /// Everything that differs from the expected state now.
    async fn mismatches(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for s in 0..SERVICES {
            if let Err(e) = self.service_mismatches(s, &mut problems).await {
                return vec![e];
            }
        }
        for d in 0..DOCS {
            self.document_mismatches(d, &mut problems).await;
        }
        self.session_mismatches(&mut problems);
        problems
    }

    /// Service `s`: ZooKeeper holds each live registration once and nothing else, and every
    /// consumer's cache equals ZooKeeper's list. `Err` when ZooKeeper cannot be read.
    async fn service_mismatches(&self, s: usize, problems: &mut Vec<String>) -> Result<(), String> {
        let truth = match providers_in_zookeeper(&self.raw, &service(s)).await {
            Ok(truth) => truth,
            Err(e) => return Err(format!("reading {} from ZooKeeper: {e}", service(s))),
        };
        for (address, owners) in &truth {
            if owners.len() > 1 {
                problems.push(format!("{}: {address} registered {} times", service(s), owners.len()));
            }
        }
        let in_zookeeper: BTreeSet<String> = truth.keys().cloned().collect();
        let live = self.live_registrations(s, &truth, problems);
        if in_zookeeper != live {
            problems
                .push(format!("{}: ZooKeeper has {in_zookeeper:?}, live registrations {live:?}", service(s)));
        }
        for (c, consumer) in self.consumers.iter().enumerate() {
            let cache: BTreeSet<String> = addresses(&consumer.subs[s].current()).into_iter().collect();
            if cache != in_zookeeper {
                problems.push(format!(
                    "consumer {c}: cache of {} is {cache:?}, ZooKeeper has {in_zookeeper:?}",
                    service(s)
                ));
            }
        }
        Ok(())
    }

    /// The addresses of service `s` the providers hold registrations for; a registration that
    /// is not active, or whose node in `truth` another session owns, is a problem.
    fn live_registrations(
        &self,
        s: usize,
        truth: &BTreeMap<String, Vec<i64>>,
        problems: &mut Vec<String>,
    ) -> BTreeSet<String> {
        let mut live = BTreeSet::new();
        for side in &self.providers {
            let session_id = side.registry.session().session_id();
            for ((ks, a), registration) in &side.held {
                if *ks != s {
                    continue;
                }
                let address = address_of(s, *a);
                if !registration.status().is_active() {
                    problems.push(format!("{address}: registration status {:?}", registration.status()));
                }
                if let (Some(owners), Some(id)) = (truth.get(&address), session_id) {
                    if !owners.contains(&id) {
                        problems.push(format!("{address}: owned by {owners:x?}, provider session is {id:x}"));
                    }
                }
                live.insert(address);
            }
        }
        live
    }

    /// Document `d`: ZooKeeper and every consumer's watcher hold the last published version.
    async fn document_mismatches(&self, d: usize, problems: &mut Vec<String>) {
        let want = self.publisher.last[d];
        let path = format!("/config/{NAMESPACE}/{}", doc_name(d));
        match self.raw.get_data(&path).await {
            Ok((data, _)) => {
                let text = String::from_utf8_lossy(&data);
                if !text.lines().any(|l| l.trim() == format!("seq = {want}")) {
                    problems.push(format!("{path} in ZooKeeper is {text:?}, last published version {want}"));
                }
            }
            Err(e) => problems.push(format!("reading {path}: {e}")),
        }
        for (c, consumer) in self.consumers.iter().enumerate() {
            let seq = consumer.configs[d].load().seq;
            if seq != want {
                problems
                    .push(format!("consumer {c}: {} at version {seq}, last published {want}", doc_name(d)));
            }
        }
    }

    /// Every session is connected.
    fn session_mismatches(&self, problems: &mut Vec<String>) {
        let mut sessions: Vec<(String, SessionState)> = self
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("provider {i}"), p.registry.session().state()))
            .collect();
        sessions.extend(
            self.consumers
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("consumer {i}"), c.registry.session().state())),
        );
        sessions.push(("publisher".into(), self.publisher.center.session().state()));
        for (who, state) in sessions {
            if !state.is_connected() {
                problems.push(format!("{who} session is {state:?}"));
            }
        }
    }
}
