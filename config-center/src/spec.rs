//! `ConfigSpec<T>`: one document bound to a type, defaults, environment overrides and a
//! validator, shared by its watchers and its publishers.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::center::ConfigCenter;
use crate::config::Config;
use crate::document::Text;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::history::{self, HistoryEntry};
use crate::meta::PublishMeta;
use crate::name::config_path;
use crate::provenance::Provenance;
use crate::publish::{self, Expect, Published};
use crate::schema::{Defaults, Layers, Schema, Validator};
use crate::watcher::{self, Fleet, Start};

/// One document as a `T`: where it lives, its defaults, environment overrides and validator.
///
/// Made by [`ConfigCenter::config`]. Watchers ([`ConfigSpec::watch`]) layer, deserialize and
/// validate each document they read; publishers ([`ConfigSpec::publish`],
/// [`ConfigSpec::publish_toml`], [`ConfigSpec::rollback`]) do the same before writing, so that
/// a publisher cannot push what watchers with the same spec would refuse. Cheap to clone.
///
/// Layers, lowest first (tables merge key by key, anything else is replaced):
/// 1. defaults: [`ConfigSpec::defaults`], [`ConfigSpec::defaults_toml`] or
///    [`ConfigSpec::defaults_file`] (or none: the document must then hold every required field;
///    `#[serde(default)]` on `T` works too);
/// 2. the ZooKeeper document;
/// 3. environment overrides ([`ConfigSpec::env_prefix`]), for watchers only: a publisher checks
///    a document against the defaults alone.
///
/// ```no_run
/// # async fn demo(center: zkmesh_config::ConfigCenter) -> zkmesh_config::Result<()> {
/// use zkmesh_config::Expect;
/// #[derive(serde::Serialize, serde::Deserialize, Default)]
/// struct Db { pool: u32 }
/// let db = center
///     .config::<Db>("shop", "db")?
///     .defaults(Db { pool: 4 })
///     .env_prefix("SHOP_DB")
///     .validator(|db: &Db| if db.pool == 0 { Err("pool must be > 0".into()) } else { Ok(()) });
/// let config = db.watch().await?;
/// db.publish(&Db { pool: 8 }, Expect::Version(config.version().unwrap_or(0))).await?;
/// # Ok(()) }
/// ```
pub struct ConfigSpec<T> {
    center: ConfigCenter,
    namespace: String,
    name: String,
    path: String,
    defaults: Defaults,
    env: Env,
    validator: Option<Validator<T>>,
    startup_timeout: Option<Duration>,
    keep_when_deleted: bool,
    allow_unknown_keys: bool,
    /// The documents merged, lowest first, as named (see [`ConfigSpec::layers`]).
    layers: Vec<String>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for ConfigSpec<T> {
    fn clone(&self) -> Self {
        ConfigSpec {
            center: self.center.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            path: self.path.clone(),
            defaults: self.defaults.clone(),
            env: self.env.clone(),
            validator: self.validator.clone(),
            startup_timeout: self.startup_timeout,
            keep_when_deleted: self.keep_when_deleted,
            allow_unknown_keys: self.allow_unknown_keys,
            layers: self.layers.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for ConfigSpec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSpec")
            .field("path", &self.path)
            .field("type", &std::any::type_name::<T>())
            .field("defaults", &self.defaults)
            .field("env", &self.env)
            .field("validator", &self.validator.is_some())
            .finish()
    }
}

impl<T> ConfigSpec<T> {
    pub(crate) fn new(center: ConfigCenter, namespace: &str, name: &str) -> Result<Self> {
        let path = config_path(center.root(), namespace, name)?;
        Ok(ConfigSpec {
            center,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            path,
            defaults: Defaults::None,
            env: Env::None,
            validator: None,
            startup_timeout: None,
            keep_when_deleted: true,
            allow_unknown_keys: false,
            layers: Vec::new(),
            _type: PhantomData,
        })
    }

    /// The ZooKeeper path of the document.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The namespace and name.
    pub(crate) fn names(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }

    /// The config center.
    pub(crate) fn center(&self) -> &ConfigCenter {
        &self.center
    }

    /// Defaults given as a value (for example `T::default()`), serialized to TOML now; an
    /// error doing so is reported by `watch` and the publishers. Default: no defaults.
    pub fn defaults(mut self, value: T) -> Self
    where
        T: Serialize,
    {
        self.defaults = Defaults::Value(to_toml("<defaults>", &value).map(Arc::from));
        self
    }

    /// Defaults given as TOML text. Default: no defaults.
    pub fn defaults_toml(mut self, text: impl Into<String>) -> Self {
        self.defaults = Defaults::Toml(Arc::from(text.into()));
        self
    }

    /// Defaults read from a TOML file, each time a watch starts or a document is checked.
    /// Default: no defaults.
    pub fn defaults_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.defaults = Defaults::File(file.into());
        self
    }

    /// Environment overrides from the process environment, read when a watch starts: a
    /// variable `PREFIX__SECTION__KEY=value` sets `section.key` (two underscores after the
    /// prefix and between keys; segments lower-cased); the value is read as a TOML value when it
    /// parses as one (`8080`, `true`, `[1, 2]`, `"text"`), else taken as a string. A variable
    /// with one underscore (`SHOP_DB_POOL`) is not an override: it is warned about and ignored
    /// ([`ConfigSpec::ignored_env_vars`]); one whose key `T` does not have is refused as an
    /// unknown key, and one whose value the validator refuses is named in the error
    /// ([`crate::Layer::Environment`]). Default: no overrides.
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env = Env::Process { prefix: prefix.into() };
        self
    }

    /// Environment overrides from the given variables instead of the process environment
    /// (same rules as [`ConfigSpec::env_prefix`]). Default: no overrides.
    pub fn env_vars<K, V>(mut self, prefix: impl Into<String>, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars = vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self.env = Env::Vars { prefix: prefix.into(), vars };
        self
    }

    /// The environment variables that carry the prefix of [`ConfigSpec::env_prefix`] (or
    /// [`ConfigSpec::env_vars`]) but are not overrides, sorted: `SHOP_DB_POOL` (one underscore)
    /// or `SHOP_DB` alone for the prefix `SHOP_DB`. They are ignored, and each is warned about
    /// (with the form expected, `SHOP_DB__POOL`) when a watch starts.
    pub fn ignored_env_vars(&self) -> Vec<String> {
        self.env.ignored().into_iter().map(|(var, _)| var).collect()
    }

    /// A validator run on every value before it is accepted (by watchers) or written (by
    /// publishers); `Err(reason)` refuses it. Default: none.
    pub fn validator(
        mut self,
        validate: impl Fn(&T) -> std::result::Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.validator = Some(Arc::new(validate));
        self
    }

    /// How long [`ConfigSpec::watch`] waits for ZooKeeper's first answer before serving the
    /// cache or the defaults. Default: the config center's
    /// ([`crate::ConfigCenterBuilder::startup_timeout`]).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = Some(timeout);
        self
    }

    /// Whether keys that `T` does not read are accepted. Default: `false`: a document, a
    /// defaults text or file, or an environment override with a key `T` does not have (a typo
    /// such as `mesage` next to `message`, at any depth) is refused, by watchers (the last good
    /// value stays, the error is in the status) and by publishers alike, with the line and
    /// column of the key and the names the struct expects, as serde's `deny_unknown_fields`
    /// would say it; `T` needs no attribute for that. `true` accepts them, for a document that
    /// several types read a part of each; an environment override that sets a key `T` does not
    /// read is then only warned about. (Keys inside `#[serde(flatten)]` fields and untagged or
    /// internally tagged enums are never checked.)
    pub fn allow_unknown_keys(mut self, allow: bool) -> Self {
        self.allow_unknown_keys = allow;
        self
    }

    /// What a watcher does when the document is deleted (or ZooKeeper wiped and rebuilt
    /// without it). `true`: it keeps the value in use and its cache file, with
    /// [`Status::absent`](crate::Status::absent) set (and [`crate::Config::status_changed`]
    /// woken, not [`crate::Config::changed`]); a watch that starts while the document is absent
    /// serves the cache file of an earlier run when there is one, else the defaults. `false`:
    /// it reverts to the defaults (a new value) and removes the cache file. A document created
    /// again is read as usual either way. Default: `true` (a deletion is more often a mistake or
    /// a wiped ensemble than a wish for the defaults; publish the defaults to go back to them).
    pub fn keep_when_deleted(mut self, keep: bool) -> Self {
        self.keep_when_deleted = keep;
        self
    }

    /// Other ZooKeeper documents merged with this one into one value, lowest first, between
    /// the defaults and the environment overrides (like Spring Cloud's `application` ->
    /// `app` -> `app,profile`): `name` in the same namespace or `namespace/name`. This
    /// document goes where it is named, or on top when it is not named. A watcher follows every
    /// layer (a change to any reloads the merged value once); an error names the layer's path,
    /// version, line and column; a layer that does not exist is left out; a layer deleted
    /// while watched keeps its last text in the merge and the status names it
    /// ([`Error::LayerDeleted`]; with [`ConfigSpec::keep_when_deleted`] `false` it is left out).
    /// With layers, this document missing is merged as empty rather than served from the
    /// cache. Publishers check a document alone (over the defaults), as before; see
    /// [`ConfigSpec::explain`] for where each value comes from. Default: no layers.
    pub fn layers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.layers = names.into_iter().map(Into::into).collect();
        self
    }

    /// The other layers' paths, each with whether it is over this document.
    fn layer_paths(&self) -> Result<Vec<(String, bool)>> {
        crate::layers::resolve(self.center.root(), &self.namespace, &self.path, &self.layers)
    }

    /// The schema of watchers (`with_env`) or publishers.
    async fn schema(&self, with_env: bool) -> Result<Schema<T>> {
        let env = if with_env {
            for (var, expected) in self.env.ignored() {
                tracing::warn!(path = %self.path, variable = %var, %expected, "an environment variable carries the override prefix but is not an override (PREFIX__KEY, two underscores before each key); ignored");
            }
            self.env.resolve()?
        } else {
            Vec::new()
        };
        let layers = Layers::new(self.defaults.load().await?, env)?;
        Ok(Schema {
            path: self.path.clone(),
            layers,
            validator: self.validator.clone(),
            allow_unknown_keys: self.allow_unknown_keys,
        })
    }

    /// Where each value at or under `key` (dotted, `pool.max`; empty: every value) of the
    /// merged config comes from, read now: the defaults, the ZooKeeper layers
    /// ([`ConfigSpec::layers`]) and this document at their current versions, and this
    /// process's environment overrides; each value with the layer and line that set it and the
    /// lower layers it overrode. Empty when nothing sets `key`.
    ///
    /// # Errors
    /// [`Error::ConfigParse`] for a layer that does not parse (naming it); the defaults' and
    /// overrides' errors; [`Error::InvalidName`]; [`Error::Registry`].
    pub async fn explain(&self, key: &str) -> Result<Vec<Provenance>> {
        let layers = self.layer_paths()?;
        let mut schema = self.schema(true).await?;
        let client = self.center.inner.client(&self.path)?;
        // Read back to back: one round trip.
        let own = client.get_data(&self.path);
        let others: Vec<_> = layers.iter().map(|(p, _)| client.get_data(p)).collect();
        let read = |path: &str,
                    answer: std::result::Result<(Vec<u8>, registry::Stat), zookeeper_client::Error>|
         -> Result<Option<Text>> {
            match answer {
                Ok((data, stat)) => Ok(Some(crate::document::decode(path, Some(stat.version), data)?)),
                Err(zookeeper_client::Error::NoNode) => Ok(None),
                Err(e) => Err(Error::zk("get_data", path, e)),
            }
        };
        let doc = read(&self.path, own.await)?;
        let (mut below, mut above) = (Vec::new(), Vec::new());
        for ((path, over), answer) in layers.iter().zip(others) {
            if let Some(text) = read(path, answer.await)? {
                if *over {
                    above.push(text)
                } else {
                    below.push(text)
                }
            }
        }
        schema.layers.set_zookeeper(below, above);
        let (texts, env) = schema.layers.ordered(doc.as_ref());
        crate::provenance::explain(&texts, env, key)
    }

    /// The history of the document, newest first.
    ///
    /// # Errors
    /// [`Error::Registry`].
    pub async fn history(&self) -> Result<Vec<HistoryEntry>> {
        history::list(&self.center.inner, &self.path, false).await
    }
}

impl<T: DeserializeOwned> ConfigSpec<T> {
    /// Watches the document. Returns once ZooKeeper has answered (the document's value, or the
    /// defaults when the node does not exist yet), or after the start-up timeout with the cached
    /// document (or the defaults), marked stale.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::ConfigParse`] for a defaults file that cannot be read or parsed;
    /// [`Error::EnvOverride`]; the document's [`Error::ConfigParse`] or [`Error::Validation`]
    /// when it is refused and neither the cache nor the defaults give a value;
    /// [`Error::Unavailable`] when ZooKeeper did not answer in time and neither the cache nor
    /// the defaults give a value; [`Error::Registry`] when the session is closed.
    pub async fn watch(&self) -> Result<Config<T>>
    where
        T: Send + Sync + 'static,
    {
        let inner = &self.center.inner;
        let layers = self.layer_paths()?;
        let all_layers = match layers.is_empty() {
            true => Vec::new(),
            false => {
                let (below, above): (Vec<_>, Vec<_>) = layers.iter().partition(|(_, above)| !above);
                let mut all: Vec<String> = below.into_iter().map(|(p, _)| p.clone()).collect();
                all.push(self.path.clone());
                all.extend(above.into_iter().map(|(p, _)| p.clone()));
                all
            }
        };
        watcher::start(Start {
            session: inner.session.clone(),
            schema: self.schema(true).await?,
            cache: self.center.cache(&self.namespace, &self.name)?,
            startup_timeout: self.startup_timeout.unwrap_or(inner.startup_timeout),
            keep_when_deleted: self.keep_when_deleted,
            instance: inner.instance.clone(),
            layers: layers.clone(),
            fleet: inner.fleet_status.then(|| Fleet { delay: inner.status_delay, layers: all_layers }),
        })
        .await
    }

    /// Checks `text` the way a publish does (size, TOML, the type over the defaults, the
    /// validator) without writing it, and returns the value.
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::ConfigParse`], [`Error::Validation`], and the defaults'
    /// errors.
    pub async fn check(&self, text: &str) -> Result<T> {
        publish::check_size(&self.center.inner, &self.path, text.len())?;
        let schema = self.schema(false).await?;
        schema.convert(Some(&Text::document(&self.path, None, text.to_owned())))
    }

    /// Publishes TOML text if it passes [`ConfigSpec::check`] and `expected` holds; the replaced
    /// document goes to the history in the same transaction.
    ///
    /// # Errors
    /// As [`ConfigSpec::check`]; [`Error::VersionConflict`] naming the version expected and
    /// the one found; [`Error::Contention`]; [`Error::Registry`] for ZooKeeper failures (a
    /// retryable one may or may not have been applied).
    pub async fn publish_toml(&self, text: &str, expected: Expect) -> Result<Published> {
        self.check(text).await?;
        publish::write(&self.center.inner, &self.path, text, expected, None).await
    }

    /// [`ConfigSpec::publish_toml`] with an author and a message, kept with the new version's
    /// history entry (see [`PublishMeta`]).
    ///
    /// # Errors
    /// As [`ConfigSpec::publish_toml`], and [`Error::InvalidMeta`].
    pub async fn publish_toml_with(
        &self,
        text: &str,
        expected: Expect,
        meta: &PublishMeta,
    ) -> Result<Published> {
        self.check(text).await?;
        publish::write(&self.center.inner, &self.path, text, expected, Some(meta)).await
    }

    /// Publishes `value`, serialized as TOML, as [`ConfigSpec::publish_toml`] does.
    ///
    /// # Errors
    /// [`Error::Serialize`]; otherwise as [`ConfigSpec::publish_toml`].
    pub async fn publish(&self, value: &T, expected: Expect) -> Result<Published>
    where
        T: Serialize,
    {
        let text = to_toml(&self.path, value)?;
        self.publish_toml(&text, expected).await
    }

    /// Publishes the document of version `to` again, as a new version, if it still passes
    /// [`ConfigSpec::check`] and `expected` holds.
    ///
    /// # Errors
    /// [`Error::NoSuchVersion`] when the history does not hold `to`; otherwise as
    /// [`ConfigSpec::publish_toml`].
    pub async fn rollback(&self, to: i32, expected: Expect) -> Result<Published> {
        let old = history::read(&self.center.inner, &self.path, to).await?;
        self.publish_toml(&old.text, expected).await
    }

    /// [`ConfigSpec::rollback`] with an author and a message (the message defaults to
    /// `rollback to version <to>`).
    ///
    /// # Errors
    /// As [`ConfigSpec::rollback`], and [`Error::InvalidMeta`].
    pub async fn rollback_with(&self, to: i32, expected: Expect, meta: &PublishMeta) -> Result<Published> {
        let old = history::read(&self.center.inner, &self.path, to).await?;
        let meta = crate::meta::for_rollback(meta, to);
        self.publish_toml_with(&old.text, expected, &meta).await
    }
}

/// `value` as a TOML document.
pub(crate) fn to_toml<T: Serialize>(path: &str, value: &T) -> Result<String> {
    toml::to_string(value).map_err(|e| Error::Serialize { path: path.to_owned(), message: e.to_string() })
}

/// Refuses text that is not TOML, with the position.
pub(crate) fn check_syntax(path: &str, text: &str) -> Result<()> {
    let schema: Schema<toml::Table> = Schema {
        path: path.to_owned(),
        layers: Layers::default(),
        validator: None,
        allow_unknown_keys: true,
    };
    schema.convert(Some(&Text::document(path, None, text.to_owned()))).map(drop)
}
