//! Environment overrides: `PREFIX__SECTION__KEY=value` sets `section.key` over the document.

use std::borrow::Cow;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::document::{shift, Text};
use crate::error::{Error, Result};

/// Where environment overrides come from.
#[derive(Debug, Clone, Default)]
pub(crate) enum Env {
    /// None.
    #[default]
    None,
    /// The process environment, variables starting with `PREFIX__`.
    Process { prefix: String },
    /// Given variables, those starting with `PREFIX__`.
    Vars { prefix: String, vars: Vec<(String, String)> },
}

/// One override: `$var` sets `keys` (a dotted path) to `text` (a TOML value, or a string).
#[derive(Debug, Clone)]
pub(crate) struct Override {
    pub(crate) keys: Vec<String>,
    pub(crate) text: Text,
}

impl Env {
    /// The overrides, sorted by variable name.
    pub(crate) fn resolve(&self) -> Result<Vec<Override>> {
        let (prefix, vars) = match self {
            Env::None => return Ok(Vec::new()),
            Env::Process { prefix } => {
                let mut vars = Vec::new();
                for (k, v) in std::env::vars_os() {
                    let Some(k) = k.to_str().map(str::to_owned) else { continue };
                    if !k.starts_with(&format!("{prefix}__")) {
                        continue;
                    }
                    match v.into_string() {
                        Ok(v) => vars.push((k, v)),
                        Err(_) => {
                            return Err(Error::EnvOverride {
                                var: k,
                                reason: "the value is not UTF-8".into(),
                            })
                        }
                    }
                }
                (prefix, vars)
            }
            Env::Vars { prefix, vars } => (prefix, vars.clone()),
        };
        parse_overrides(prefix, vars)
    }
}

/// `PREFIX__A__B=value` -> keys `a.b` (lower-cased), value parsed as TOML when it parses.
pub(crate) fn parse_overrides(prefix: &str, mut vars: Vec<(String, String)>) -> Result<Vec<Override>> {
    let marker = format!("{prefix}__");
    vars.retain(|(k, _)| k.starts_with(&marker));
    vars.sort();
    let mut overrides: Vec<Override> = Vec::with_capacity(vars.len());
    for (var, value) in vars {
        let keys: Vec<String> = var[marker.len()..].split("__").map(str::to_lowercase).collect();
        if keys.iter().any(String::is_empty) {
            return Err(Error::EnvOverride {
                var,
                reason: "empty key segment (`__` at an end or `____`)".into(),
            });
        }
        for other in &overrides {
            let n = other.keys.len().min(keys.len());
            if other.keys[..n] == keys[..n] {
                return Err(Error::EnvOverride {
                    var,
                    reason: format!("`{}` is also set by {}", keys[..n].join("."), other.text.label),
                });
            }
        }
        overrides.push(Override { keys, text: Text::other(format!("${var}"), value) });
    }
    Ok(overrides)
}

impl Override {
    /// `{ a = { b = value } }`, every span the value's.
    pub(crate) fn table(&self) -> Spanned<DeTable<'_>> {
        let text = &self.text;
        let whole = text.offset..text.offset + text.text.len();
        let mut value = match DeValue::parse(&text.text) {
            Ok(v) => shift(v, text.offset),
            Err(_) => Spanned::new(whole.clone(), DeValue::String(Cow::Borrowed(text.text.as_str()))),
        };
        for key in self.keys.iter().skip(1).rev() {
            let mut table = DeTable::new();
            table.insert(Spanned::new(whole.clone(), Cow::Borrowed(key.as_str())), value);
            value = Spanned::new(whole.clone(), DeValue::Table(table));
        }
        let mut root = DeTable::new();
        if let Some(first) = self.keys.first() {
            root.insert(Spanned::new(whole.clone(), Cow::Borrowed(first.as_str())), value);
        }
        Spanned::new(whole, root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_overrides_are_refused() {
        let bad = |vars: &[(&str, &str)]| {
            parse_overrides("APP", vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        };
        assert!(matches!(bad(&[("APP__", "1")]), Err(Error::EnvOverride { .. })));
        assert!(matches!(bad(&[("APP__A____B", "1")]), Err(Error::EnvOverride { .. })));
        assert!(matches!(bad(&[("APP__A", "1"), ("APP__A__B", "2")]), Err(Error::EnvOverride { .. })));
        assert!(matches!(bad(&[("APP__a", "1"), ("APP__A", "2")]), Err(Error::EnvOverride { .. })));
        assert_eq!(bad(&[("APPX__A", "1"), ("APP_A", "1")]).map(|o| o.len()).ok(), Some(0));
    }
}
