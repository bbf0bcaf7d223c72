//! [`RulesStore`]: publishing a service's traffic rules (`registry::Rules`) as a versioned
//! document at `<registry root>/<service>/rules`, with config documents' compare-and-set,
//! history and rollback (the same code: a [`ConfigCenter`] rooted at the registry root, the
//! service as namespace, `rules` as name), and a check of what the rules would do to the
//! service's consumers before anything is written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use registry::{Action, Rules, RulesCheck, ServiceUrl, Session, DEFAULT_MAX_DISABLED_SHARE};

use zookeeper_client::{Client, Error as ZkError, MultiReadResult};

use crate::center::ConfigCenter;
use crate::error::{Error, Result};
use crate::history::HistoryEntry;
use crate::publish::{Expect, Published};
use crate::rules_follow::Mirror;

/// The document name under a service's node.
pub const RULES_NODE: &str = "rules";

/// How many times [`RulesStore::update`] re-reads and retries when another writer got in
/// between.
const UPDATE_ATTEMPTS: u32 = 8;

/// A service's traffic rules document as read: the rules, the text and its version.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RulesDocument {
    /// The parsed rules.
    pub rules: Rules,
    /// The document as stored.
    pub text: String,
    /// Its ZooKeeper data version.
    pub version: i32,
}

/// Publishes, reads and rolls back services' traffic rules.
///
/// Every write is validated (`registry::Rules::parse`: errors with line and column) and
/// checked against the service's registered providers and consumers first: rules that would
/// leave a consumer (by its zone, group and tag) with no provider, or that disable more than
/// [`RulesStore::max_disabled_share`] of the providers, are refused with
/// [`Error::RulesRefused`] naming the consumers, unless forced (which logs a warning).
///
/// By default every write reads the service first (the rules document and the members, one
/// multi read) and then writes (one multi with the history entry): two round trips. A
/// long-lived writer can [`RulesStore::follow`] a service instead: the store (and its clones)
/// then keep a mirror of the service fed by a watch, and a publish makes one round trip (see
/// [`FollowedService`](crate::FollowedService)).
///
/// ```no_run
/// # async fn demo(session: registry::Session) -> zkmesh_config::Result<()> {
/// use zkmesh_config::{Expect, RulesStore};
/// let store = RulesStore::new(session)?;
/// store.disable("shop", "10.0.0.5:8080", false).await?;
/// let current = store.get("shop").await?.expect("written");
/// store.put("shop", "[tags]\n", Expect::Version(current.version), false).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RulesStore {
    pub(crate) center: ConfigCenter,
    max_disabled_share: f64,
    /// The followed services' mirrors (shared by clones).
    pub(crate) followed: Arc<Mutex<HashMap<String, Arc<Mirror>>>>,
    /// Reads of a service's state for a check or a publish (shared by clones).
    reads: Arc<AtomicU64>,
}

impl RulesStore {
    /// The rules of the services under the registry's default root (`/services`).
    ///
    /// # Errors
    /// As [`RulesStore::with_root`].
    pub fn new(session: Session) -> Result<Self> {
        Self::with_root(session, registry::DEFAULT_ROOT)
    }

    /// The rules of the services under `root` (the registry's root).
    ///
    /// # Errors
    /// [`Error::Registry`] for a root that is not an absolute ZooKeeper path.
    pub fn with_root(session: Session, root: &str) -> Result<Self> {
        let center = ConfigCenter::builder().root(root).build(session)?;
        let (followed, reads) = (Arc::default(), Arc::default());
        Ok(RulesStore { center, max_disabled_share: DEFAULT_MAX_DISABLED_SHARE, followed, reads })
    }

    /// The largest share of a service's providers a write may disable without `force`.
    /// Default: 0.5.
    pub fn max_disabled_share(mut self, share: f64) -> Self {
        self.max_disabled_share = share;
        self
    }

    /// The ZooKeeper path of `service`'s rules.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a service name that is not one.
    pub fn path(&self, service: &str) -> Result<String> {
        self.center.path(service, RULES_NODE)
    }

    /// The service's rules document (`None` when there is none).
    ///
    /// # Errors
    /// [`Error::Registry`] with `registry::Error::InvalidRules` when the stored document does
    /// not validate; as [`ConfigCenter::current`].
    pub async fn get(&self, service: &str) -> Result<Option<RulesDocument>> {
        let Some((text, version)) = self.center.current(service, RULES_NODE).await? else { return Ok(None) };
        let rules = parse_at(&self.path(service)?, &text, Some(version))?;
        Ok(Some(RulesDocument { rules, text, version }))
    }

    /// The service's rules document as stored, without parsing it (`None` when there is none):
    /// what to show an operator when the stored document does not validate.
    ///
    /// # Errors
    /// As [`ConfigCenter::current`].
    pub async fn get_text(&self, service: &str) -> Result<Option<(String, i32)>> {
        self.center.current(service, RULES_NODE).await
    }

    /// The service's providers and consumers as registered now, sorted by URL (nodes that do
    /// not decode are left out).
    ///
    /// # Errors
    /// [`Error::Registry`] for ZooKeeper failures.
    pub async fn members(&self, service: &str) -> Result<(Vec<ServiceUrl>, Vec<ServiceUrl>)> {
        Ok(self.read_state(service, false).await?.members())
    }

    /// How many times this store (and its clones) read a service's members (and rules) for a
    /// check or a publish. A followed service's publish reads only after a version conflict;
    /// its mirror's own reads are not counted.
    pub fn state_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The service's providers and consumers and, with `document`, its rules document as
    /// stored, in one round trip: one ZooKeeper multi read, so also one consistent snapshot.
    async fn read_state(&self, service: &str, document: bool) -> Result<ServiceState> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let client = self.center.inner.client(&self.path(service)?)?;
        Ok(self.read_names(&client, service, document).await?.decode())
    }

    /// [`RulesStore::read_state`] on `client`, the members' node names as listed.
    pub(crate) async fn read_names(
        &self,
        client: &Client,
        service: &str,
        document: bool,
    ) -> Result<StateNames> {
        let path = self.path(service)?;
        let service_path = registry::join(self.center.root(), service);
        let (providers_path, consumers_path) =
            (registry::join(&service_path, "providers"), registry::join(&service_path, "consumers"));
        let mut reader = client.new_multi_reader();
        if document {
            reader.add_get_data(&path).map_err(|e| Error::zk("get_data", &path, e))?;
        }
        for children in [&providers_path, &consumers_path] {
            reader.add_get_children(children).map_err(|e| Error::zk("get_children", children.as_str(), e))?;
        }
        let results = reader.commit().await.map_err(|e| Error::zk("multi read", &path, e))?;
        let mut results = results.into_iter();
        let document = match document.then(|| results.next()) {
            None => None,
            Some(Some(MultiReadResult::Data { data, stat })) => {
                Some((crate::document::decode(&path, Some(stat.version), data)?.text, stat.version))
            }
            Some(Some(MultiReadResult::Error { err: ZkError::NoNode })) => None,
            Some(Some(MultiReadResult::Error { err })) => return Err(Error::zk("get_data", path, err)),
            Some(_) => return Err(unexpected(&path, "no data in the multi read answer")),
        };
        let providers = names(results.next(), &providers_path)?;
        let consumers = names(results.next(), &consumers_path)?;
        Ok(StateNames { document, providers, consumers })
    }

    /// What `rules` would do to the service's registered consumers.
    ///
    /// # Errors
    /// As [`RulesStore::members`].
    pub async fn check(&self, service: &str, rules: &Rules) -> Result<RulesCheck> {
        let state = self.read_state(service, false).await?;
        Ok(rules.check(&state.providers, &state.consumers))
    }

    /// Validates `text`, checks it against the service's consumers and publishes it if
    /// `expected` holds; the document goes to the history in the same transaction.
    ///
    /// # Errors
    /// [`Error::Registry`] with `registry::Error::InvalidRules` (line and column);
    /// [`Error::RulesRefused`] (unless `force`); [`Error::VersionConflict`]; as
    /// [`ConfigCenter::publish_toml`].
    pub async fn put(&self, service: &str, text: &str, expected: Expect, force: bool) -> Result<Published> {
        let path = self.path(service)?;
        let rules = parse_at(&path, text, None)?;
        let state = match self.mirror(service).and_then(|m| m.snapshot()) {
            Some(state) => state,
            None => self.read_state(service, false).await?,
        };
        self.publish_checked(service, (&path, text, &rules), &state, expected, force).await
    }

    /// Publishes `text` (which parsed as `rules`) after checking it against the members
    /// `state` read.
    async fn publish_checked(
        &self,
        service: &str,
        (path, text, rules): (&str, &str, &Rules),
        state: &ServiceState,
        expected: Expect,
        force: bool,
    ) -> Result<Published> {
        self.guard(path, rules.check(&state.providers, &state.consumers), force)?;
        let published = self.center.publish_toml(service, RULES_NODE, text, expected).await?;
        tracing::info!(%path, version = published.version, "traffic rules published");
        if let Some(mirror) = self.mirror(service) {
            mirror.published(text, published.version);
        }
        Ok(published)
    }

    /// Reads the rules, lets `edit` change them and publishes the result with compare-and-set
    /// on the version read, again from a fresh read when another writer got in between.
    ///
    /// On a followed service ([`RulesStore::follow`]) the first attempt takes the rules, their
    /// version and the members from the mirror instead of reading them (one round trip: the
    /// write); a version conflict falls back to fresh reads.
    ///
    /// # Errors
    /// [`Error::Contention`] when writers kept changing the document; as [`RulesStore::put`].
    pub async fn update(
        &self,
        service: &str,
        edit: impl FnMut(&mut Rules),
        force: bool,
    ) -> Result<Published> {
        self.update_text(service, edit, None, force).await
    }

    /// [`RulesStore::update`], publishing `edit_text`'s edit of the stored text (comments and
    /// layout kept) when it parses to exactly the rules `edit` gives, the rules re-serialized
    /// otherwise.
    async fn update_text(
        &self,
        service: &str,
        mut edit: impl FnMut(&mut Rules),
        edit_text: Option<&TextEdit<'_>>,
        force: bool,
    ) -> Result<Published> {
        let path = self.path(service)?;
        // Followed: the mirror's view, no read; a conflict falls through to fresh reads.
        if let Some(state) = self.mirror(service).and_then(|m| m.snapshot()) {
            match self.edit_and_publish(service, &path, &state, (&mut edit, edit_text), force).await {
                Err(Error::VersionConflict { .. }) => {}
                other => return other,
            }
        }
        for _ in 0..UPDATE_ATTEMPTS {
            // The document and the members in one round trip; the write is the only other.
            let state = self.read_state(service, true).await?;
            match self.edit_and_publish(service, &path, &state, (&mut edit, edit_text), force).await {
                Err(Error::VersionConflict { .. }) => continue,
                other => return other,
            }
        }
        Err(Error::Contention { path, attempts: UPDATE_ATTEMPTS })
    }

    /// One attempt of [`RulesStore::update_text`] on `state` (document and members): the edit,
    /// the check and the compare-and-set write on the document's version.
    async fn edit_and_publish(
        &self,
        service: &str,
        path: &str,
        state: &ServiceState,
        (edit, edit_text): (&mut impl FnMut(&mut Rules), Option<&TextEdit<'_>>),
        force: bool,
    ) -> Result<Published> {
        let (mut rules, expected) = match &state.document {
            Some((text, version)) => (parse_at(path, text, Some(*version))?, Expect::Version(*version)),
            None => (Rules::default(), Expect::Absent),
        };
        edit(&mut rules);
        let stored = state.document.as_ref().map_or("", |(text, _)| text.as_str());
        let text = edit_text
            .and_then(|f| f(stored))
            .filter(|edited| Rules::parse(edited).is_ok_and(|r| r == rules))
            .unwrap_or_else(|| rules.to_toml());
        let rules = parse_at(path, &text, None)?;
        self.publish_checked(service, (path, &text, &rules), state, expected, force).await
    }

    /// Takes the provider at `address` (`host:port`) out of every consumer's set.
    ///
    /// # Errors
    /// As [`RulesStore::update`] (refused when it strands a consumer or disables too many).
    pub async fn disable(&self, service: &str, address: &str, force: bool) -> Result<Published> {
        self.update_override(service, address, Some(Action::Disable), force).await
    }

    /// Removes the override of the provider at `address` (its registered weight applies again).
    ///
    /// # Errors
    /// As [`RulesStore::update`].
    pub async fn enable(&self, service: &str, address: &str) -> Result<Published> {
        self.update_override(service, address, None, false).await
    }

    /// Sets the weight of the provider at `address` (replacing its registered weight).
    ///
    /// # Errors
    /// As [`RulesStore::update`].
    pub async fn set_weight(
        &self,
        service: &str,
        address: &str,
        weight: u32,
        force: bool,
    ) -> Result<Published> {
        self.update_override(service, address, Some(Action::Weight(weight)), force).await
    }

    /// Sets (or, with `None`, removes) the override of the provider at `address`, editing
    /// only its `[[override]]` table in the stored text (see `rules_edit.rs`).
    async fn update_override(
        &self,
        service: &str,
        address: &str,
        action: Option<Action>,
        force: bool,
    ) -> Result<Published> {
        let edit_text = |text: &str| crate::rules_edit::set_override_text(text, address, action);
        self.update_text(service, |r| r.set_override(address, action), Some(&edit_text), force).await
    }

    /// The history of the service's rules, newest first.
    ///
    /// # Errors
    /// As [`ConfigCenter::history`].
    pub async fn history(&self, service: &str) -> Result<Vec<HistoryEntry>> {
        self.center.history(service, RULES_NODE).await
    }

    /// The rules document the service had at `version`.
    ///
    /// # Errors
    /// As [`ConfigCenter::history_document`].
    pub async fn history_document(&self, service: &str, version: i32) -> Result<String> {
        self.center.history_document(service, RULES_NODE, version).await
    }

    /// Publishes the document of version `to` again, as a new version, after the same
    /// validation and check as [`RulesStore::put`].
    ///
    /// # Errors
    /// [`Error::NoSuchVersion`]; as [`RulesStore::put`].
    pub async fn rollback(&self, service: &str, to: i32, expected: Expect, force: bool) -> Result<Published> {
        let text = self.history_document(service, to).await?;
        self.put(service, &text, expected, force).await
    }

    /// Refuses `rules` when they would strand a consumer or disable too many providers,
    /// unless `force` (then says so loudly).
    fn guard(&self, path: &str, check: RulesCheck, force: bool) -> Result<()> {
        let Some(reason) = check.refusal(self.max_disabled_share) else {
            return Ok(());
        };
        if force {
            tracing::warn!(%path, %reason, "publishing traffic rules despite the check (forced)");
            return Ok(());
        }
        Err(Error::RulesRefused { path: path.to_owned(), reason })
    }
}

/// An edit of a stored document's text (`None`: the edit does not apply to it).
type TextEdit<'a> = dyn Fn(&str) -> Option<String> + Sync + 'a;

/// What [`RulesStore`] read of a service in one round trip, the members as node names.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateNames {
    /// The rules document as stored and its version (`None`: none, or not read).
    pub(crate) document: Option<(String, i32)>,
    /// The providers' node names.
    pub(crate) providers: Vec<String>,
    /// The consumers' node names.
    pub(crate) consumers: Vec<String>,
}

impl StateNames {
    /// The state with the members decoded (nodes that do not decode left out) and sorted.
    pub(crate) fn decode(self) -> ServiceState {
        let (providers, consumers) = (urls(&self.providers), urls(&self.consumers));
        ServiceState::new(self.document, Arc::new(providers), Arc::new(consumers))
    }
}

/// What [`RulesStore`] knows of a service: read in one round trip, or mirrored (the members
/// shared with the mirror until they change).
pub(crate) struct ServiceState {
    /// The rules document as stored and its version (`None`: none, or not read).
    document: Option<(String, i32)>,
    /// The providers, sorted by URL (nodes that do not decode left out).
    providers: Arc<Vec<ServiceUrl>>,
    /// The consumers, likewise.
    consumers: Arc<Vec<ServiceUrl>>,
}

impl ServiceState {
    /// A state of the document, the providers and the consumers (each sorted by URL).
    pub(crate) fn new(
        document: Option<(String, i32)>,
        providers: Arc<Vec<ServiceUrl>>,
        consumers: Arc<Vec<ServiceUrl>>,
    ) -> Self {
        ServiceState { document, providers, consumers }
    }

    /// The providers and consumers.
    pub(crate) fn members(self) -> (Vec<ServiceUrl>, Vec<ServiceUrl>) {
        let owned =
            |urls: Arc<Vec<ServiceUrl>>| Arc::try_unwrap(urls).unwrap_or_else(|shared| (*shared).clone());
        (owned(self.providers), owned(self.consumers))
    }
}

/// The URLs of member node names, sorted (names that do not decode left out).
fn urls<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<ServiceUrl> {
    let mut urls: Vec<ServiceUrl> =
        names.into_iter().filter_map(|n| ServiceUrl::from_node_name(n).ok()).collect();
    urls.sort();
    urls
}

/// The node names of one `get_children` answer of a multi read (a missing node: none).
fn names(result: Option<MultiReadResult>, path: &str) -> Result<Vec<String>> {
    match result {
        Some(MultiReadResult::Children { children }) => Ok(children),
        Some(MultiReadResult::Error { err: ZkError::NoNode }) => Ok(Vec::new()),
        Some(MultiReadResult::Error { err }) => Err(Error::zk("get_children", path, err)),
        _ => Err(unexpected(path, "no children in the multi read answer")),
    }
}

fn unexpected(path: &str, what: &str) -> Error {
    Error::zk("multi read", path, ZkError::UnexpectedError(what.to_owned()))
}

/// `text` parsed as rules, errors naming `path` (and `version`).
fn parse_at(path: &str, text: &str, version: Option<i32>) -> Result<Rules> {
    Rules::parse(text).map_err(|e| match e {
        registry::Error::InvalidRules { line, column, reason, .. } => {
            let document = match version {
                Some(v) => format!("{path} (version {v})"),
                None => format!("rules for {path}"),
            };
            Error::Registry(registry::Error::InvalidRules { document, line, column, reason })
        }
        other => Error::Registry(other),
    })
}
