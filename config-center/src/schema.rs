//! The layers under and over a document, and the typed conversion every watcher and publisher
//! goes through.
//!
//! Layers, lowest first:
//! 1. defaults: a TOML file, TOML text, or a value serialized to TOML (or nothing);
//! 2. the ZooKeeper document;
//! 3. environment overrides `PREFIX__SECTION__KEY=value` (watchers only; a publisher checks a
//!    document against the defaults alone, since overrides belong to each process).
//!
//! The layers are merged table-wise (`document.rs`) and the merged tree deserialized with
//! toml's spanned deserializer, so that an error points into the layer that holds the value.

use std::sync::Arc;

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

pub(crate) use crate::defaults::Defaults;
use crate::document::{merge, Text, LAYER_BASE};
use crate::env::Override;
use crate::error::{Error, Layer, Result};
use crate::unknown_keys::{self, Step, UnknownKey};

/// A validator: `Err(reason)` refuses the value.
pub(crate) type Validator<T> = Arc<dyn Fn(&T) -> std::result::Result<(), String> + Send + Sync>;

// === Layers ===

/// The layers under and over a document.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layers {
    defaults: Option<Text>,
    /// Other ZooKeeper documents merged under the document (lowest first)...
    below: Vec<Text>,
    /// ... and over it (see [`crate::ConfigSpec::layers`]); set by the watcher before each
    /// conversion, from its latest reads.
    above: Vec<Text>,
    env: Vec<Override>,
}

/// The span space of ZooKeeper layer `i`: past any document's own offsets, below [`LAYER_BASE`].
fn zk_layer_offset(i: usize) -> usize {
    (i + 1) << 32
}

impl Layers {
    /// Places the layers in the span space and checks that the defaults parse.
    pub(crate) fn new(defaults: Option<Text>, env: Vec<Override>) -> Result<Self> {
        let mut cursor = LAYER_BASE;
        let mut place = |text: &mut Text| {
            text.offset = cursor;
            cursor += text.text.len() + 1;
        };
        let mut layers = Layers { defaults, below: Vec::new(), above: Vec::new(), env };
        if let Some(d) = layers.defaults.as_mut() {
            place(d);
        }
        for o in &mut layers.env {
            place(&mut o.text);
        }
        if let Some(d) = &layers.defaults {
            d.parse(None)?;
        }
        Ok(layers)
    }

    /// No defaults, ZooKeeper layers or overrides: a document is read alone.
    pub(crate) fn is_alone(&self) -> bool {
        self.defaults.is_none() && self.env.is_empty() && self.below.is_empty() && self.above.is_empty()
    }

    /// Defaults, then `doc`, then the overrides, merged. The root's span is the document's
    /// when there is one, else the defaults'.
    pub(crate) fn merged<'a>(&'a self, doc: Option<&'a Text>) -> Result<Spanned<DeTable<'a>>> {
        if let (Some(d), true) = (doc, self.is_alone()) {
            // The document alone: merging it into an empty table would copy it key by key into
            // the same tree (a fifth of a small document's conversion time).
            return Ok(Spanned::new(d.offset..d.offset + d.text.len(), d.parse(doc)?.into_inner()));
        }
        let mut root = DeTable::new();
        let order = self.defaults.iter().chain(&self.below).chain(doc).chain(&self.above);
        for layer in order {
            merge(&mut root, layer.parse(doc)?.into_inner());
        }
        for o in &self.env {
            merge(&mut root, o.table().into_inner());
        }
        let span = match (doc, &self.defaults) {
            (Some(d), _) | (None, Some(d)) => d.offset..d.offset + d.text.len(),
            (None, None) => 0..0,
        };
        Ok(Spanned::new(span, root))
    }

    /// These layers without the environment overrides (`None`), or without the `i`th.
    fn without_env(&self, i: Option<usize>) -> Layers {
        let env = match i {
            None => Vec::new(),
            Some(i) => self.env.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, o)| o.clone()).collect(),
        };
        Layers { defaults: self.defaults.clone(), below: self.below.clone(), above: self.above.clone(), env }
    }

    /// Sets the ZooKeeper layers under and over the document, placed in the span space.
    pub(crate) fn set_zookeeper(&mut self, mut below: Vec<Text>, mut above: Vec<Text>) {
        for (i, text) in below.iter_mut().chain(above.iter_mut()).enumerate() {
            text.offset = zk_layer_offset(i);
        }
        (self.below, self.above) = (below, above);
    }

    /// The texts in merge order (defaults, ZooKeeper layers under, `doc`, those over) and the
    /// environment overrides that go over them.
    pub(crate) fn ordered<'a>(&'a self, doc: Option<&'a Text>) -> (Vec<&'a Text>, &'a [Override]) {
        let texts = self.defaults.iter().chain(&self.below).chain(doc).chain(&self.above).collect();
        (texts, &self.env)
    }

    /// These layers without ZooKeeper layer `i` (counted from the lowest).
    fn without_zookeeper(&self, i: usize) -> Layers {
        let mut layers = self.clone();
        if i < layers.below.len() {
            layers.below.remove(i);
        } else {
            layers.above.remove(i - layers.below.len());
        }
        layers
    }

    /// The ZooKeeper layers, lowest first.
    fn zookeeper(&self) -> impl DoubleEndedIterator<Item = &Text> {
        self.below.iter().chain(&self.above)
    }

    /// The variable (`$NAME`) of the environment override an absolute span points into.
    fn env_label(&self, pos: usize) -> Option<&str> {
        self.env.iter().find(|o| o.text.contains(pos)).map(|o| o.text.label.as_str())
    }

    /// The text an absolute span points into.
    fn locate<'a>(&'a self, doc: Option<&'a Text>, pos: usize) -> Option<&'a Text> {
        doc.into_iter()
            .chain(self.zookeeper())
            .chain(self.defaults.as_ref())
            .chain(self.env.iter().map(|o| &o.text))
            .find(|t| t.contains(pos))
    }
}

// === Schema ===

/// Everything that turns a document into a `T`: the layers, the validator, and whether keys
/// `T` does not read are refused.
pub(crate) struct Schema<T> {
    /// The ZooKeeper path of the document, for errors about a missing document.
    pub(crate) path: String,
    pub(crate) layers: Layers,
    pub(crate) validator: Option<Validator<T>>,
    /// Keys `T` does not read are accepted (else refused; see `unknown_keys.rs`).
    pub(crate) allow_unknown_keys: bool,
}

impl<T: DeserializeOwned> Schema<T> {
    /// The layers with `doc` (or without a document: defaults and overrides only), as a `T`
    /// the validator accepts.
    pub(crate) fn convert(&self, doc: Option<&Text>) -> Result<T> {
        let value = match self.plain(doc) {
            Some(value) => value,
            None => self.parsed(doc)?,
        };
        if let Some(validate) = &self.validator {
            validate(&value).map_err(|reason| Error::Validation {
                path: self.path.clone(),
                version: doc.and_then(|d| d.version),
                reason,
                layer: self.blame(doc, validate),
            })?;
        }
        Ok(value)
    }

    /// A document read alone that is plain (`plain/`), as a `T`; `None`: the full path
    /// ([`Schema::parsed`]) must answer.
    fn plain(&self, doc: Option<&Text>) -> Option<T> {
        if !self.layers.is_alone() {
            return None;
        }
        crate::plain::deserialize(crate::plain::parse(&doc?.text)?)
    }

    /// The layers with `doc` parsed by toml, merged and deserialized with positions, unknown
    /// keys found and refused (or let through).
    pub(crate) fn parsed(&self, doc: Option<&Text>) -> Result<T> {
        let root = self.layers.merged(doc)?;
        let (value, unknown) =
            unknown_keys::deserialize(toml::de::Deserializer::from(root)).map_err(|e| {
                let message = e.to_string().trim_end().replace('\n', " ");
                let span = e.span();
                self.error_at(doc, span, message)
            })?;
        if !unknown.is_empty() {
            self.check_unknown(doc, &unknown)?;
        }
        Ok(value)
    }

    /// The layer that set the value the validator refuses: the highest one without which the
    /// value passes (for the environment, the variables without each of which it passes); the
    /// defaults when even they (with the overrides) do not pass.
    fn blame(&self, doc: Option<&Text>, validate: &Validator<T>) -> Layer {
        let passes = |layers: &Layers, doc: Option<&Text>| {
            let Ok(root) = layers.merged(doc) else { return false };
            T::deserialize(toml::de::Deserializer::from(root)).is_ok_and(|value| validate(&value).is_ok())
        };
        let env = &self.layers.env;
        if !env.is_empty() && passes(&self.layers.without_env(None), doc) {
            let mut vars: Vec<String> = (0..env.len())
                .filter(|i| passes(&self.layers.without_env(Some(*i)), doc))
                .map(|i| env[i].var().to_owned())
                .collect();
            if vars.is_empty() {
                vars = env.iter().map(|o| o.var().to_owned()).collect();
            }
            return Layer::Environment { vars };
        }
        let zookeeper: Vec<&Text> = self.layers.zookeeper().collect();
        for (i, layer) in zookeeper.iter().enumerate().rev().filter(|(i, _)| *i >= self.layers.below.len()) {
            if passes(&self.layers.without_zookeeper(i), doc) {
                return Layer::Zookeeper { path: layer.label.clone(), version: layer.version };
            }
        }
        if doc.is_some() && passes(&self.layers, None) {
            return Layer::Document;
        }
        for (i, layer) in zookeeper.iter().enumerate().rev().filter(|(i, _)| *i < self.layers.below.len()) {
            if passes(&self.layers.without_zookeeper(i), doc) {
                return Layer::Zookeeper { path: layer.label.clone(), version: layer.version };
            }
        }
        match &self.layers.defaults {
            Some(defaults) => Layer::Defaults { source: defaults.label.clone() },
            None => Layer::Document,
        }
    }
}

impl<T> Schema<T> {
    /// An error at `span` (absolute) in whichever layer holds it.
    fn error_at(&self, doc: Option<&Text>, span: Option<Range<usize>>, message: String) -> Error {
        match span.as_ref().and_then(|s| self.layers.locate(doc, s.start)) {
            Some(text) => text.error(span, message, doc),
            None => match doc {
                Some(doc) => doc.error(None, message, None),
                None => Error::ConfigParse {
                    path: self.path.clone(),
                    version: None,
                    line: None,
                    column: None,
                    message: format!("{message} (no document: defaults and overrides only)"),
                },
            },
        }
    }

    /// Refuses the keys `T` did not read, pointing at the first in the layers' order and naming
    /// the others, unless they are allowed; an environment override that sets one is warned
    /// about even then.
    fn check_unknown(&self, doc: Option<&Text>, unknown: &[UnknownKey]) -> Result<()> {
        let root = self.layers.merged(doc)?;
        let mut located: Vec<_> =
            unknown.iter().map(|key| (key, key_span(root.get_ref(), &key.path))).collect();
        if self.allow_unknown_keys {
            for (key, span) in &located {
                let Some(var) = span.as_ref().and_then(|s| self.layers.env_label(s.start)) else { continue };
                tracing::warn!(variable = %var, key = %key.dotted(), "an environment override sets a key the config type does not read; ignored");
            }
            return Ok(());
        }
        located.sort_by_key(|(_, span)| span.as_ref().map_or(usize::MAX, |s| s.start));
        let Some(((first, span), others)) = located.split_first() else { return Ok(()) };
        let mut message = first.message();
        if !others.is_empty() {
            let names: Vec<String> = others.iter().map(|(key, _)| format!("`{}`", key.dotted())).collect();
            message.push_str(&format!("; also unknown: {}", names.join(", ")));
        }
        Err(self.error_at(doc, span.clone(), message))
    }
}

/// The span of the key at `path` in a merged tree.
fn key_span(root: &DeTable<'_>, path: &[Step]) -> Option<Range<usize>> {
    let (Step::Key(key), parents) = path.split_last()? else { return None };
    let mut table = root;
    let mut array: Option<&DeArray<'_>> = None;
    for step in parents {
        let value = match (step, array) {
            (Step::Key(k), None) => table.get(k.as_str())?.get_ref(),
            (Step::Index(i), Some(items)) => items.get(*i)?.get_ref(),
            _ => return None,
        };
        (table, array) = match value {
            DeValue::Table(t) => (t, None),
            DeValue::Array(items) => (table, Some(items)),
            _ => return None,
        };
    }
    if array.is_some() {
        return None;
    }
    table.get_key_value(key.as_str()).map(|(k, _)| k.span())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::parse_overrides;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Db {
        host: String,
        port: u16,
        pool: Pool,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Pool {
        min: u32,
        max: u32,
    }

    fn schema(defaults: Option<&str>, env: &[(&str, &str)]) -> Schema<Db> {
        let defaults = defaults.map(|d| Text::other("defaults.toml".into(), d.into()));
        let vars = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env = parse_overrides("APP", vars).expect("overrides");
        Schema {
            path: "/config/ns/db".into(),
            layers: Layers::new(defaults, env).expect("layers"),
            validator: None,
            allow_unknown_keys: false,
        }
    }

    fn doc(text: &str) -> Text {
        Text::document("/config/ns/db", Some(7), text.into())
    }

    const DEFAULTS: &str = "host = \"localhost\"\nport = 5432\ntags = [\"a\"]\n[pool]\nmin = 1\nmax = 10\n";

    #[test]
    fn defaults_then_document_then_env() {
        let s = schema(Some(DEFAULTS), &[("APP__POOL__MAX", "50"), ("OTHER__PORT", "1")]);
        let v = s.convert(Some(&doc("port = 6000\n[pool]\nmin = 2\nmax = 20\n"))).expect("converts");
        assert_eq!(
            v,
            Db {
                host: "localhost".into(),
                port: 6000,
                pool: Pool { min: 2, max: 50 },
                tags: vec!["a".into()]
            }
        );
        let v = s.convert(None).expect("defaults alone");
        assert_eq!((v.port, v.pool.min, v.pool.max), (5432, 1, 50));
    }

    #[test]
    fn merge_is_deep_for_tables_and_replaces_the_rest() {
        let s = schema(Some(DEFAULTS), &[]);
        let v = s.convert(Some(&doc("tags = [\"b\", \"c\"]\n[pool]\nmax = 3\n"))).expect("converts");
        assert_eq!(v.tags, ["b", "c"], "arrays are replaced, not concatenated");
        assert_eq!((v.pool.min, v.pool.max), (1, 3), "tables merge key by key");
    }

    #[test]
    fn env_values_parse_as_toml_or_fall_back_to_strings() {
        let s = schema(Some(DEFAULTS), &[("APP__HOST", "db.internal"), ("APP__TAGS", "[\"x\", \"y\"]")]);
        let v = s.convert(None).expect("converts");
        assert_eq!(v.host, "db.internal");
        assert_eq!(v.tags, ["x", "y"]);
    }

    #[test]
    fn syntax_error_points_at_the_line_and_column() {
        let s = schema(Some(DEFAULTS), &[]);
        let err =
            s.convert(Some(&doc("port = 1\nhost = \"x\"\npool = {min = 1, max = }\n"))).expect_err("bad");
        match err {
            Error::ConfigParse { path, version, line, column, .. } => {
                assert_eq!((path.as_str(), version, line), ("/config/ns/db", Some(7), Some(3)));
                assert_eq!(column, Some(24));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn type_error_points_into_the_layer_that_holds_the_value() {
        let s = schema(Some(DEFAULTS), &[]);
        let err = s.convert(Some(&doc("\nport = \"high\"\n"))).expect_err("bad type");
        assert!(
            matches!(&err, Error::ConfigParse { path, version: Some(7), line: Some(2), column: Some(8), message }
                if path == "/config/ns/db" && message.contains("port")),
            "{err:?}"
        );
        let s = schema(Some(DEFAULTS), &[("APP__PORT", "lots")]);
        let err = s.convert(Some(&doc("port = 1\n"))).expect_err("bad env");
        assert!(
            matches!(&err, Error::ConfigParse { path, version: None, line: Some(1), column: Some(1), message }
                if path == "$APP__PORT" && message.contains("version 7")),
            "{err:?}"
        );
        let s = schema(Some("host = 1\n"), &[]);
        let err = s.convert(Some(&doc("port = 1\n[pool]\nmin = 1\nmax = 1\n"))).expect_err("bad default");
        assert!(
            matches!(&err, Error::ConfigParse { path, line: Some(1), column: Some(8), .. } if path == "defaults.toml"),
            "{err:?}"
        );
    }

    #[test]
    fn a_document_without_layers_converts_and_reports_positions_the_same_way() {
        let alone = schema(None, &[]);
        let text = "host = \"h\"\nport = 5\ntags = [\"t\"]\n[pool]\nmin = 1\nmax = 2\n";
        let want = Db { host: "h".into(), port: 5, pool: Pool { min: 1, max: 2 }, tags: vec!["t".into()] };
        assert_eq!(alone.convert(Some(&doc(text))).expect("converts"), want);
        let err = alone
            .convert(Some(&doc("host = \"h\"\nport = \"high\"\n[pool]\nmin = 1\nmax = 2\n")))
            .expect_err("bad type");
        assert!(
            matches!(&err, Error::ConfigParse { version: Some(7), line: Some(2), column: Some(8), message, .. }
                if message.contains("port")),
            "{err:?}"
        );
        let err =
            alone.convert(Some(&doc("port = 1\nhost = \"x\"\npool = {min = 1, max = }\n"))).expect_err("bad");
        assert!(matches!(&err, Error::ConfigParse { line: Some(3), column: Some(24), .. }), "{err:?}");
    }

    #[test]
    fn missing_field_is_reported() {
        let s = schema(None, &[]);
        let err = s.convert(Some(&doc("host = \"h\"\n"))).expect_err("missing");
        assert!(
            matches!(&err, Error::ConfigParse { message, version: Some(7), .. } if message.contains("missing field")),
            "{err:?}"
        );
        let err = s.convert(None).expect_err("nothing at all");
        assert!(matches!(&err, Error::ConfigParse { version: None, .. }), "{err:?}");
    }

    #[test]
    fn validator_refuses_after_parsing() {
        let mut s = schema(Some(DEFAULTS), &[]);
        s.validator =
            Some(Arc::new(
                |db: &Db| if db.pool.min > db.pool.max { Err("min > max".into()) } else { Ok(()) },
            ));
        let err = s.convert(Some(&doc("[pool]\nmin = 5\nmax = 4\n"))).expect_err("refused");
        assert!(
            matches!(&err, Error::Validation { version: Some(7), reason, .. } if reason == "min > max"),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_position_and_the_expected_names() {
        let s = schema(Some(DEFAULTS), &[]);
        let err = s.convert(Some(&doc("port = 1\n[pool]\nmin = 1\nmxa = 2\n"))).expect_err("typo");
        assert!(
            matches!(&err, Error::ConfigParse { path, version: Some(7), line: Some(4), column: Some(1), message }
                if path == "/config/ns/db" && message == "unknown field `mxa`, expected `min` or `max` (in `pool`)"),
            "{err:?}"
        );
        let err = s.convert(Some(&doc("prot = 1\nhots = \"h\"\n"))).expect_err("two typos");
        assert!(
            matches!(&err, Error::ConfigParse { line: Some(1), message, .. }
                if message.starts_with("unknown field `prot`") && message.ends_with("; also unknown: `hots`")),
            "{err:?}"
        );

        let s = schema(Some(DEFAULTS), &[("APP__POOL__MXA", "3")]);
        let err = s.convert(Some(&doc("port = 1\n"))).expect_err("from the environment");
        assert!(
            matches!(&err, Error::ConfigParse { path, version: None, message, .. }
                if path == "$APP__POOL__MXA" && message.contains("`mxa`") && message.contains("version 7")),
            "{err:?}"
        );
        let s = schema(Some(&format!("{DEFAULTS}prot = 2\n")), &[]);
        let err = s.convert(None).expect_err("in the defaults");
        assert!(
            matches!(&err, Error::ConfigParse { path, line: Some(7), column: Some(1), .. } if path == "defaults.toml"),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_keys_can_be_allowed() {
        let mut s = schema(Some(DEFAULTS), &[("APP__POOL__MXA", "3")]);
        s.allow_unknown_keys = true;
        let v = s.convert(Some(&doc("mesage = \"typo\"\nport = 9\n"))).expect("allowed");
        assert_eq!(v.port, 9);
    }

    #[test]
    fn a_refused_value_is_blamed_on_the_layer_that_set_it() {
        let at_most_50 = |s: &mut Schema<Db>| {
            s.validator = Some(Arc::new(|db: &Db| {
                if db.pool.max > 50 {
                    Err(format!("pool.max {} > 50", db.pool.max))
                } else {
                    Ok(())
                }
            }));
        };
        let layer = |err: Error| match err {
            Error::Validation { layer, .. } => layer,
            other => panic!("{other:?}"),
        };
        let mut s = schema(Some(DEFAULTS), &[("APP__HOST", "h"), ("APP__POOL__MAX", "99")]);
        at_most_50(&mut s);
        let err = s.convert(Some(&doc("[pool]\nmax = 20\n"))).expect_err("refused");
        assert!(err.to_string().contains("set by the environment override $APP__POOL__MAX"), "{err}");
        assert_eq!(layer(err), Layer::Environment { vars: vec!["APP__POOL__MAX".into()] });

        let mut s = schema(Some(DEFAULTS), &[("APP__HOST", "h")]);
        at_most_50(&mut s);
        let err = s.convert(Some(&doc("[pool]\nmax = 90\n"))).expect_err("refused");
        assert_eq!(layer(err), Layer::Document);

        let mut s = schema(Some(&DEFAULTS.replace("max = 10", "max = 70")), &[]);
        at_most_50(&mut s);
        let err = s.convert(None).expect_err("refused");
        assert_eq!(layer(err), Layer::Defaults { source: "defaults.toml".into() });
    }

    mod layering {
        //! Layering as a property: for any defaults and document, the result is the deep merge
        //! (tables key by key, everything else replaced by the upper layer).
        use proptest::prelude::*;
        use toml::{Table, Value};

        use super::*;

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<i32>().prop_map(|i| Value::Integer(i.into())),
                "[a-z ]{0,8}".prop_map(Value::String),
                any::<bool>().prop_map(Value::Boolean),
                prop::collection::vec(any::<i16>().prop_map(|i| Value::Integer(i.into())), 0..3)
                    .prop_map(Value::Array),
            ]
        }

        fn table() -> impl Strategy<Value = Table> {
            let inner = prop::collection::btree_map("[x-z]", leaf(), 0..3)
                .prop_map(|m| Value::Table(m.into_iter().collect()));
            prop::collection::btree_map("[a-e]", prop_oneof![leaf(), inner], 0..5)
                .prop_map(|m| m.into_iter().collect())
        }

        fn model(lower: &Table, upper: &Table) -> Table {
            let mut out = lower.clone();
            for (k, v) in upper {
                let merged = match (out.get(k), v) {
                    (Some(Value::Table(l)), Value::Table(u)) => Value::Table(model(l, u)),
                    _ => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            out
        }

        proptest! {
            #[test]
            fn document_over_defaults_is_a_deep_merge(defaults in table(), document in table()) {
                let d = toml::to_string(&defaults).expect("render defaults");
                let z = toml::to_string(&document).expect("render document");
                let schema = Schema::<Table> {
                    path: "/config/ns/p".into(),
                    layers: Layers::new(Some(Text::other("defaults.toml".into(), d)), Vec::new()).expect("layers"),
                    validator: None,
                    allow_unknown_keys: false,
                };
                let got = schema.convert(Some(&Text::document("/config/ns/p", Some(1), z))).expect("converts");
                prop_assert_eq!(got, model(&defaults, &document));
            }
        }
    }
}
