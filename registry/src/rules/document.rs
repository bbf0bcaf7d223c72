//! [`Rules`]: one service's traffic rules document, as TOML, parsed and validated.
//!
//! Validation runs inside deserialization (each table's `try_from`), so a refused entry is
//! reported at the line and column of its table, like a syntax error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::url::{ServiceUrl, MAX_WEIGHT};

/// The largest weight factor an override may set.
pub const MAX_FACTOR: f64 = 1000.0;

/// One service's traffic rules: overrides of single providers and routes between them.
///
/// The document lives at `/services/<service>/rules` (TOML, UTF-8); see the crate README's
/// "Rules" section. Every table is optional; an empty document means no rules.
///
/// ```
/// let rules = zkmesh_registry::Rules::parse(r#"
/// [[override]]
/// address = "10.0.0.5:8080"
/// disabled = true
///
/// [[override]]
/// match = { version = "2" }
/// factor = 0.5
///
/// [tags]
/// strict = false
///
/// [[condition]]
/// consumer = { zone = "az1" }
/// provider = { zone = "az1" }
///
/// [split]
/// by = "version"
/// shares = { "2" = 10 }
/// "#)?;
/// assert_eq!(rules.overrides.len(), 2);
/// # Ok::<(), zkmesh_registry::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rules {
    /// Per-provider overrides, applied in order (a later one wins for the same provider).
    #[serde(default, rename = "override", skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// Tag routing: present means requests are routed by their tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<TagRouting>,
    /// Condition routes, applied in order.
    #[serde(default, rename = "condition", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// A weighted split of traffic between provider groups (by a URL parameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
}

/// What an override does to the providers it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Takes them out of every consumer's set.
    Disable,
    /// Replaces their registered weight.
    Weight(u32),
    /// Multiplies their weight.
    Factor(f64),
}

/// An override of the providers at one address or whose URL parameters all match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawOverride", into = "RawOverride")]
#[non_exhaustive]
pub struct Override {
    /// `host:port` of the provider, or `None` to match by parameters only.
    pub address: Option<String>,
    /// URL parameters that must all equal these values (`version`, `zone`, ...).
    pub matches: BTreeMap<String, String>,
    /// What the override does.
    pub action: Action,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(default, rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    matches: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weight: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    factor: Option<f64>,
}

impl TryFrom<RawOverride> for Override {
    type Error = String;

    fn try_from(raw: RawOverride) -> std::result::Result<Self, String> {
        if raw.address.is_none() && raw.matches.is_empty() {
            return Err("an override needs `address` or `match`".into());
        }
        if let Some(address) = &raw.address {
            check_address(address)?;
        }
        let action = match (raw.disabled, raw.weight, raw.factor) {
            (Some(true), None, None) => Action::Disable,
            (None | Some(false), Some(w), None) if w <= MAX_WEIGHT => Action::Weight(w),
            (None | Some(false), Some(w), None) => return Err(format!("weight {w} is over {MAX_WEIGHT}")),
            (None | Some(false), None, Some(f)) if f.is_finite() && f > 0.0 && f <= MAX_FACTOR => {
                Action::Factor(f)
            }
            (None | Some(false), None, Some(f)) => {
                return Err(format!("factor {f} is outside (0, {MAX_FACTOR}]; use `disabled = true` for 0"))
            }
            (Some(false), None, None) => {
                return Err("`disabled = false` does nothing: remove the override".into())
            }
            (None, None, None) => {
                return Err("an override needs `disabled = true`, `weight` or `factor`".into())
            }
            _ => return Err("an override takes one of `disabled`, `weight` and `factor`".into()),
        };
        Ok(Override { address: raw.address, matches: raw.matches, action })
    }
}

impl From<Override> for RawOverride {
    fn from(o: Override) -> Self {
        let mut raw = RawOverride { address: o.address, matches: o.matches, ..RawOverride::default() };
        match o.action {
            Action::Disable => raw.disabled = Some(true),
            Action::Weight(w) => raw.weight = Some(w),
            Action::Factor(f) => raw.factor = Some(f),
        }
        raw
    }
}

impl Override {
    /// An override of the provider at `address` (`host:port`).
    pub fn address(address: &str, action: Action) -> Self {
        Override { address: Some(address.to_owned()), matches: BTreeMap::new(), action }
    }

    /// Whether it applies to a provider at `address` with these URL parameters.
    pub fn applies(&self, address: &str, params: &BTreeMap<String, String>) -> bool {
        self.address.as_deref().is_none_or(|a| a == address) && matches_all(&self.matches, params)
    }

    /// Whether it applies to the provider `p`: [`Override::applies`] with `p`'s address and
    /// parameters, without writing the address out (every consumer compiles its rules against
    /// every provider at each change, and a publish checks them for every consumer).
    pub(crate) fn applies_to(&self, p: &ServiceUrl) -> bool {
        self.address.as_deref().is_none_or(|a| is_address_of(a, p)) && matches_all(&self.matches, p.params())
    }
}

/// Whether `address` is `p.address()` (`host:port`, an IPv6 host in brackets), compared in
/// place.
fn is_address_of(address: &str, p: &ServiceUrl) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else { return false };
    let host_matches = match p.host().contains(':') {
        true => host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) == Some(p.host()),
        false => host == p.host(),
    };
    // The port as `u16`'s `Display` writes it: digits only, no leading zero.
    let canonical = port.bytes().all(|b| b.is_ascii_digit()) && (port == "0" || !port.starts_with('0'));
    host_matches && canonical && port.parse::<u16>() == Ok(p.port())
}

/// Tag routing: a request carrying tag `t` goes to the providers registered with `tag=t`; a
/// request without a tag goes to the providers without one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TagRouting {
    /// When no provider carries a request's tag: fail (`true`) or fall back to the untagged
    /// providers (`false`, the default).
    #[serde(default)]
    pub strict: bool,
}

/// A condition route: consumers whose URL parameters match `consumer` use only the providers
/// whose parameters match `provider` (`consumer zone = az1 => provider zone = az1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Condition {
    /// The consumers it applies to (all of them when empty).
    #[serde(default)]
    pub consumer: BTreeMap<String, String>,
    /// What the providers they use must match (not empty).
    pub provider: BTreeMap<String, String>,
    /// When no provider matches: leave the consumer none (`true`) or ignore the route
    /// (`false`, the default).
    #[serde(default)]
    pub strict: bool,
}

/// A weighted split between provider groups: the providers whose parameter `by` equals a key
/// of `shares` get that percentage of the traffic together; the providers of no listed group
/// share the rest. Within a group, weights apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSplit", into = "RawSplit")]
#[non_exhaustive]
pub struct Split {
    /// The URL parameter that names a provider's group (`version`, `group`, ...).
    pub by: String,
    /// Percent of the traffic by group value (each in `0..=100`, at most 100 together).
    pub shares: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSplit {
    by: String,
    shares: BTreeMap<String, f64>,
}

impl TryFrom<RawSplit> for Split {
    type Error = String;

    fn try_from(raw: RawSplit) -> std::result::Result<Self, String> {
        if raw.by.is_empty() {
            return Err("`by` names a URL parameter (`version`, `group`, ...)".into());
        }
        if raw.shares.is_empty() {
            return Err("`shares` lists at least one group".into());
        }
        if let Some((group, share)) = raw.shares.iter().find(|(_, s)| !(0.0..=100.0).contains(*s)) {
            return Err(format!("share {share} of {group:?} is not a percentage (0 to 100)"));
        }
        let total: f64 = raw.shares.values().sum();
        if total > 100.0 + 1e-9 {
            return Err(format!("shares add up to {total}%, over 100%"));
        }
        Ok(Split { by: raw.by, shares: raw.shares })
    }
}

impl From<Split> for RawSplit {
    fn from(s: Split) -> Self {
        RawSplit { by: s.by, shares: s.shares }
    }
}

impl Rules {
    /// Parses and validates a rules document.
    ///
    /// # Errors
    /// [`Error::InvalidRules`] with the line and column of the offending text: TOML syntax, an
    /// unknown key, a value of the wrong type, or an entry that does not validate (an override
    /// with no target or two actions, a weight over [`MAX_WEIGHT`], shares over 100%, ...).
    pub fn parse(text: &str) -> Result<Rules> {
        toml::from_str::<Rules>(text).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (l, c) = line_column(text, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            Error::InvalidRules {
                document: "rules document".into(),
                line,
                column,
                reason: e.message().trim().to_owned(),
            }
        })
    }

    /// The document as TOML text (what [`Rules::parse`] reads back).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot write these rules as TOML: {e}\n"))
    }

    /// Whether the document holds no rule.
    pub fn is_empty(&self) -> bool {
        self.overrides.is_empty() && self.tags.is_none() && self.conditions.is_empty() && self.split.is_none()
    }

    /// Whether some rule routes per request (tags, or a split that a request key keeps stable).
    pub fn has_routes(&self) -> bool {
        self.tags.is_some() || self.split.is_some()
    }

    /// Sets what the override of `address` does (replacing an override of that address alone),
    /// or removes it with `None`: what `zkmesh provider disable|enable|weight` write.
    pub fn set_override(&mut self, address: &str, action: Option<Action>) {
        self.overrides.retain(|o| !(o.address.as_deref() == Some(address) && o.matches.is_empty()));
        if let Some(action) = action {
            self.overrides.push(Override::address(address, action));
        }
    }
}

/// Whether `params` holds every key of `wanted` with its value.
pub(crate) fn matches_all(wanted: &BTreeMap<String, String>, params: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| params.get(k) == Some(v))
}

fn check_address(address: &str) -> std::result::Result<(), String> {
    let port = address.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(port))) if !host.is_empty() && port > 0 => Ok(()),
        _ => Err(format!("address {address:?} is not host:port")),
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`.
fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_matched_in_place_as_written_out() {
        let urls =
            ["http://10.0.0.1:80/s", "http://[::1]:8080/s", "http://Host.Example:1/s", "http://h:65535/s"];
        let addresses = [
            "10.0.0.1:80",
            "10.0.0.1:080",
            "10.0.0.1:+80",
            "10.0.0.1:8",
            "10.0.0.1",
            "[::1]:8080",
            "::1:8080",
            "[::1]8080",
            "host.example:1",
            "host.example:01",
            "Host.Example:1",
            "h:65535",
            "h:65536",
            "[h]:65535",
            "",
            ":",
        ];
        for url in urls {
            let p = ServiceUrl::parse(url).expect("url");
            for address in addresses {
                assert_eq!(is_address_of(address, &p), address == p.address(), "{address} against {url}");
            }
            assert!(is_address_of(&p.address(), &p), "{url}");
        }
    }

    fn refused(text: &str) -> (Option<usize>, Option<usize>, String) {
        match Rules::parse(text) {
            Err(Error::InvalidRules { line, column, reason, .. }) => (line, column, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_full_document_parses_and_writes_back() {
        let text = r#"
[[override]]
address = "10.0.0.5:8080"
disabled = true

[[override]]
match = { version = "2" }
weight = 20

[[override]]
address = "[::1]:80"
factor = 0.5

[tags]
strict = true

[[condition]]
consumer = { zone = "az1" }
provider = { zone = "az1" }

[split]
by = "version"
shares = { "2" = 10.0 }
"#;
        let rules = Rules::parse(text).expect("valid");
        assert_eq!(rules.overrides[0].action, Action::Disable);
        assert_eq!(rules.overrides[1].action, Action::Weight(20));
        assert_eq!(rules.overrides[2].action, Action::Factor(0.5));
        assert_eq!(rules.tags, Some(TagRouting { strict: true }));
        assert_eq!(rules.conditions[0].provider["zone"], "az1");
        assert_eq!(rules.split.as_ref().expect("split").shares["2"], 10.0);
        assert_eq!(Rules::parse(&rules.to_toml()).expect("round trip"), rules);
        assert!(Rules::parse("").expect("empty").is_empty());
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let (line, column, reason) = refused("[[override]]\naddress = \"a:1\"\ndisabled = tru\n");
        assert_eq!((line, column), (Some(3), Some(12)), "{reason}");
    }

    #[test]
    fn an_unknown_key_is_refused_where_it_is() {
        let (line, column, reason) = refused("[[override]]\naddress = \"a:1\"\ndisable = true\n");
        assert_eq!((line, column), (Some(3), Some(1)));
        assert!(reason.contains("disable"), "{reason}");
        let (line, _, reason) = refused("[tags]\nstrict = false\n[routes]\n");
        assert_eq!(line, Some(3), "{reason}");
    }

    #[test]
    fn invalid_entries_are_refused_at_their_table() {
        let cases = [
            ("[[override]]\ndisabled = true\n", "needs `address` or `match`"),
            ("[[override]]\naddress = \"a:1\"\ndisabled = true\nweight = 3\n", "one of"),
            ("[[override]]\naddress = \"a:1\"\nfactor = 0.0\n", "outside"),
            ("[[override]]\naddress = \"a\"\ndisabled = true\n", "host:port"),
            ("[[override]]\naddress = \"a:1\"\nweight = 99999999\n", "over"),
            ("[[override]]\naddress = \"a:1\"\n", "needs `disabled = true`"),
            ("[split]\nby = \"version\"\nshares = { a = 60, b = 50 }\n", "over 100%"),
            ("[split]\nby = \"version\"\nshares = { a = -1 }\n", "not a percentage"),
        ];
        for (text, want) in cases {
            let (line, column, reason) = refused(&format!("\n\n{text}"));
            assert!(reason.contains(want), "{text:?}: {reason}");
            assert!(line.is_some_and(|l| l >= 3) && column.is_some(), "{text:?}: {line:?}:{column:?}");
        }
    }

    #[test]
    fn set_override_replaces_the_address_override_only() {
        let mut rules =
            Rules::parse("[[override]]\nmatch = { zone = \"a\" }\nfactor = 2.0\n").expect("valid");
        rules.set_override("h:1", Some(Action::Disable));
        rules.set_override("h:1", Some(Action::Weight(5)));
        assert_eq!(rules.overrides.len(), 2);
        assert_eq!(rules.overrides[1].action, Action::Weight(5));
        rules.set_override("h:1", None);
        assert_eq!(rules.overrides.len(), 1, "the match override stays");
    }
}
