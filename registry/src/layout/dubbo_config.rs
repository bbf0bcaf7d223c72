//! Dubbo 2.6 configurators: `<root>/<interface>/configurators/<override URL node name>`, e.g.
//! `override://10.20.153.10/com.foo.BarService?category=configurators&dynamic=false&disabled=true`
//! or `...&weight=200`, applied to a subscription's providers as the operator's weight
//! override (the crate's one override factor on a provider): `disabled=true` is weight 0,
//! `weight=N` is N over the registered weight.
//!
//! Which providers an override applies to (Dubbo's `AbstractConfigurator`): its host is
//! `0.0.0.0` (all) or the provider's host; its port, when given, the provider's port; an
//! override with `enabled=false` applies to none; one with an `application` other than `*`
//! applies only to a consumer of that application (the consumer URL's `application`).
//! Overrides are applied in Dubbo's order, `0.0.0.0` ones first, so that a host's own wins.
//! Other parameters (`timeout`, `loadbalance`, ...) are Dubbo call settings zkmesh does not
//! have; they are ignored. `empty://` (Dubbo's "no configurators") clears them all.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::session::{Read, SessionCore, WatchKind};
use crate::url::ServiceUrl;

/// One Dubbo `override://` URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DubboOverride {
    /// `0.0.0.0` for every provider, or one provider's host.
    pub host: String,
    /// The provider's port, or 0 for any.
    pub port: u16,
    /// The interface named in the path.
    pub interface: String,
    /// The parameters, decoded.
    pub params: BTreeMap<String, String>,
}

impl DubboOverride {
    /// Parses a configurator node name (Dubbo's `URL.encode` of the override URL).
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] when the name is not an `override://host[:port]/interface?...` URL.
    pub fn from_node_name(name: &str) -> Result<Self> {
        let text = ServiceUrl::node_name_text(name)?;
        parse(&text).map_err(|reason| Error::InvalidUrl { url: text.clone(), reason })
    }

    /// Whether the override applies to `provider` for a consumer of `application`.
    pub fn applies_to(&self, provider: &ServiceUrl, application: Option<&str>) -> bool {
        let host_ok = self.host == "0.0.0.0" || self.host.eq_ignore_ascii_case(provider.host());
        let port_ok = self.port == 0 || self.port == provider.port();
        let enabled = self.params.get("enabled").map(String::as_str) != Some("false");
        let app_ok = match self.params.get("application").map(String::as_str) {
            None | Some("*") => true,
            Some(app) => application == Some(app),
        };
        host_ok && port_ok && enabled && app_ok
    }

    /// The weight factor this override sets on `provider`, if it sets one.
    fn factor(&self, provider: &ServiceUrl) -> Option<f64> {
        if let Some(disabled) = self.params.get("disabled") {
            return Some(if disabled == "true" { 0.0 } else { 1.0 });
        }
        let weight: f64 = self.params.get("weight")?.parse().ok()?;
        let registered = f64::from(provider.weight());
        Some(if registered == 0.0 { 0.0 } else { weight.max(0.0) / registered })
    }
}

/// The weight factor `overrides` give `provider` (1.0: none applies).
pub(crate) fn override_factor(
    overrides: &[DubboOverride],
    provider: &ServiceUrl,
    application: Option<&str>,
) -> f64 {
    let mut ordered: Vec<&DubboOverride> =
        overrides.iter().filter(|o| o.applies_to(provider, application)).collect();
    ordered.sort_by_key(|o| o.host != "0.0.0.0");
    let (mut disabled, mut weight) = (None, None);
    for o in ordered {
        if o.params.contains_key("disabled") {
            disabled = o.factor(provider);
        }
        if o.params.contains_key("weight") {
            weight = o.factor(provider).or(weight);
        }
    }
    match disabled {
        Some(0.0) => 0.0,
        _ => weight.unwrap_or(1.0),
    }
}

/// Follows `<root>/<interface>/configurators` until the session closes, handing every list of
/// overrides to `sink` (the names that do not parse are logged and skipped).
pub(crate) async fn follow_configurators(
    core: Arc<SessionCore>,
    path: String,
    mut sink: impl FnMut(Vec<DubboOverride>) + Send,
) {
    crate::session::run(core, path.clone(), WatchKind::Children, move |read| {
        let names = match read {
            Ok(Read::Children(names, _)) => names,
            Ok(Read::Absent) => Vec::new(),
            Ok(Read::Data(..)) | Err(_) => return,
        };
        let mut overrides = Vec::new();
        for name in names {
            if name.starts_with("empty%3A") {
                overrides.clear();
                continue;
            }
            match DubboOverride::from_node_name(&name) {
                Ok(o) => overrides.push(o),
                Err(error) => tracing::warn!(%path, node = %name, %error, "skipping a Dubbo configurator"),
            }
        }
        sink(overrides)
    })
    .await
}

/// `override://host[:port]/interface?k=v&...`.
fn parse(text: &str) -> std::result::Result<DubboOverride, String> {
    let rest = text.strip_prefix("override://").ok_or("not an override:// URL")?;
    let (authority, rest) = rest.split_once('/').ok_or("no interface after the host")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            (host, port.parse::<u16>().map_err(|_| format!("bad port {port:?}"))?)
        }
        _ => (authority, 0),
    };
    if host.is_empty() || path.is_empty() {
        return Err("empty host or interface".into());
    }
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.to_owned(), v.to_owned());
    }
    let interface = params.get("interface").cloned().unwrap_or_else(|| path.to_owned());
    Ok(DubboOverride { host: host.to_owned(), port, interface, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> String {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    fn url(text: &str) -> ServiceUrl {
        ServiceUrl::parse(text).expect("url")
    }

    #[test]
    fn overrides_parse_from_dubbo_s_node_names() {
        let o = DubboOverride::from_node_name(&node(
            "override://10.20.153.10:20880/com.foo.BarService?category=configurators&dynamic=false&weight=200",
        ))
        .expect("parses");
        assert_eq!(
            (o.host.as_str(), o.port, o.interface.as_str()),
            ("10.20.153.10", 20880, "com.foo.BarService")
        );
        assert_eq!(o.params.get("weight").map(String::as_str), Some("200"));
        assert!(DubboOverride::from_node_name(&node("dubbo://10.0.0.1:1/x")).is_err());
    }

    #[test]
    fn disabled_is_weight_zero_weight_is_relative_and_a_host_s_own_override_wins() {
        let all_off = DubboOverride::from_node_name(&node("override://0.0.0.0/s?disabled=true")).expect("o");
        let one_on = DubboOverride::from_node_name(&node("override://10.0.0.1/s?disabled=false")).expect("o");
        let heavy = DubboOverride::from_node_name(&node("override://10.0.0.2:80/s?weight=300")).expect("o");
        let (a, b, c) =
            (url("dubbo://10.0.0.1:80/s"), url("dubbo://10.0.0.2:80/s"), url("dubbo://10.0.0.2:81/s"));
        let overrides = vec![one_on.clone(), all_off.clone(), heavy.clone()];
        assert_eq!(override_factor(&overrides, &a, None), 1.0, "its own override enables it again");
        assert_eq!(override_factor(&overrides, &b, None), 0.0, "disabled beats a weight");
        assert_eq!(override_factor(std::slice::from_ref(&heavy), &b, None), 3.0);
        assert_eq!(override_factor(&[heavy], &c, None), 1.0, "another port");
        let inactive =
            DubboOverride::from_node_name(&node("override://0.0.0.0/s?disabled=true&enabled=false"))
                .expect("o");
        assert_eq!(override_factor(&[inactive], &a, None), 1.0, "enabled=false turns the override off");
        let app = DubboOverride::from_node_name(&node("override://0.0.0.0/s?application=shop&disabled=true"))
            .expect("o");
        assert_eq!(override_factor(std::slice::from_ref(&app), &a, Some("shop")), 0.0);
        assert_eq!(override_factor(&[app], &a, Some("other")), 1.0);
    }
}
