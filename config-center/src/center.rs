//! `ConfigCenter`: the entry point, bound to a session and a root path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use registry::Session;
use serde::de::DeserializeOwned;
use serde::Serialize;
use zookeeper_client::Client;

use crate::cache::CacheFile;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fleet::{self, WatcherStatus};
use crate::history::{self, HistoryEntry};
use crate::instance::Instance;
use crate::meta::PublishMeta;
use crate::name::config_path;
use crate::publish::{self, Expect, Published};
use crate::spec::ConfigSpec;

/// The default root of the config tree.
pub const DEFAULT_ROOT: &str = "/config";
/// The default number of history entries kept per document.
pub const DEFAULT_HISTORY_LIMIT: usize = 10;
/// The default document size limit, under ZooKeeper's default `jute.maxbuffer` (1 MiB).
pub const DEFAULT_MAX_DOCUMENT_SIZE: usize = 1_000_000;
/// The default largest request the ZooKeeper servers accept: their default `jute.maxbuffer`.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 0xf_ffff;
/// The default wait of a status node write after a watcher's state changes.
pub const DEFAULT_STATUS_DELAY: Duration = Duration::from_millis(50);
/// The default time a watch waits for ZooKeeper at start before it serves the cache.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Builder for [`ConfigCenter`].
#[derive(Debug, Clone)]
pub struct ConfigCenterBuilder {
    root: String,
    history_limit: usize,
    cache_dir: Option<PathBuf>,
    max_document_size: usize,
    max_request_size: usize,
    startup_timeout: Duration,
    instance: Option<String>,
    labels: BTreeMap<String, String>,
    zone: Option<String>,
    status_delay: Duration,
    fleet_status: bool,
}

impl Default for ConfigCenterBuilder {
    fn default() -> Self {
        ConfigCenterBuilder {
            root: DEFAULT_ROOT.to_owned(),
            history_limit: DEFAULT_HISTORY_LIMIT,
            cache_dir: None,
            max_document_size: DEFAULT_MAX_DOCUMENT_SIZE,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            instance: None,
            labels: BTreeMap::new(),
            zone: None,
            status_delay: DEFAULT_STATUS_DELAY,
            fleet_status: true,
        }
    }
}

impl ConfigCenterBuilder {
    /// The ZooKeeper path under which documents live, as `<root>/<namespace>/<name>` (within the
    /// session's chroot). Default: `/config`.
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = root.into();
        self
    }

    /// How many replaced documents `<path>/history` keeps besides the current one (whose entry
    /// each publish writes); the oldest beyond are deleted in the same transaction. 0 keeps no
    /// history. Default: 10.
    pub fn history_limit(mut self, limit: usize) -> Self {
        self.history_limit = limit;
        self
    }

    /// Directory of the local cache: the last accepted document of each watched config, used at
    /// start when ZooKeeper does not answer in time. Files go to a folder per environment
    /// (ZooKeeper hosts and chroot, see [`ConfigCenter::cache_file`]) and record it: processes
    /// of different environments can share the directory. Default: none (no cache).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The largest document a publish accepts, in bytes; larger ones are refused before any
    /// write. ZooKeeper's own limit (`jute.maxbuffer`) is 1 MiB by default, for the whole
    /// request. Default: 1,000,000.
    pub fn max_document_size(mut self, bytes: usize) -> Self {
        self.max_document_size = bytes;
        self
    }

    /// The largest request the ZooKeeper servers accept (their `jute.maxbuffer`; a larger
    /// request makes the server drop the connection). A publish whose documents (the new one
    /// twice: node and history entry) would exceed it together writes the history entries in
    /// transactions of their own (see the crate docs). Default: 1,048,575 (ZooKeeper's default).
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// How long a new watch waits for ZooKeeper's first answer before it serves the cache (or
    /// the defaults) and marks the value stale. Default: 5 s.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// The name of this process's watchers in the fleet status (`<path>/status/<instance>`)
    /// and in canary selection by percentage (a stable hash of it): a ZooKeeper node name of
    /// `[A-Za-z0-9._-]`. Give a name that survives restarts (a pod name, `web-3`) for a canary
    /// to select the same processes after a restart. Default: `$ZKMESH_INSTANCE`, else
    /// `<hostname>-<pid>`.
    pub fn instance(mut self, name: impl Into<String>) -> Self {
        self.instance = Some(name.into());
        self
    }

    /// A label of this process's watchers, for canaries by label (`team=checkout`); recorded in
    /// their status nodes. Keys `[A-Za-z0-9._/-]`, 1 to 255 characters. Default: no labels.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The zone of this process's watchers, for canaries by zone; recorded in their status
    /// nodes. Default: none.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// How long a watcher's status node write waits after its state changes (changes within
    /// it fold into one write; the reads of the other watchers of the same publish go first).
    /// Default: 50 ms.
    pub fn status_delay(mut self, delay: Duration) -> Self {
        self.status_delay = delay;
        self
    }

    /// Whether watchers keep a status node (`<path>/status/<instance>`, see
    /// [`ConfigCenter::status`]). Without it they are invisible to `zkmesh config status` and
    /// to canaries' checks (a canary still selects them, and one they refuse still halts).
    /// Default: `true`.
    pub fn fleet_status(mut self, keep: bool) -> Self {
        self.fleet_status = keep;
        self
    }

    /// The config center on `session`.
    ///
    /// # Errors
    /// [`registry::Error::InvalidPath`] (as [`Error::Registry`]) for a root that is not an
    /// absolute ZooKeeper path; [`Error::InvalidInstance`] for a bad instance name, label or
    /// zone.
    pub fn build(self, session: Session) -> Result<ConfigCenter> {
        registry::validate_path(&self.root)?;
        let mut instance = Instance::from_environment();
        if let Some(name) = self.instance {
            instance.name = name;
        }
        instance.labels = self.labels;
        instance.zone = self.zone;
        instance.check()?;
        Ok(ConfigCenter {
            inner: Arc::new(Inner {
                session,
                root: self.root,
                history_limit: self.history_limit,
                cache_dir: self.cache_dir,
                max_document_size: self.max_document_size,
                max_request_size: self.max_request_size,
                startup_timeout: self.startup_timeout,
                written: Default::default(),
                identity: Default::default(),
                instance,
                status_delay: self.status_delay,
                fleet_status: self.fleet_status,
            }),
        })
    }
}

/// The config center: watch typed configs, publish documents with compare-and-set, read the
/// history and roll back.
///
/// Cheap to clone. Documents live at `<root>/<namespace>/<name>` (default root `/config`) as
/// UTF-8 TOML; see the crate docs for the layout.
///
/// The methods here are untyped shortcuts. [`ConfigCenter::config`] gives a [`ConfigSpec`]
/// that binds a type, defaults, environment overrides and a validator to one document, and
/// checks what it publishes the way its watchers check what they read.
#[derive(Clone, Debug)]
pub struct ConfigCenter {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) session: Session,
    pub(crate) root: String,
    pub(crate) history_limit: usize,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) max_document_size: usize,
    pub(crate) max_request_size: usize,
    pub(crate) startup_timeout: Duration,
    /// The versions this process wrote last (publishes in one round trip).
    pub(crate) written: crate::publish::Memory,
    /// The session's identity, asked once (`whoami`) at the first publish and recorded in every
    /// history entry: the credentials do not change, and a publish adds no round trip.
    pub(crate) identity: tokio::sync::OnceCell<String>,
    /// Who this process's watchers are.
    pub(crate) instance: Instance,
    pub(crate) status_delay: Duration,
    pub(crate) fleet_status: bool,
}

impl Inner {
    /// The live client, or a retryable connection-loss error.
    pub(crate) fn client(&self, path: &str) -> Result<Client> {
        self.session
            .client()
            .ok_or_else(|| Error::zk("connect", path, zookeeper_client::Error::ConnectionLoss))
    }
}

impl ConfigCenter {
    /// A builder with the defaults.
    pub fn builder() -> ConfigCenterBuilder {
        ConfigCenterBuilder::default()
    }

    /// The session this config center uses.
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// The root of the config tree.
    pub fn root(&self) -> &str {
        &self.inner.root
    }

    /// The ZooKeeper path of `namespace`/`name`.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn path(&self, namespace: &str, name: &str) -> Result<String> {
        config_path(&self.inner.root, namespace, name)
    }

    /// The cache file of `namespace`/`name`, when a cache directory is set:
    /// `<cache_dir>/<environment>/<namespace>/<name>.toml`, where `<environment>` is the
    /// session's [`registry::Environment::dir_name`] (ZooKeeper hosts and chroot).
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn cache_file(&self, namespace: &str, name: &str) -> Result<Option<PathBuf>> {
        Ok(self.cache(namespace, name)?.map(|cache| cache.file))
    }

    /// The cache file of `namespace`/`name` with what it is for.
    pub(crate) fn cache(&self, namespace: &str, name: &str) -> Result<Option<CacheFile>> {
        let path = config_path(&self.inner.root, namespace, name)?;
        let environment = self.inner.session.environment();
        Ok(self.inner.cache_dir.as_deref().map(|dir: &Path| CacheFile {
            file: crate::cache::file_for(dir, environment, namespace, name),
            path,
            environment: environment.key(),
        }))
    }

    /// The document `namespace`/`name` as a `T`, with defaults, overrides and a validator to be
    /// set on the returned spec before watching or publishing.
    ///
    /// # Errors
    /// [`Error::InvalidName`].
    pub fn config<T>(&self, namespace: &str, name: &str) -> Result<ConfigSpec<T>> {
        ConfigSpec::new(self.clone(), namespace, name)
    }

    /// Watches `namespace`/`name` as a `T`, without defaults, overrides or validator (see
    /// [`ConfigCenter::config`] for those). Returns once ZooKeeper has answered, or after the
    /// start-up timeout with the cached document, marked stale.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; the document's [`Error::ConfigParse`] when it is refused and
    /// nothing else can be served; [`Error::Unavailable`] when ZooKeeper did not answer in time
    /// and there is neither a usable cache nor defaults; [`Error::Registry`] when the session
    /// is closed.
    pub async fn watch<T>(&self, namespace: &str, name: &str) -> Result<Config<T>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.config::<T>(namespace, name)?.watch().await
    }

    /// Publishes `value`, serialized as TOML, if `expected` holds; the new document goes to
    /// the history in the same transaction.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::Serialize`]; [`Error::TooLarge`];
    /// [`Error::VersionConflict`] naming the version expected and the one found;
    /// [`Error::Contention`]; [`Error::Registry`] for ZooKeeper failures (a retryable one may
    /// or may not have been applied).
    pub async fn publish<T: Serialize>(
        &self,
        namespace: &str,
        name: &str,
        value: &T,
        expected: Expect,
    ) -> Result<Published> {
        let path = self.path(namespace, name)?;
        let text = crate::spec::to_toml(&path, value)?;
        publish::write(&self.inner, &path, &text, expected, None).await
    }

    /// Publishes TOML text if `expected` holds; the text must parse as TOML (no type or
    /// validator check: use [`ConfigSpec::publish_toml`] for those).
    ///
    /// # Errors
    /// As [`ConfigCenter::publish`], and [`Error::ConfigParse`] for text that is not TOML.
    pub async fn publish_toml(
        &self,
        namespace: &str,
        name: &str,
        text: &str,
        expected: Expect,
    ) -> Result<Published> {
        self.publish_toml_with(namespace, name, text, expected, &PublishMeta::new()).await
    }

    /// [`ConfigCenter::publish_toml`] with an author and a message, kept with the new version's
    /// history entry (see [`PublishMeta`]; with a history limit of 0 they are not recorded).
    ///
    /// # Errors
    /// As [`ConfigCenter::publish_toml`], and [`Error::InvalidMeta`].
    pub async fn publish_toml_with(
        &self,
        namespace: &str,
        name: &str,
        text: &str,
        expected: Expect,
        meta: &PublishMeta,
    ) -> Result<Published> {
        let path = self.path(namespace, name)?;
        publish::check_size(&self.inner, &path, text.len())?;
        crate::spec::check_syntax(&path, text)?;
        publish::write(&self.inner, &path, text, expected, Some(meta)).await
    }

    /// The current document and its version (`None` when the node does not exist).
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::ConfigParse`] for a document that is not UTF-8;
    /// [`Error::Registry`].
    pub async fn current(&self, namespace: &str, name: &str) -> Result<Option<(String, i32)>> {
        let path = self.path(namespace, name)?;
        let client = self.inner.client(&path)?;
        match client.get_data(&path).await {
            Ok((data, stat)) => {
                let text = crate::document::decode(&path, Some(stat.version), data)?;
                Ok(Some((text.text, stat.version)))
            }
            Err(zookeeper_client::Error::NoNode) => Ok(None),
            Err(e) => Err(Error::zk("get_data", path, e)),
        }
    }

    /// The instance name this config center's watchers use (see
    /// [`ConfigCenterBuilder::instance`]; a second watch of one document in this process gets
    /// `.2` appended, and so on).
    pub fn instance(&self) -> &str {
        &self.inner.instance.name
    }

    /// The live watchers of `namespace`/`name`: their status nodes, by instance name.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::Registry`].
    pub async fn status(&self, namespace: &str, name: &str) -> Result<Vec<WatcherStatus>> {
        let path = self.path(namespace, name)?;
        fleet::list(&self.inner, &path).await
    }

    /// Waits until every live watcher of `namespace`/`name` runs `version` (accepted, not a
    /// canary), and at least one watcher is live; returns their statuses.
    ///
    /// # Errors
    /// [`Error::WaitTimedOut`] after `timeout`, with the statuses then; [`Error::InvalidName`];
    /// [`Error::Registry`].
    pub async fn wait_for_version(
        &self,
        namespace: &str,
        name: &str,
        version: i32,
        timeout: Duration,
    ) -> Result<Vec<WatcherStatus>> {
        let path = self.path(namespace, name)?;
        fleet::wait_until(&self.inner, &path, timeout, |all| {
            !all.is_empty() && all.iter().all(|w| w.runs(version))
        })
        .await
    }

    /// Deletes `namespace`/`name` with its history, canary and status nodes, in one ZooKeeper
    /// transaction. Watchers keep their last good value (or go back to their defaults, see
    /// [`ConfigSpec::keep_when_deleted`]) and delete their status nodes. `false`: there was no
    /// document.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::Contention`] when nodes keep appearing under it;
    /// [`Error::Registry`].
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<bool> {
        let path = self.path(namespace, name)?;
        let deleted = crate::delete::delete_tree(&self.inner, &path).await?;
        self.inner.written.forget(&path);
        Ok(deleted)
    }

    /// Waits until `done` holds for the live watchers of `namespace`/`name` (their status
    /// nodes, sorted by instance), following them with one persistent watch; returns them.
    ///
    /// # Errors
    /// [`Error::WaitTimedOut`] after `timeout`, with the statuses then; [`Error::InvalidName`];
    /// [`Error::Registry`].
    pub async fn wait_for(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        done: impl FnMut(&[WatcherStatus]) -> bool,
    ) -> Result<Vec<WatcherStatus>> {
        let path = self.path(namespace, name)?;
        fleet::wait_until(&self.inner, &path, timeout, done).await
    }

    /// The history of `namespace`/`name`, newest first.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::Registry`].
    pub async fn history(&self, namespace: &str, name: &str) -> Result<Vec<HistoryEntry>> {
        let path = self.path(namespace, name)?;
        history::list(&self.inner, &path, false).await
    }

    /// Every version the history holds, newest first: the current document's entry (with
    /// [`HistoryEntry::current`] set; absent when its writer kept no history) then the
    /// documents replaced, each with its author and message when recorded.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::Registry`].
    pub async fn revisions(&self, namespace: &str, name: &str) -> Result<Vec<HistoryEntry>> {
        let path = self.path(namespace, name)?;
        history::list(&self.inner, &path, true).await
    }

    /// The document `namespace`/`name` had at `version`, from the history.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::NoSuchVersion`]; [`Error::Registry`].
    pub async fn history_document(&self, namespace: &str, name: &str, version: i32) -> Result<String> {
        let path = self.path(namespace, name)?;
        Ok(history::read(&self.inner, &path, version).await?.text)
    }

    /// Publishes the document of version `to` again, as a new version, if `expected` holds
    /// (no type or validator check: use [`ConfigSpec::rollback`] for those).
    ///
    /// # Errors
    /// [`Error::NoSuchVersion`] when the history does not hold `to`; otherwise as
    /// [`ConfigCenter::publish`].
    pub async fn rollback(
        &self,
        namespace: &str,
        name: &str,
        to: i32,
        expected: Expect,
    ) -> Result<Published> {
        let path = self.path(namespace, name)?;
        let old = history::read(&self.inner, &path, to).await?;
        publish::write(&self.inner, &path, &old.text, expected, None).await
    }

    /// [`ConfigCenter::rollback`] with an author and a message (the message defaults to
    /// `rollback to version <to>`).
    ///
    /// # Errors
    /// As [`ConfigCenter::rollback`], and [`Error::InvalidMeta`].
    pub async fn rollback_with(
        &self,
        namespace: &str,
        name: &str,
        to: i32,
        expected: Expect,
        meta: &PublishMeta,
    ) -> Result<Published> {
        let path = self.path(namespace, name)?;
        let old = history::read(&self.inner, &path, to).await?;
        let meta = crate::meta::for_rollback(meta, to);
        publish::write(&self.inner, &path, &old.text, expected, Some(&meta)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-time only: the handles are shareable and the futures can be spawned.
    #[allow(dead_code)]
    fn handles_are_send_and_sync(center: ConfigCenter, spec: ConfigSpec<String>, config: Config<String>) {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<F: Send>(_: F) {}
        send_sync(&center);
        send_sync(&spec);
        send_sync(&config);
        send(center.publish("a", "b", &1u8, Expect::Any));
        send(center.publish_toml("a", "b", "", Expect::Any));
        send(center.rollback("a", "b", 1, Expect::Any));
        send(center.history("a", "b"));
        send(center.watch::<String>("a", "b"));
        send(spec.watch());
        send(spec.publish(&String::new(), Expect::Any));
        send(spec.rollback(1, Expect::Any));
        let mut config = config;
        send(config.changed());
    }
}
