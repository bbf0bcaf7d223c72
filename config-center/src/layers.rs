//! Other ZooKeeper documents merged with a watcher's own ([`crate::ConfigSpec::layers`]): the
//! latest read of each, kept for the merge.
//!
//! A layer that does not exist is left out of the merge. One deleted after it was read keeps
//! its last text in the merge (with [`crate::ConfigSpec::keep_when_deleted`], the default) and
//! the watcher's status names it ([`Error::LayerDeleted`]); without, it is left out. A layer
//! that is not UTF-8 makes the merge fail like a document that is not, naming the layer.

use std::hash::{BuildHasher, RandomState};

use registry::NodeEvent;

use crate::document::{self, Text};
use crate::error::{Error, Result};
use crate::schema::Layers;

/// One layer's state.
#[derive(Debug)]
struct ZkLayer {
    path: String,
    /// Over the watcher's own document (else under it).
    above: bool,
    /// The text in the merge (or why it cannot be).
    text: Option<Result<Text>>,
    /// The `(mzxid, version)` of the read the text comes from.
    read: Option<(i64, i32)>,
    /// Deleted after it was read; its last text is kept.
    deleted: bool,
}

/// The ZooKeeper layers of one watch, lowest first.
#[derive(Debug, Default)]
pub(crate) struct ZkLayers {
    layers: Vec<ZkLayer>,
    keep_when_deleted: bool,
}

impl ZkLayers {
    /// `paths`: each layer's path and whether it is over the own document.
    pub(crate) fn new(paths: Vec<(String, bool)>, keep_when_deleted: bool) -> Self {
        let layers = paths
            .into_iter()
            .map(|(path, above)| ZkLayer { path, above, text: None, read: None, deleted: false })
            .collect();
        ZkLayers { layers, keep_when_deleted }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Records a read of layer `i`.
    pub(crate) fn record(&mut self, i: usize, event: NodeEvent<Vec<u8>>) {
        let keep = self.keep_when_deleted;
        let Some(layer) = self.layers.get_mut(i) else { return };
        match event {
            NodeEvent::Present { value, stat } => {
                layer.text = Some(document::decode(&layer.path, Some(stat.version), value));
                layer.read = Some((stat.mzxid, stat.version));
                layer.deleted = false;
            }
            NodeEvent::Absent if keep && layer.text.is_some() => {
                if !layer.deleted {
                    tracing::warn!(path = %layer.path, "config layer deleted; keeping its last text in the merge");
                }
                layer.deleted = true;
            }
            NodeEvent::Absent => (layer.text, layer.read, layer.deleted) = (None, None, false),
            _ => {}
        }
    }

    /// A digest of what the layers hold, to tell one merge from the next.
    pub(crate) fn digest(&self, hasher: &RandomState) -> u64 {
        let state: Vec<_> = self.layers.iter().map(|l| (l.read, l.deleted)).collect();
        hasher.hash_one(state)
    }

    /// Puts the layers' texts in `layers` for the next conversion.
    pub(crate) fn apply_to(&self, layers: &mut Layers) -> Result<()> {
        let (mut below, mut above) = (Vec::new(), Vec::new());
        for layer in &self.layers {
            match &layer.text {
                Some(Ok(text)) if layer.above => above.push(text.clone()),
                Some(Ok(text)) => below.push(text.clone()),
                Some(Err(e)) => return Err(e.clone()),
                None => {}
            }
        }
        layers.set_zookeeper(below, above);
        Ok(())
    }

    /// The first layer deleted and kept, as the error the status reports.
    pub(crate) fn deleted(&self) -> Option<Error> {
        self.layers
            .iter()
            .find(|l| l.deleted)
            .map(|l| Error::LayerDeleted { layer: l.path.clone(), version: l.read.map(|(_, v)| v) })
    }
}

/// The layers of the document at `own` named by `names` (lowest first; `name` in the same
/// namespace or `namespace/name`): the other layers' paths, each with whether it is over the
/// own document (the own document is on top unless it is named in the list).
pub(crate) fn resolve(
    root: &str,
    namespace: &str,
    own: &str,
    names: &[String],
) -> Result<Vec<(String, bool)>> {
    let mut paths = Vec::with_capacity(names.len());
    for name in names {
        let (ns, name) = name.split_once('/').unwrap_or((namespace, name));
        let path = crate::name::config_path(root, ns, name)?;
        if paths.contains(&path) {
            return Err(Error::InvalidName {
                kind: "name",
                name: name.to_owned(),
                reason: "named twice in the layers".into(),
            });
        }
        paths.push(path);
    }
    let at = paths.iter().position(|p| p == own).unwrap_or(paths.len());
    Ok(paths.into_iter().enumerate().filter(|(i, _)| *i != at).map(|(i, p)| (p, i > at)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_resolve_in_order_with_the_own_document_on_top_unless_named() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got =
            resolve("/config", "shop", "/config/shop/app", &names(&["shared", "common/base"])).expect("ok");
        assert_eq!(
            got,
            [("/config/shop/shared".to_owned(), false), ("/config/common/base".to_owned(), false)]
        );
        let got = resolve("/config", "shop", "/config/shop/app", &names(&["shared", "app", "app-prod"]))
            .expect("ok");
        assert_eq!(
            got,
            [("/config/shop/shared".to_owned(), false), ("/config/shop/app-prod".to_owned(), true)]
        );
        assert!(resolve("/config", "shop", "/config/shop/app", &names(&["a", "a"])).is_err());
        assert!(resolve("/config", "shop", "/config/shop/app", &names(&["bad name"])).is_err());
    }
}
