//! The canary operations of [`ConfigCenter`] and [`ConfigSpec`]: publish, read, promote, abort
//! (see `canary.rs` for the node and the selection).

use serde::de::DeserializeOwned;

use crate::canary::{self, Canary, Selector};
use crate::center::ConfigCenter;
use crate::error::{Error, Result};
use crate::meta::PublishMeta;
use crate::publish::{self, Expect, Published};
use crate::spec::ConfigSpec;

impl ConfigCenter {
    /// Publishes `text` as a canary of `namespace`/`name`: only the watchers `selector` picks
    /// load it; the others keep the current version. Checked first: the selector (a percentage
    /// within 0..=100), the size, TOML syntax (use [`ConfigSpec::publish_canary`] for type and
    /// validator checks), and that the selector matches at least one live watcher (their status
    /// nodes); a percentage is sized on those (see [`Selector`]). A selected watcher that
    /// refuses it halts it for everyone ([`Canary::halted`], and its status node says why).
    ///
    /// # Errors
    /// [`Error::InvalidSelector`]; [`Error::NoWatcherSelected`]; [`Error::TooLarge`];
    /// [`Error::ConfigParse`]; [`Error::CanaryInProgress`] when a canary is already published
    /// (promote or abort it first); [`Error::VersionConflict`] when there is no document to
    /// canary against; [`Error::Registry`].
    pub async fn publish_canary(
        &self,
        namespace: &str,
        name: &str,
        text: &str,
        selector: &Selector,
    ) -> Result<Canary> {
        self.publish_canary_with(namespace, name, text, selector, &PublishMeta::new()).await
    }

    /// [`ConfigCenter::publish_canary`] with an author and a message (kept in the canary node,
    /// and in the history when it is promoted).
    ///
    /// # Errors
    /// As [`ConfigCenter::publish_canary`], and [`Error::InvalidMeta`].
    pub async fn publish_canary_with(
        &self,
        namespace: &str,
        name: &str,
        text: &str,
        selector: &Selector,
        meta: &PublishMeta,
    ) -> Result<Canary> {
        let path = self.path(namespace, name)?;
        meta.check(&path)?;
        publish::check_size(&self.inner, &path, text.len())?;
        crate::spec::check_syntax(&path, text)?;
        let canary = Canary {
            id: 0,
            base: 0,
            published_ms: 0,
            author: meta.author_name().map(str::to_owned),
            message: meta.message_text().map(str::to_owned),
            document: text.to_owned(),
            selector: selector.clone(),
            halted: None,
        };
        canary::publish(&self.inner, &path, canary).await
    }

    /// The canary of `namespace`/`name`, running or halted (`None`: there is none).
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::Registry`].
    pub async fn canary(&self, namespace: &str, name: &str) -> Result<Option<Canary>> {
        let path = self.path(namespace, name)?;
        match canary::current(&self.inner, &path).await {
            Ok((canary, _, _)) => Ok(Some(canary)),
            Err(Error::NoCanary { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Publishes the canary's document for everyone, as a new version (expecting the version
    /// it was published over), then removes the canary; the history records its author and
    /// `promote canary <id>`.
    ///
    /// # Errors
    /// [`Error::NoCanary`]; [`Error::CanaryHalted`] for a canary a watcher refused;
    /// [`Error::VersionConflict`] when the document changed since the canary was published
    /// (abort, and publish a new canary); [`Error::Registry`].
    pub async fn promote(&self, namespace: &str, name: &str) -> Result<Published> {
        self.promote_with(namespace, name, &PublishMeta::new()).await
    }

    /// [`ConfigCenter::promote`] with an author and a message (default: the canary's author,
    /// and `promote canary <id>`).
    ///
    /// # Errors
    /// As [`ConfigCenter::promote`], and [`Error::InvalidMeta`].
    pub async fn promote_with(&self, namespace: &str, name: &str, meta: &PublishMeta) -> Result<Published> {
        let path = self.path(namespace, name)?;
        let (canary, version, _) = canary::current(&self.inner, &path).await?;
        if let Some(halt) = &canary.halted {
            let reason = format!("{} refused it: {}", halt.instance, halt.error);
            return Err(Error::CanaryHalted { path, id: canary.id, reason });
        }
        let mut record = PublishMeta::new();
        if let Some(author) = meta.author_name().or(canary.author.as_deref()) {
            record = record.author(author);
        }
        let said = meta.message_text().or(canary.message.as_deref());
        record = record.message(match said {
            Some(m) => format!("promote canary {}: {m}", canary.id),
            None => format!("promote canary {}", canary.id),
        });
        let expected = Expect::Version(canary.base);
        let published = publish::write(&self.inner, &path, &canary.document, expected, Some(&record)).await?;
        // Selected watchers load the same document again, under its new version.
        canary::clear(&self.inner, &path, version).await?;
        tracing::info!(%path, id = canary.id, version = published.version, "config canary promoted");
        Ok(published)
    }

    /// Removes the canary (running or halted): the watchers that loaded it go back to the
    /// document. Returns the canary removed.
    ///
    /// # Errors
    /// [`Error::NoCanary`]; [`Error::Registry`].
    pub async fn abort(&self, namespace: &str, name: &str) -> Result<Canary> {
        let path = self.path(namespace, name)?;
        let (canary, version, _) = canary::current(&self.inner, &path).await?;
        canary::clear(&self.inner, &path, version).await?;
        tracing::info!(%path, id = canary.id, "config canary aborted");
        Ok(canary)
    }
}

impl<T: DeserializeOwned> ConfigSpec<T> {
    /// Publishes `text` as a canary (see [`ConfigCenter::publish_canary`]) once it passes
    /// [`ConfigSpec::check`] (type, unknown keys, validator).
    ///
    /// # Errors
    /// As [`ConfigSpec::check`] and [`ConfigCenter::publish_canary`].
    pub async fn publish_canary(&self, text: &str, selector: &Selector) -> Result<Canary> {
        self.check(text).await?;
        let (namespace, name) = self.names();
        self.center().publish_canary(namespace, name, text, selector).await
    }
}
