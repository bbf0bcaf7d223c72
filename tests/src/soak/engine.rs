//! The run: [`soak()`], setting the actors up, the churn loop with its periodic checks, the
//! end (back to the starting population, the end figures) and the deletion of the run's nodes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use registry::{Session, SessionState};

use super::actors::{ConsumerSide, ProviderSide, Publisher};
use super::params::{
    address_of, url_of, CHECK_EVERY, CONSUMERS, EXPIRE_EVERY_MS, PROVIDERS, SERVICES, START_PER_SERVICE,
};
use super::report::SoakReport;
use super::resources::Resources;
use crate::rng::Rng;

/// Runs a soak against the ZooKeeper at `connect` (`host:port[,…][/chroot]`; the run works
/// under a chroot of its own below it, deleted at the end) for about `duration` of churn, with
/// random choices from `seed`; see the `soak` module's docs for what it does and checks.
///
/// Must be called within a tokio runtime (the task count is that runtime's).
///
/// # Errors
/// A description when the run cannot be set up (ZooKeeper unreachable, a first registration
/// or publish refused). Broken invariants are not errors: they are in
/// [`SoakReport::violations`].
pub async fn soak(connect: &str, duration: Duration, seed: u64) -> Result<SoakReport, String> {
    let started = Instant::now();
    let base = connect.trim_end_matches('/');
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let root = format!("/zkmesh-soak-{}-{seed}-{stamp}", std::process::id());
    let chrooted = format!("{base}{root}");
    let mut engine = Engine::set_up(&chrooted, seed, duration).await?;
    let result = engine.run(duration).await;
    let mut report = engine.finish().await;
    report.elapsed = started.elapsed();
    delete_tree(base, &root).await;
    result.map(|()| report)
}

pub(super) struct Engine {
    pub(super) connect: String,
    pub(super) raw: zookeeper_client::Client,
    pub(super) providers: Vec<ProviderSide>,
    pub(super) consumers: Vec<ConsumerSide>,
    pub(super) publisher: Publisher,
    pub(super) rng: Rng,
    pub(super) report: SoakReport,
    /// Providers per (provider, service) at the start.
    pub(super) start_population: BTreeMap<(usize, usize), usize>,
}

impl Engine {
    async fn set_up(connect: &str, seed: u64, duration: Duration) -> Result<Engine, String> {
        let mut rng = Rng::new(seed);
        let mut providers = Vec::new();
        for _ in 0..PROVIDERS {
            providers.push(ProviderSide::connect(connect).await?);
        }
        // The chroot exists now (the sessions create it).
        let raw = zookeeper_client::Client::connect(connect).await.map_err(|e| format!("raw client: {e}"))?;
        let publisher = Publisher::start(connect).await?;
        let start_population = register_start_population(&mut providers, &mut rng).await?;
        let mut consumers = Vec::new();
        for _ in 0..CONSUMERS {
            consumers.push(ConsumerSide::connect(connect).await?);
        }
        let report =
            SoakReport { seed, connect: connect.to_owned(), requested: duration, ..SoakReport::default() };
        Ok(Engine {
            connect: connect.to_owned(),
            raw,
            providers,
            consumers,
            publisher,
            rng,
            report,
            start_population,
        })
    }

    /// The churn, with a check every few seconds; the first settle sets the starting figures.
    async fn run(&mut self, duration: Duration) -> Result<(), String> {
        self.settle_and_check("start").await;
        if !self.report.is_clean() {
            return Err(format!("the soak did not settle at the start: {:?}", self.report.violations));
        }
        self.report.start = Resources::now();
        let deadline = tokio::time::Instant::now() + duration;
        let mut next_check = tokio::time::Instant::now() + CHECK_EVERY;
        let mut next_expiry = tokio::time::Instant::now() + self.expiry_delay();
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(self.rng.between(10, 60))).await;
            self.sample();
            match self.rng.below(100) {
                0..=39 => self.register_one().await,
                40..=69 => self.deregister_one().await,
                70..=89 => self.publish_one().await,
                _ => {}
            }
            let now = tokio::time::Instant::now();
            if now >= next_expiry {
                self.expire_one().await;
                next_expiry = now + self.expiry_delay();
                // Often check right away: the settle then covers the re-registration.
                if self.rng.chance(40) {
                    next_check = now + Duration::from_millis(self.rng.below(300));
                }
            }
            if now >= next_check {
                self.settle_and_check("periodic").await;
                next_check = tokio::time::Instant::now() + CHECK_EVERY;
            }
        }
        Ok(())
    }

    fn expiry_delay(&mut self) -> Duration {
        Duration::from_millis(self.rng.between(EXPIRE_EVERY_MS.0, EXPIRE_EVERY_MS.1))
    }

    /// Back to the starting population, a last settle and check, the end figures; then closes
    /// every session.
    async fn finish(mut self) -> SoakReport {
        for p in 0..PROVIDERS {
            for s in 0..SERVICES {
                let want = self.start_population.get(&(p, s)).copied().unwrap_or(0);
                loop {
                    let held: Vec<(usize, usize)> =
                        self.providers[p].held.keys().filter(|(ks, _)| *ks == s).copied().collect();
                    if held.len() > want {
                        if let Some(registration) = self.providers[p].held.remove(&held[0]) {
                            self.deregister(registration, held[0]).await;
                        }
                    } else if held.len() < want {
                        match self.free_address(s) {
                            Some(a) => self.register(p, s, a).await,
                            None => break,
                        }
                    } else {
                        break;
                    }
                }
            }
        }
        self.resolve_publishes().await;
        self.settle_and_check("final").await;
        // Background work of the churn (deletes of dropped registrations) ends shortly after a
        // settle: give the task count a bounded moment to come back to its start.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let start_tasks = self.report.start.tasks.unwrap_or(usize::MAX);
        while Resources::now().tasks.unwrap_or(0) > start_tasks && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.report.end = Resources::now();
        let lost: usize = self.providers.iter().map(|p| p.states.count(SessionState::Lost)).sum::<usize>()
            + self.consumers.iter().map(|c| c.states.count(SessionState::Lost)).sum::<usize>()
            + self.publisher.states.count(SessionState::Lost);
        self.report.sessions_lost = lost as u64;

        let mut sessions: Vec<Session> =
            self.providers.iter().map(|p| p.registry.session().clone()).collect();
        sessions.extend(self.consumers.iter().map(|c| c.registry.session().clone()));
        sessions.push(self.publisher.center.session().clone());
        let report = std::mem::take(&mut self.report);
        drop(self);
        for session in sessions {
            session.close().await;
        }
        report
    }
}

/// Registers `START_PER_SERVICE` providers of each service, each from a provider chosen at
/// random; returns how many each (provider, service) holds.
async fn register_start_population(
    providers: &mut [ProviderSide],
    rng: &mut Rng,
) -> Result<BTreeMap<(usize, usize), usize>, String> {
    let mut start_population = BTreeMap::new();
    for s in 0..SERVICES {
        for a in 0..START_PER_SERVICE {
            let p = rng.index(PROVIDERS);
            let registration = providers[p]
                .registry
                .register(&url_of(s, a)?)
                .await
                .map_err(|e| format!("first registration of {}: {e}", address_of(s, a)))?;
            providers[p].held.insert((s, a), registration);
            *start_population.entry((p, s)).or_insert(0) += 1;
        }
    }
    Ok(start_population)
}

/// Deletes `root` and everything below it on `connect` (best effort, bounded).
async fn delete_tree(connect: &str, root: &str) {
    let work = async {
        let client = zookeeper_client::Client::connect(connect).await.ok()?;
        // Depth-first: collect every path, then delete the deepest first.
        let mut all = vec![root.to_owned()];
        let mut i = 0;
        while i < all.len() {
            let children = client.list_children(&all[i]).await.unwrap_or_default();
            let parent = all[i].clone();
            all.extend(children.into_iter().map(|c| format!("{parent}/{c}")));
            i += 1;
        }
        for path in all.iter().rev() {
            let _ = client.delete(path, None).await;
        }
        Some(())
    };
    if tokio::time::timeout(Duration::from_secs(10), work).await.is_err() {
        tracing::warn!(%root, "soak: could not delete the run's nodes in time");
    }
}
