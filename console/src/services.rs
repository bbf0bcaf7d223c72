//! `GET /api/services` and `GET /api/services/{svc}`: the services under the root with their
//! layouts and counts, and one service's providers (registered and effective weight under its
//! rules, the consumers that eject it), consumers and rules document.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use registry::{Layout, Rules, ServiceListing, ServiceUrl, Share};
use serde_json::{json, Value};

use crate::console::State;
use crate::failure;
use crate::health::{self, Ejections};
use crate::members::{self, Member};
use crate::reply::{ApiError, Reply};

/// Every service under the root: `[{"name","layout","layouts","providers","consumers",
/// "instances","disabled","unknown"}]`.
pub(crate) async fn list(state: &State) -> Reply {
    let listed = state.registry.services().await.map_err(failure::registry)?;
    let disabled = join_all(listed.iter().map(|s| disabled_count(state, s))).await;
    let rows: Vec<Value> = listed
        .iter()
        .zip(disabled)
        .map(|(s, disabled)| {
            let layouts: Vec<&str> = s.layouts.iter().map(|l| l.name()).collect();
            json!({
                "name": s.name,
                "layout": if layouts.is_empty() { "-".to_owned() } else { layouts.join("+") },
                "layouts": layouts,
                "providers": s.providers + s.instances,
                "consumers": s.consumers,
                "instances": s.instances,
                "disabled": disabled,
                "unknown": s.unknown,
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

/// How many of the service's providers its rules disable (0 when it has no rules, or they
/// do not parse, or the service is not in zkmesh's layout, where rules live).
async fn disabled_count(state: &State, listing: &ServiceListing) -> usize {
    if listing.providers == 0 || !listing.layouts.contains(&Layout::Zkmesh) {
        return 0;
    }
    let Ok(Some(document)) = state.rules.get(&listing.name).await else { return 0 };
    let Ok((providers, _)) = state.rules.members(&listing.name).await else { return 0 };
    document.rules.shares(&BTreeMap::new(), &providers).iter().filter(|s| s.disabled).count()
}

/// One service: `{"name","layout","providers":[..],"consumers":[..],"rules":{"version","text",
/// "error"}}`; 404 when the service node does not exist.
pub(crate) async fn detail(state: &State, service: &str) -> Reply {
    let service = crate::input::service(service)?;
    let layout = state.registry.layout();
    let client = state.session.client().ok_or_else(|| ApiError::internal("no ZooKeeper connection"))?;
    let path = registry::join(state.registry.root(), service);
    match client.check_stat(&path).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(ApiError::not_found(format!("no service {service:?} (no {path})"))),
        Err(e) => return Err(failure::zk("stat", &path, e)),
    }
    let providers = members::read(&client, &path, service, layout, "providers").await?;
    let consumers = if layout.has_consumers() {
        members::read(&client, &path, service, layout, "consumers").await?
    } else {
        Vec::new()
    };
    let ejections =
        if layout == Layout::Zkmesh { health::read(&client, &path).await? } else { Ejections::default() };
    let (rules, rules_json) = rules_of(state, service, layout).await?;
    let urls: Vec<ServiceUrl> = providers.iter().filter_map(|m| m.url.clone().ok()).collect();
    let shares = rules.shares(&BTreeMap::new(), &urls);
    let now = now_ms();
    Ok(json!({
        "name": service,
        "layout": layout.name(),
        "providers": providers.iter().map(|m| provider_json(m, &shares, &ejections, now)).collect::<Vec<_>>(),
        "consumers": consumers.iter().map(|m| member_json(m, now)).collect::<Vec<_>>(),
        "health_reports": ejections.reports,
        "rules": rules_json,
    }))
}

/// The service's rules (default when none, or when they do not parse) and their JSON:
/// `{"version": n|null, "text": "...", "error": null|"why it does not parse"}`.
async fn rules_of(state: &State, service: &str, layout: Layout) -> Result<(Rules, Value), ApiError> {
    if layout != Layout::Zkmesh {
        return Ok((Rules::default(), json!({ "version": null, "text": "", "error": null })));
    }
    let stored = state.rules.get_text(service).await.map_err(failure::config)?;
    let Some((text, version)) = stored else {
        return Ok((Rules::default(), json!({ "version": null, "text": "", "error": null })));
    };
    let (rules, error) = match Rules::parse(&text) {
        Ok(rules) => (rules, None),
        Err(e) => (Rules::default(), Some(e.to_string())),
    };
    Ok((rules, json!({ "version": version, "text": text, "error": error })))
}

/// A provider: its URL's fields, its weights and state under the rules, and the consumers
/// that eject it.
fn provider_json(member: &Member, shares: &[Share], ejections: &Ejections, now: i64) -> Value {
    let mut doc = member_json(member, now);
    let Ok(url) = &member.url else { return doc };
    let share = shares.iter().find(|s| &s.url == url);
    let tags: Vec<&str> = url
        .param(registry::TAG_PARAM)
        .map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).collect())
        .unwrap_or_default();
    let (ejected_by, ejected_since_ms) = ejections.of(url.address().as_ref());
    let fields = json!({
        "registered_weight": url.weight(),
        "effective_weight": share.map_or(url.weight(), |s| s.weight),
        "zone": url.zone(),
        "version": url.version(),
        "group": url.group(),
        "tags": tags,
        "disabled": share.is_some_and(|s| s.disabled),
        "ejected": !ejected_by.is_empty(),
        "ejected_by": ejected_by,
        "ejected_since_ms": ejected_since_ms,
    });
    if let (Some(doc), Value::Object(fields)) = (doc.as_object_mut(), fields) {
        doc.extend(fields);
    }
    doc
}

/// A member (provider or consumer): `{"address","url","node","age_ms"}`, or `"error"` for a
/// node that does not decode.
fn member_json(member: &Member, now: i64) -> Value {
    let age_ms = member.created_ms.map(|t| (now - t).max(0));
    match &member.url {
        Ok(url) => {
            json!({ "address": url.address(), "url": url.to_string(), "node": member.node, "age_ms": age_ms })
        }
        Err(e) => json!({ "address": null, "url": null, "node": member.node, "age_ms": age_ms, "error": e }),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
