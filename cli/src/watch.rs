//! `zkmesh watch` and `zkmesh register`: commands that run until Ctrl-C.

use registry::{Layout, ProviderChange, ServiceUrl, SubscribeOptions};
use serde_json::json;

use crate::args::Cli;
use crate::zk;

/// Prints provider additions and removals of `service` until Ctrl-C.
pub async fn watch(cli: &Cli, service: &str, layout: Layout) -> Result<(), String> {
    registry::validate_service_name(service).map_err(|e| e.to_string())?;
    let registry = crate::services::registry(cli, zk::Chroot::Existing, layout).await?;
    let client = zk::client(registry.session())?;
    let path = format!("{}/{service}", registry.root().trim_end_matches('/'));
    if client.check_stat(&path).await.map_err(|e| format!("stat {path}: {e}"))?.is_none() {
        return Err(format!("unknown service {service:?} (no {path} in ZooKeeper at {})", cli.zk));
    }
    let options = SubscribeOptions::default().empty_protection(false).register_consumer(false);
    let mut interrupt = crate::interrupt::Interrupt::new()?;
    let sub = registry.subscribe_with(service, options).await.map_err(|e| e.to_string())?;
    let mut changes = sub.changes();
    loop {
        tokio::select! {
            change = changes.next() => {
                let Some(change) = change else { return Err("the subscription ended".into()) };
                let (event, provider) = match &change {
                    ProviderChange::Added(p) => ("added", p),
                    ProviderChange::Removed(p) => ("removed", p),
                };
                if cli.json {
                    crate::output::json(&json!({
                        "event": event, "service": service, "url": provider.url().to_string(),
                        "address": provider.address(), "weight": provider.weight(),
                    }));
                } else {
                    let sign = if event == "added" { '+' } else { '-' };
                    crate::out!("{sign} {}", provider.url());
                }
            }
            _ = interrupt.recv() => return Ok(()),
        }
    }
}

/// Registers `url` as a provider of `service` and holds it until Ctrl-C, then deregisters.
pub async fn register(cli: &Cli, service: &str, url: &str, layout: Layout) -> Result<(), String> {
    registry::validate_service_name(service).map_err(|e| e.to_string())?;
    let url = ServiceUrl::parse(url).map_err(|e| e.to_string())?;
    if url.service() != service {
        return Err(format!("the URL names service {:?}, not {service:?}", url.service()));
    }
    let mut interrupt = crate::interrupt::Interrupt::new()?;
    let registry = crate::services::registry(cli, zk::Chroot::Create, layout).await?;
    let registration = registry.register(&url).await.map_err(|e| e.to_string())?;
    if cli.json {
        crate::output::json(&json!({
            "event": "registered", "url": registration.url().to_string(), "path": registration.path(),
            "status": format!("{:?}", registration.status()),
        }));
    } else {
        crate::out!("registered {} (Ctrl-C to deregister)", registration.url());
    }
    interrupt.recv().await;
    registration.deregister().await.map_err(|e| format!("deregister: {e}"))?;
    if cli.json {
        crate::output::json(&json!({ "event": "deregistered", "url": url.to_string() }));
    } else {
        crate::out!("deregistered");
    }
    Ok(())
}
