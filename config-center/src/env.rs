//! Environment overrides: `PREFIX__SECTION__KEY=value` sets `section.key` over the document.
//!
//! Two underscores separate the prefix from the first key and each key from the next; keys are
//! lower-cased. A variable that carries the prefix with one underscore (`SHOP_DB_POOL` for the
//! prefix `SHOP_DB`), or is the prefix alone, is not an override: it is ignored, and named by
//! [`Env::ignored`] so that a watch can warn about it. (A variable whose key the type does not
//! have is refused as an unknown key, blamed on the variable; see `schema.rs`.)

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

/// Variables and their values.
type Vars = Vec<(String, String)>;

/// One override: `$var` sets `keys` (a dotted path) to `text` (a TOML value, or a string).
#[derive(Debug, Clone)]
pub(crate) struct Override {
    pub(crate) keys: Vec<String>,
    pub(crate) text: Text,
}

impl Env {
    /// The prefix and the variables that carry it (`PREFIX` then `_` or nothing).
    fn vars(&self) -> Result<Option<(&str, Vars)>> {
        match self {
            Env::None => Ok(None),
            Env::Process { prefix } => {
                let mut vars = Vec::new();
                for (k, v) in std::env::vars_os() {
                    let Some(k) = k.to_str().map(str::to_owned) else { continue };
                    if !carries(prefix, &k) {
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
                Ok(Some((prefix, vars)))
            }
            Env::Vars { prefix, vars } => {
                Ok(Some((prefix, vars.iter().filter(|(k, _)| carries(prefix, k)).cloned().collect())))
            }
        }
    }

    /// The overrides, sorted by variable name.
    pub(crate) fn resolve(&self) -> Result<Vec<Override>> {
        match self.vars()? {
            Some((prefix, vars)) => parse_overrides(prefix, vars),
            None => Ok(Vec::new()),
        }
    }

    /// The variables that carry the prefix but are not overrides (`SHOP_DB_POOL`), sorted, each
    /// with the form expected.
    pub(crate) fn ignored(&self) -> Vec<(String, String)> {
        let Ok(Some((prefix, vars))) = self.vars() else { return Vec::new() };
        let marker = format!("{prefix}__");
        let mut ignored: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| !k.starts_with(&marker))
            .map(|(k, _)| {
                let rest = k[prefix.len()..].trim_start_matches('_');
                let expected =
                    if rest.is_empty() { format!("{marker}<KEY>") } else { format!("{marker}{rest}") };
                (k, expected)
            })
            .collect();
        ignored.sort();
        ignored
    }
}

/// Whether `var` carries `prefix`: is it, or starts with it and an underscore.
fn carries(prefix: &str, var: &str) -> bool {
    var.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
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
    /// The variable's name.
    pub(crate) fn var(&self) -> &str {
        self.text.label.strip_prefix('$').unwrap_or(&self.text.label)
    }

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

    #[test]
    fn variables_that_carry_the_prefix_but_are_no_overrides_are_named_with_the_form_expected() {
        let vars = [("SHOP_DB_POOL", "3"), ("SHOP_DB__HOST", "h"), ("SHOP_DBX__A", "1"), ("SHOP_DB", "x")];
        let env = Env::Vars {
            prefix: "SHOP_DB".into(),
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        assert_eq!(
            env.ignored(),
            [
                ("SHOP_DB".to_owned(), "SHOP_DB__<KEY>".to_owned()),
                ("SHOP_DB_POOL".to_owned(), "SHOP_DB__POOL".to_owned()),
            ]
        );
        let overrides = env.resolve().expect("overrides");
        assert_eq!(overrides.iter().map(|o| o.text.label.as_str()).collect::<Vec<_>>(), ["$SHOP_DB__HOST"]);
    }
}
