//! Apache Dubbo's interface-level layout: `<root>/<interface>/providers/<URL node name>` (root
//! `/dubbo` by default), consumers under `consumers` with `category=consumers&side=consumer`,
//! node names = `URL.encode(url.toFullString())` (Dubbo's `ZookeeperRegistry.toUrlPath`), which
//! is zkmesh's own node name encoding with the parameters sorted by key.
//!
//! What the layout maps:
//! - `interface`: the service; a provider registered here gets `interface=<service>` and
//!   `side=provider` (and `application`) when its URL has none, and a node whose `interface` names another
//!   service is refused.
//! - `category`: absent or `providers` under `providers`.
//! - `enabled` / `disabled`: a provider written with `disabled=true` (or `enabled=false`)
//!   is not used (Dubbo's `RegistryDirectory` rule: `disabled` wins when both are there); it
//!   is reported among the set's rejected nodes with that reason.
//! - `warmup`: Dubbo's is in milliseconds, zkmesh's in seconds: read as seconds (rounded up),
//!   written as milliseconds.
//! - `group` and `version` (with `*`): [`Filter`](crate::Filter) matches them.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::url::ServiceUrl;

/// A Dubbo provider node name of `service`, decoded (see the module docs).
pub(crate) fn decode(name: &str, service: &str) -> Result<ServiceUrl> {
    let text = ServiceUrl::node_name_text(name)?;
    let url = ServiceUrl::parse(&warmup_to_seconds(&text))?;
    let refuse = |reason: String| Err(Error::InvalidUrl { url: url.to_string(), reason });
    let interface = url.param("interface").unwrap_or(url.service());
    if url.service() != service || interface != service {
        return refuse(format!("registered under interface {service:?} but names {interface:?}"));
    }
    if let Some(category) = url.param("category").filter(|c| *c != "providers") {
        return refuse(format!("category {category:?} under providers"));
    }
    if !enabled(&url) {
        return refuse("disabled by its own URL (Dubbo's disabled=true / enabled=false)".into());
    }
    Ok(url)
}

/// Dubbo's rule for a provider URL: `disabled` when present, else `enabled` (default true).
pub(super) fn enabled(url: &ServiceUrl) -> bool {
    match url.param("disabled") {
        Some(disabled) => disabled != "true",
        None => url.param("enabled") != Some("false"),
    }
}

/// The URL a provider registers in Dubbo's layout: `interface`, `side=provider` and
/// `application` (this program's name; Dubbo's admin groups providers by it) added when
/// missing, `warmup` written in milliseconds.
pub(crate) fn provider_url(url: &ServiceUrl) -> Result<ServiceUrl> {
    let mut url = url.clone();
    if url.param("application").is_none() {
        url = url.with_param("application", application())?;
    }
    if url.param("interface").is_none() {
        let service = url.service().to_owned();
        url = url.with_param("interface", service)?;
    }
    if url.param("side").is_none() {
        url = url.with_param("side", "provider")?;
    }
    if let Some(warmup) = url.warmup() {
        url = url.with_param("warmup", warmup.as_millis())?;
    }
    Ok(url)
}

/// Dubbo's consumer URL for `interface` (`RegistryProtocol`'s registered consumer URL:
/// `consumer://<host>/<interface>?application=..&category=consumers&check=false&..&side=consumer`).
pub(crate) fn consumer_url(host: &str, interface: &str) -> Result<ServiceUrl> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    ServiceUrl::new(crate::url::CONSUMER_SCHEME, host, 0, interface)?
        .with_param("application", application())?
        .with_param("category", "consumers")?
        .with_param("check", "false")?
        .with_param("dubbo", "2.0.2")?
        .with_param("interface", interface)?
        .with_param("pid", std::process::id())?
        .with_param("side", "consumer")?
        .with_param("timestamp", now)
}

/// This program's name, Dubbo's `application` (Dubbo requires one on consumer URLs).
pub(crate) fn application() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "zkmesh".into())
}

/// `text` with a `warmup` parameter in milliseconds rewritten in seconds (rounded up).
fn warmup_to_seconds(text: &str) -> String {
    let Some((head, query)) = text.split_once('?') else { return text.to_owned() };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.strip_prefix("warmup=").map(str::parse::<u64>) {
            Some(Ok(ms)) => format!("warmup={}", ms.div_ceil(1000)),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dubbo_provider_node_decodes_with_its_warmup_in_seconds() {
        let url = ServiceUrl::parse(
            "dubbo://10.0.0.5:20880/com.foo.Bar?interface=com.foo.Bar&side=provider&warmup=90500&weight=50",
        )
        .expect("url");
        let decoded = decode(&url.to_node_name(), "com.foo.Bar").expect("decodes");
        assert_eq!(decoded.warmup(), Some(std::time::Duration::from_secs(91)));
        assert_eq!(decoded.weight(), 50);
        let written = provider_url(&decoded).expect("provider url");
        assert_eq!(written.param("warmup"), Some("91000"));
        assert_eq!(written.param("interface"), Some("com.foo.Bar"));
        assert_eq!(written.param("side"), Some("provider"));
        assert_eq!(written.param("application"), Some(application().as_str()), "Dubbo's admin groups by it");
        let named = decoded.with_param("application", "shop").expect("url");
        assert_eq!(provider_url(&named).expect("provider url").param("application"), Some("shop"));
    }

    #[test]
    fn disabled_other_interfaces_and_other_categories_are_refused_with_their_reason() {
        let cases = [
            ("dubbo://10.0.0.5:20880/com.foo.Bar?disabled=true&enabled=true", "disabled"),
            ("dubbo://10.0.0.5:20880/com.foo.Bar?enabled=false", "disabled"),
            ("dubbo://10.0.0.5:20880/com.foo.Bar?interface=com.foo.Baz", "com.foo.Baz"),
            ("dubbo://10.0.0.5:20880/com.foo.Bar?category=routers", "category"),
        ];
        for (text, reason) in cases {
            let name = ServiceUrl::parse(text).expect("url").to_node_name();
            let err = decode(&name, "com.foo.Bar").expect_err(text);
            assert!(err.to_string().contains(reason), "{text}: {err}");
        }
        let fine = ServiceUrl::parse("dubbo://10.0.0.5:20880/com.foo.Bar?disabled=false&enabled=false")
            .expect("url");
        assert!(decode(&fine.to_node_name(), "com.foo.Bar").is_ok(), "disabled=false wins over enabled");
    }

    #[test]
    fn consumer_urls_carry_dubbo_s_category_and_side() {
        let url = consumer_url("10.0.0.7", "com.foo.Bar").expect("consumer url");
        assert_eq!(url.scheme(), "consumer");
        assert_eq!(url.port(), 0);
        assert_eq!(url.param("category"), Some("consumers"));
        assert_eq!(url.param("side"), Some("consumer"));
        assert_eq!(url.param("interface"), Some("com.foo.Bar"));
    }
}
