//! Where each value of a merged config comes from: which layer set it, at which line, and which
//! lower layers it overrode ([`crate::ConfigSpec::explain`], `zkmesh config explain`).
//!
//! The walk follows the merge's rules (`document.rs`): tables merge key by key; anything else
//! set by a higher layer replaces what lower layers set at that key, a whole table included.

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};

use crate::document::{line_column, Text};
use crate::env::Override;
use crate::error::Result;

/// One value of the merged config and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provenance {
    /// The dotted key (`pool.max`).
    pub key: String,
    /// The value, as the layer wrote it (TOML).
    pub value: String,
    /// Who set it.
    pub source: ValueSource,
    /// The lower layers it overrode, lowest first.
    pub overridden: Vec<ValueSource>,
}

/// A layer and the place in it that sets a value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValueSource {
    /// The layer: a ZooKeeper path, the defaults (`<defaults>` or a file), or `$VAR`.
    pub layer: String,
    /// The ZooKeeper data version, for a ZooKeeper document.
    pub version: Option<i32>,
    /// The line (1-based).
    pub line: usize,
    /// The value it set there.
    pub value: String,
}

impl std::fmt::Display for ValueSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(v) => write!(f, "{} (version {v}) line {}", self.layer, self.line),
            None => write!(f, "{} line {}", self.layer, self.line),
        }
    }
}

/// The values at or under `key` (dotted; empty: every value) of `texts` merged in order, then
/// `env` over them.
pub(crate) fn explain(texts: &[&Text], env: &[Override], key: &str) -> Result<Vec<Provenance>> {
    let mut leaves: BTreeMap<Vec<String>, Provenance> = BTreeMap::new();
    for text in texts {
        let table = text.parse(None)?;
        visit(&mut leaves, text, table.get_ref(), &mut Vec::new());
    }
    for o in env {
        let source =
            ValueSource { layer: o.text.label.clone(), version: None, line: 1, value: o.text.text.clone() };
        set(&mut leaves, o.keys.clone(), source);
    }
    let wanted: Vec<&str> = key.split('.').filter(|k| !k.is_empty()).collect();
    Ok(leaves
        .into_iter()
        .filter(|(path, _)| path.len() >= wanted.len() && path.iter().zip(&wanted).all(|(a, b)| a == b))
        .map(|(_, p)| p)
        .collect())
}

fn visit(
    leaves: &mut BTreeMap<Vec<String>, Provenance>,
    text: &Text,
    table: &DeTable<'_>,
    prefix: &mut Vec<String>,
) {
    for (key, value) in table {
        prefix.push(key.get_ref().to_string());
        match value.get_ref() {
            // A table over a value: `set` replaces the value with the table's first key.
            DeValue::Table(inner) => visit(leaves, text, inner, prefix),
            _ => {
                let span = value.span();
                let start = span.start.saturating_sub(text.offset);
                let end = span.end.saturating_sub(text.offset).min(text.text.len());
                let written = text.text.get(start..end).unwrap_or_default().to_owned();
                let (line, _) = line_column(&text.text, start);
                let source =
                    ValueSource { layer: text.label.clone(), version: text.version, line, value: written };
                set(leaves, prefix.clone(), source);
            }
        }
        prefix.pop();
    }
}

/// `path` set by `source`: what lower layers set at or under it is overridden.
fn set(leaves: &mut BTreeMap<Vec<String>, Provenance>, path: Vec<String>, source: ValueSource) {
    let below: Vec<Vec<String>> = leaves.keys().filter(|p| p.starts_with(&path)).cloned().collect();
    let mut overridden = Vec::new();
    for p in below {
        if let Some(old) = leaves.remove(&p) {
            overridden.extend(old.overridden);
            overridden.push(old.source);
        }
    }
    // A value over a lower table's parent value (`a = 1` under `a.b = 2`) is replaced too.
    for i in 1..path.len() {
        if let Some(old) = leaves.remove(&path[..i]) {
            overridden.push(old.source);
        }
    }
    let value = source.value.clone();
    leaves.insert(path.clone(), Provenance { key: path.join("."), value, source, overridden });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_is_blamed_on_the_highest_layer_that_set_it() {
        let shared = Text::document("/config/s/shared", Some(3), "[db]\nhost = \"a\"\npool = 4\n".into());
        let app =
            Text::document("/config/s/app", Some(7), "\n[db]\npool = 8\n[log]\nlevel = \"info\"\n".into());
        let env = crate::env::parse_overrides("APP", vec![("APP__LOG__LEVEL".into(), "debug".into())])
            .expect("env");
        let got = explain(&[&shared, &app], &env, "db").expect("explain");
        let seen: Vec<_> =
            got.iter().map(|p| (p.key.as_str(), p.value.as_str(), p.source.to_string())).collect();
        assert_eq!(
            seen,
            [
                ("db.host", "\"a\"", "/config/s/shared (version 3) line 2".to_owned()),
                ("db.pool", "8", "/config/s/app (version 7) line 3".to_owned()),
            ]
        );
        assert_eq!(got[1].overridden.len(), 1);
        assert_eq!(got[1].overridden[0].value, "4");
        let level = explain(&[&shared, &app], &env, "log.level").expect("explain");
        assert_eq!((level[0].source.layer.as_str(), level[0].value.as_str()), ("$APP__LOG__LEVEL", "debug"));
        assert!(explain(&[&shared], &[], "nosuch").expect("explain").is_empty());
    }

    #[test]
    fn a_value_replaces_a_lower_table_and_the_other_way_round() {
        let low = Text::document("/l", Some(1), "x = 5\n[a]\nb = 1\nc = 2\nd = 4\n".into());
        let high = Text::document("/h", Some(1), "a = 3\nx = { y = 1 }\n".into());
        let got = explain(&[&low, &high], &[], "").expect("explain");
        let keys: Vec<_> = got.iter().map(|p| (p.key.as_str(), p.overridden.len())).collect();
        assert_eq!(keys, [("a", 3), ("x.y", 1)]);
    }
}
