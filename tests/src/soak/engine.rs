//! The soak engine: random provider churn, config publishes and injected session expiries
//! against one ZooKeeper, with an invariant check run periodically, and the process's file
//! descriptors, tokio tasks and RSS measured at the start and at the end.
//!
//! Actors (each its own ZooKeeper session, under a chroot of its own):
//! - 3 provider sessions registering and deregistering (or dropping) providers of 2 services
//!   from a pool of 12 addresses each, never leaving a service without one;
//! - 2 consumer sessions, each subscribed to both services (default options: empty protection
//!   on) and watching 2 config documents;
//! - 1 publisher session publishing numbered versions of those documents.
//!
//! Every few seconds the churn pauses and the engine waits (bounded) for everything to settle,
//! then checks:
//! - ZooKeeper (read with a raw client) holds exactly the live registrations, each once,
//!   owned by its provider's current session, and each registration says it is active;
//! - every consumer's cache equals ZooKeeper's list;
//! - every config watcher holds the last published version, and so does ZooKeeper;
//! - every session is connected.
//!
//! Between checks, at every step: no consumer cache that had providers is empty, and no config
//! watcher goes back to an older version. Injected expiries (`expire_session`) hit any session.
//!
//! Resources are measured after the first settle and, at the end, after the providers went
//! back to the starting population and everything settled again, so that the two figures can
//! be compared ("flat").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use config_center::{Config, ConfigCenter, Expect};
use registry::{Registration, Registry, ServiceUrl, Session, SessionState, Subscription};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::support::{addresses, providers_in_zookeeper, StateLog};

const SERVICES: usize = 2;
const ADDRESSES: usize = 12;
const PROVIDERS: usize = 3;
const CONSUMERS: usize = 2;
const DOCS: usize = 2;
/// Providers per service at the start (and again before the end is measured).
const START_PER_SERVICE: usize = 3;
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
const CHECK_EVERY: Duration = Duration::from_secs(3);
/// The longest a settle may take before the check counts as failed.
const SETTLE_MAX: Duration = Duration::from_secs(20);
/// Injected expiries come every 1.5 to 4 s.
const EXPIRE_EVERY_MS: (u64, u64) = (1_500, 4_000);
const NAMESPACE: &str = "soak";

/// The document the publisher publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SoakDoc {
    seq: u64,
    note: String,
}

/// File descriptors, tokio tasks and resident memory of this process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resources {
    /// Open file descriptors (entries of `/proc/self/fd`), when readable.
    pub fds: Option<usize>,
    /// Tasks alive on the current tokio runtime, when called within one.
    pub tasks: Option<usize>,
    /// Resident set size in KiB (`VmRSS` of `/proc/self/status`), when readable.
    pub rss_kb: Option<u64>,
}

impl Resources {
    /// Measures now.
    pub fn now() -> Resources {
        let fds = std::fs::read_dir("/proc/self/fd").ok().map(|entries| entries.count());
        let tasks = tokio::runtime::Handle::try_current().ok().map(|h| h.metrics().num_alive_tasks());
        let rss_kb = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
        Resources { fds, tasks, rss_kb }
    }
}

/// What a soak run did and found; see [`soak()`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SoakReport {
    /// The seed the run's random choices came from.
    pub seed: u64,
    /// The connect string used, with the run's chroot.
    pub connect: String,
    /// How long the churn was asked to last.
    pub requested: Duration,
    /// How long the whole run took (set-up, churn, checks, the final settle).
    pub elapsed: Duration,
    /// Providers registered.
    pub registers: u64,
    /// Providers deregistered explicitly.
    pub deregisters: u64,
    /// Providers dropped without deregistering (deleted in the background).
    pub drops: u64,
    /// Config documents published.
    pub publishes: u64,
    /// Publishes that returned an error (retried before each check).
    pub publish_errors: u64,
    /// Session expiries injected.
    pub expiries: u64,
    /// Expiries that could not be injected.
    pub expiry_failures: u64,
    /// `Lost` transitions seen on the run's sessions.
    pub sessions_lost: u64,
    /// Settle-and-check rounds done (the final one included).
    pub checks: u64,
    /// The longest time everything took to settle before a check passed.
    pub max_settle: Duration,
    /// Times a consumer cache that had providers was seen empty.
    pub empty_samples: u64,
    /// `select()` picks checked against the set current around them.
    pub picks_checked: u64,
    /// Every invariant broken, with what was seen.
    pub violations: Vec<String>,
    /// Resources after the first settle.
    pub start: Resources,
    /// Resources after the last settle, with the starting population of providers.
    pub end: Resources,
}

impl SoakReport {
    /// True when no invariant was broken.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Open file descriptors at the end minus at the start.
    pub fn fd_growth(&self) -> Option<i64> {
        Some(self.end.fds? as i64 - self.start.fds? as i64)
    }

    /// Alive tokio tasks at the end minus at the start.
    pub fn task_growth(&self) -> Option<i64> {
        Some(self.end.tasks? as i64 - self.start.tasks? as i64)
    }

    /// RSS at the end minus at the start, in KiB.
    pub fn rss_growth_kb(&self) -> Option<i64> {
        Some(self.end.rss_kb? as i64 - self.start.rss_kb? as i64)
    }

    fn violation(&mut self, what: String) {
        tracing::error!(violation = %what, "soak invariant broken");
        self.violations.push(what);
    }
}

fn opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

impl fmt::Display for SoakReport {
    /// Several human lines, then one `key=value` line (`soak ... result=ok|failed`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak: {:.1} s (asked {:.1} s), seed {}, against {}",
            self.elapsed.as_secs_f64(),
            self.requested.as_secs_f64(),
            self.seed,
            self.connect
        )?;
        writeln!(
            f,
            "  churn: {} registrations, {} deregistrations, {} drops, {} publishes ({} failed), {} expiries \
             injected ({} failed), {} sessions lost",
            self.registers,
            self.deregisters,
            self.drops,
            self.publishes,
            self.publish_errors,
            self.expiries,
            self.expiry_failures,
            self.sessions_lost
        )?;
        writeln!(
            f,
            "  checks: {}, longest settle {} ms, empty caches seen {}, picks checked {}",
            self.checks,
            self.max_settle.as_millis(),
            self.empty_samples,
            self.picks_checked
        )?;
        writeln!(
            f,
            "  resources: fds {} -> {}, tokio tasks {} -> {}, RSS {} -> {} KiB",
            opt(self.start.fds),
            opt(self.end.fds),
            opt(self.start.tasks),
            opt(self.end.tasks),
            opt(self.start.rss_kb),
            opt(self.end.rss_kb)
        )?;
        if self.violations.is_empty() {
            writeln!(f, "  violations: none")?;
        } else {
            writeln!(f, "  violations ({}):", self.violations.len())?;
            for v in &self.violations {
                writeln!(f, "  - {v}")?;
            }
        }
        write!(
            f,
            "soak seconds={:.1} seed={} registers={} deregisters={} drops={} publishes={} publish_errors={} \
             expiries={} sessions_lost={} checks={} max_settle_ms={} empty_samples={} picks_checked={} violations={} \
             fds_start={} fds_end={} tasks_start={} tasks_end={} rss_kb_start={} rss_kb_end={} result={}",
            self.elapsed.as_secs_f64(),
            self.seed,
            self.registers,
            self.deregisters,
            self.drops,
            self.publishes,
            self.publish_errors,
            self.expiries,
            self.sessions_lost,
            self.checks,
            self.max_settle.as_millis(),
            self.empty_samples,
            self.picks_checked,
            self.violations.len(),
            opt(self.start.fds),
            opt(self.end.fds),
            opt(self.start.tasks),
            opt(self.end.tasks),
            opt(self.start.rss_kb),
            opt(self.end.rss_kb),
            if self.is_clean() { "ok" } else { "failed" }
        )
    }
}

/// Runs a soak against the ZooKeeper at `connect` (`host:port[,…][/chroot]`; the run works
/// under a chroot of its own below it, deleted at the end) for about `duration` of churn, with
/// random choices from `seed`; see the module docs for what it does and checks.
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

struct ProviderSide {
    registry: Registry,
    /// (service, address index) -> registration.
    held: BTreeMap<(usize, usize), Registration>,
    states: StateLog,
}

struct ConsumerSide {
    registry: Registry,
    subs: Vec<Subscription>,
    configs: Vec<Config<SoakDoc>>,
    states: StateLog,
    /// Per service: had providers once (so must never be seen empty again).
    had_providers: Vec<bool>,
    /// Per document: the highest version seen.
    highest_seq: Vec<u64>,
}

struct Publisher {
    center: ConfigCenter,
    states: StateLog,
    next_seq: u64,
    /// Per document: the last version published successfully.
    last: Vec<u64>,
    /// Per document: a publish failed after the last success (it may or may not have landed).
    uncertain: Vec<bool>,
}

struct Engine {
    connect: String,
    raw: zookeeper_client::Client,
    providers: Vec<ProviderSide>,
    consumers: Vec<ConsumerSide>,
    publisher: Publisher,
    rng: Rng,
    report: SoakReport,
    /// Providers per (provider, service) at the start.
    start_population: BTreeMap<(usize, usize), usize>,
}

fn service(s: usize) -> String {
    format!("soak-svc-{s}")
}

fn doc_name(d: usize) -> String {
    format!("cfg-{d}")
}

fn address_of(s: usize, a: usize) -> String {
    format!("10.9.{s}.{a}:8080")
}

fn url_of(s: usize, a: usize) -> Result<ServiceUrl, String> {
    let text = format!("http://{}/{}", address_of(s, a), service(s));
    ServiceUrl::parse(&text).map_err(|e| format!("{text}: {e}"))
}

async fn connect_registry(connect: &str) -> Result<Registry, String> {
    Registry::builder()
        .session_timeout(SESSION_TIMEOUT)
        .connect(connect)
        .await
        .map_err(|e| format!("cannot connect to {connect}: {e}"))
}

impl Engine {
    async fn set_up(connect: &str, seed: u64, duration: Duration) -> Result<Engine, String> {
        let mut rng = Rng::new(seed);
        let mut providers = Vec::new();
        for _ in 0..PROVIDERS {
            let registry = connect_registry(connect).await?;
            let states = StateLog::start(registry.session());
            providers.push(ProviderSide { registry, held: BTreeMap::new(), states });
        }
        // The chroot exists now (the sessions create it).
        let raw = zookeeper_client::Client::connect(connect).await.map_err(|e| format!("raw client: {e}"))?;
        let publisher_session = Session::builder()
            .session_timeout(SESSION_TIMEOUT)
            .connect(connect)
            .await
            .map_err(|e| format!("publisher session: {e}"))?;
        let center = ConfigCenter::builder().build(publisher_session.clone()).map_err(|e| e.to_string())?;
        let mut publisher = Publisher {
            center,
            states: StateLog::start(&publisher_session),
            next_seq: 1,
            last: vec![0; DOCS],
            uncertain: vec![false; DOCS],
        };
        for d in 0..DOCS {
            let seq = publisher.next_seq;
            publisher.next_seq += 1;
            let doc = SoakDoc { seq, note: format!("document {d}, first version") };
            publisher
                .center
                .publish(NAMESPACE, &doc_name(d), &doc, Expect::Any)
                .await
                .map_err(|e| format!("first publish of {}: {e}", doc_name(d)))?;
            publisher.last[d] = seq;
        }
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
        let mut consumers = Vec::new();
        for _ in 0..CONSUMERS {
            let registry = connect_registry(connect).await?;
            let mut subs = Vec::new();
            for s in 0..SERVICES {
                subs.push(registry.subscribe(&service(s)).await.map_err(|e| format!("subscribe: {e}"))?);
            }
            let center =
                ConfigCenter::builder().build(registry.session().clone()).map_err(|e| e.to_string())?;
            let mut configs = Vec::new();
            for d in 0..DOCS {
                configs.push(
                    center
                        .watch::<SoakDoc>(NAMESPACE, &doc_name(d))
                        .await
                        .map_err(|e| format!("watch: {e}"))?,
                );
            }
            let states = StateLog::start(registry.session());
            consumers.push(ConsumerSide {
                registry,
                subs,
                configs,
                states,
                had_providers: vec![false; SERVICES],
                highest_seq: vec![0; DOCS],
            });
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

    fn free_address(&mut self, s: usize) -> Option<usize> {
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

    async fn register(&mut self, p: usize, s: usize, a: usize) {
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

    async fn register_one(&mut self) {
        let s = self.rng.index(SERVICES);
        let p = self.rng.index(PROVIDERS);
        if let Some(a) = self.free_address(s) {
            self.register(p, s, a).await;
        }
    }

    async fn deregister(&mut self, registration: Registration, (s, a): (usize, usize)) {
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

    async fn deregister_one(&mut self) {
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

    async fn publish_one(&mut self) {
        let d = self.rng.index(DOCS);
        self.publish(d).await;
    }

    /// Publishes again each document whose last publish failed, until one succeeds (bounded).
    async fn resolve_publishes(&mut self) {
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

    async fn expire_one(&mut self) {
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

    /// The checks made at every step: no cache that had providers is empty, no watcher goes
    /// back to an older document, and a `select()` picks from the set current around it (the
    /// calling thread's copy: the engine's task moves between the runtime's threads).
    fn sample(&mut self) {
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
    async fn settle_and_check(&mut self, what: &str) {
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
            let truth = match providers_in_zookeeper(&self.raw, &service(s)).await {
                Ok(truth) => truth,
                Err(e) => return vec![format!("reading {} from ZooKeeper: {e}", service(s))],
            };
            for (address, owners) in &truth {
                if owners.len() > 1 {
                    problems.push(format!("{}: {address} registered {} times", service(s), owners.len()));
                }
            }
            let in_zookeeper: BTreeSet<String> = truth.keys().cloned().collect();
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
                            problems
                                .push(format!("{address}: owned by {owners:x?}, provider session is {id:x}"));
                        }
                    }
                    live.insert(address);
                }
            }
            if in_zookeeper != live {
                problems.push(format!(
                    "{}: ZooKeeper has {in_zookeeper:?}, live registrations {live:?}",
                    service(s)
                ));
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
        }
        for d in 0..DOCS {
            let want = self.publisher.last[d];
            let path = format!("/config/{NAMESPACE}/{}", doc_name(d));
            match self.raw.get_data(&path).await {
                Ok((data, _)) => {
                    let text = String::from_utf8_lossy(&data);
                    if !text.lines().any(|l| l.trim() == format!("seq = {want}")) {
                        problems
                            .push(format!("{path} in ZooKeeper is {text:?}, last published version {want}"));
                    }
                }
                Err(e) => problems.push(format!("reading {path}: {e}")),
            }
            for (c, consumer) in self.consumers.iter().enumerate() {
                let seq = consumer.configs[d].load().seq;
                if seq != want {
                    problems.push(format!(
                        "consumer {c}: {} at version {seq}, last published {want}",
                        doc_name(d)
                    ));
                }
            }
        }
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
        problems
    }
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
