//! `zkmesh doctor`: layouts that collide under one root, and what breaks for whom.
//!
//! zkmesh, Dubbo and Curator x-discovery (Spring Cloud Zookeeper, Dubbo 3 application-level
//! discovery) all write under a root, and `/services` is both zkmesh's and Curator's default.
//! Under one root they do not understand each other: Curator reads every child of a service as
//! an instance and every child of the root as a service, so zkmesh's `providers` directory
//! makes Curator's `queryForInstances` fail (Jackson's `MismatchedInputException`: no content),
//! and a zkmesh service is listed by Curator's `queryForNames` without being one.

use registry::{Layout, Registry, ServiceListing};
use serde_json::json;

use crate::args::Cli;
use crate::output;
use crate::zk;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    /// Something breaks for some client.
    Problem,
    /// Something looks wrong but nobody's discovery fails because of it.
    Warning,
    /// Nothing to report.
    Ok,
}

/// One finding: where, what, and who it breaks for.
struct Finding {
    severity: Severity,
    path: String,
    what: String,
    who: String,
}

/// Checks `--root`, or `/services` and `/dubbo`; exits non-zero when a problem is found.
pub async fn doctor(cli: &Cli) -> Result<(), String> {
    let roots: Vec<String> = match &cli.root {
        Some(root) => vec![root.clone()],
        None => vec![Layout::Zkmesh.default_root().to_owned(), Layout::Dubbo.default_root().to_owned()],
    };
    let session = zk::session(cli, zk::Chroot::Existing).await?;
    let mut findings = Vec::new();
    for root in &roots {
        registry::validate_path(root).map_err(|e| format!("--root: {e}"))?;
        let hint = if root == Layout::Dubbo.default_root() { Layout::Dubbo } else { Layout::Zkmesh };
        let registry = Registry::builder()
            .register_consumers(false)
            .layout(hint)
            .root(root)
            .build(session.clone())
            .map_err(|e| e.to_string())?;
        let listed = registry.services().await.map_err(|e| format!("list {root}: {e}"))?;
        findings.extend(examine(root, &listed));
    }
    let problems = findings.iter().filter(|f| f.severity == Severity::Problem).count();
    print(cli, &findings, problems);
    match problems {
        0 => Ok(()),
        n => Err(format!("{n} problem(s) found")),
    }
}

/// The findings for the services listed under `root`.
fn examine(root: &str, listed: &[ServiceListing]) -> Vec<Finding> {
    let path = |name: &str| format!("{}/{name}", root.trim_end_matches('/'));
    let mut findings = Vec::new();
    for s in listed.iter().filter(|s| s.is_mixed()) {
        let own = s.layouts[0];
        findings.push(Finding {
            severity: Severity::Problem,
            path: path(&s.name),
            what: format!(
                "{own} directories (providers {}, consumers {}) and {} Curator instance(s) under one name",
                s.providers, s.consumers, s.instances
            ),
            who: format!(
                "Curator clients (ServiceDiscovery.queryForInstances(\"{0}\"), Spring Cloud Zookeeper, Dubbo 3 \
                 application-level discovery) read `providers` as an instance and fail (Jackson \
                 MismatchedInputException: no content): they see no instance of {0}. zkmesh consumers in the {own} \
                 layout do not see the Curator instances. Move one side to another root (--root, \
                 RegistryBuilder::root) or name; a consumer may read both with SubscribeOptions::source",
                s.name
            ),
        });
    }
    let curator: Vec<&str> = names(listed, |s| s.layouts == [Layout::Curator]);
    let others: Vec<&str> = names(listed, |s| !s.layouts.is_empty() && !s.layouts.contains(&Layout::Curator));
    if !curator.is_empty() && !others.is_empty() {
        findings.push(Finding {
            severity: Severity::Problem,
            path: root.to_owned(),
            what: format!("Curator services ({}) and zkmesh/Dubbo services ({}) share the root", curator.join(", "), others.join(", ")),
            who: format!(
                "Curator's queryForNames() lists {} as services and queryForInstances fails on each (Spring Cloud's \
                 DiscoveryClient.getInstances, Dubbo 3 looking them up); zkmesh tells them apart (zkmesh services \
                 shows each one's layout). Give the zkmesh services a root of their own",
                others.join(", ")
            ),
        });
    }
    for s in listed.iter().filter(|s| !s.unknown.is_empty()) {
        findings.push(Finding {
            severity: Severity::Warning,
            path: path(&s.name),
            what: format!("children that fit no layout: {}", s.unknown.join(", ")),
            who:
                "Curator's queryForInstances fails on them (not a ServiceInstance JSON); zkmesh ignores them"
                    .into(),
        });
    }
    if findings.is_empty() {
        let what = format!("{} service(s), one layout each", listed.len());
        findings.push(Finding { severity: Severity::Ok, path: root.to_owned(), what, who: String::new() });
    }
    findings
}

fn names(listed: &[ServiceListing], keep: impl Fn(&ServiceListing) -> bool) -> Vec<&str> {
    listed.iter().filter(|s| keep(s)).map(|s| s.name.as_str()).collect()
}

fn print(cli: &Cli, findings: &[Finding], problems: usize) {
    let severity = |s: Severity| match s {
        Severity::Problem => "problem",
        Severity::Warning => "warning",
        Severity::Ok => "ok",
    };
    if cli.json {
        let list: Vec<_> = findings
            .iter()
            .map(|f| json!({"severity": severity(f.severity), "path": f.path, "what": f.what, "who": f.who}))
            .collect();
        output::json(&json!({ "problems": problems, "findings": list }));
        return;
    }
    for f in findings {
        crate::out!("{:<8} {}: {}", severity(f.severity), f.path, f.what);
        if !f.who.is_empty() {
            crate::out!("         {}", f.who);
        }
    }
}
