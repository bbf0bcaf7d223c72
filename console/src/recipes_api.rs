//! `GET /api/recipes`: elections, locks, queues, barriers, semaphores, groups and jobs as
//! ZooKeeper shows them.
//!
//! The recipes crate keeps each kind under a fixed root (`/election/<name>`, `/locks/<name>`,
//! `/queues/<name>`, `/barriers/<name>`, `/semaphores/<name>`, `/groups/<name>`,
//! `/jobs/<name>`; see its crate docs), so those roots are read by kind. Recipes that other
//! programs (Apache Curator, kazoo) keep elsewhere are found under the paths given to
//! `--recipes`: each path, and each child of it, is recognised by its children's Curator-style
//! names (`…-latch-<seq>` an election, `…-lock-<seq>` / `__READ__` / `__WRIT__` a lock,
//! `qn-<seq>` a queue, `…-member-<seq>` a barrier, a `leases` child a semaphore; a group's
//! members have names of their own choosing, so groups are found under `/groups` only).
//! Owners are the lowest sequence numbers; node data (an identity) is shown as text, cut at
//! [`MAX_DATA`] characters.

use futures::future::join_all;
use serde_json::{json, Value};
use zookeeper_client::{Client, Error as ZkError};

use crate::console::State;
use crate::failure;
use crate::reply::{ApiError, Reply};

/// How much of a node's data is shown.
const MAX_DATA: usize = 256;
/// How many participants of one recipe have their data read.
const MAX_READS: usize = 100;

/// A recipe kind, by the names of its sequential children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Election,
    Lock,
    Queue,
    Barrier,
    Semaphore,
    Group,
}

impl Kind {
    fn of(children: &[String]) -> Option<Kind> {
        let any = |f: &dyn Fn(&str) -> bool| children.iter().any(|c| f(c) && sequence(c).is_some());
        if children.iter().any(|c| c == "leases") {
            Some(Kind::Semaphore)
        } else if any(&|c| c.contains("-latch-")) {
            Some(Kind::Election)
        } else if any(&|c| c.contains("-lock-") || c.contains("__READ__") || c.contains("__WRIT__")) {
            Some(Kind::Lock)
        } else if any(&|c| c.starts_with("qn-")) {
            Some(Kind::Queue)
        } else if any(&|c| c.contains("-member-")) {
            Some(Kind::Barrier)
        } else {
            None
        }
    }

    fn key(self) -> &'static str {
        match self {
            Kind::Election => "elections",
            Kind::Lock => "locks",
            Kind::Queue => "queues",
            Kind::Barrier => "barriers",
            Kind::Semaphore => "semaphores",
            Kind::Group => "groups",
        }
    }
}

/// The 10-digit sequence number a sequential node's name ends with.
fn sequence(name: &str) -> Option<i64> {
    let digits = name.get(name.len().checked_sub(10)?..)?;
    digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok()).flatten()
}

/// `{"elections":[..],"locks":[..],"queues":[..],"barriers":[..],"semaphores":[..],
/// "groups":[..],"jobs":[..]}`.
pub(crate) async fn recipes(state: &State) -> Reply {
    let client = state.session.client().ok_or_else(|| ApiError::internal("no ZooKeeper connection"))?;
    let mut out = json!({ "elections": [], "locks": [], "queues": [], "barriers": [], "semaphores": [],
        "groups": [], "jobs": [] });
    let mut dirs = Vec::new();
    for (root, kind) in [
        ("/election", Kind::Election),
        ("/locks", Kind::Lock),
        ("/queues", Kind::Queue),
        ("/barriers", Kind::Barrier),
        ("/semaphores", Kind::Semaphore),
        ("/groups", Kind::Group),
    ] {
        for name in children(&client, root).await? {
            dirs.push((registry::join(root, &name), Some(kind)));
        }
    }
    for path in &state.recipes {
        dirs.push((path.clone(), None));
        for name in children(&client, path).await? {
            dirs.push((registry::join(path, &name), None));
        }
    }
    for (path, kind) in dirs {
        let mut nodes = children(&client, &path).await?;
        let Some(kind) = kind.or_else(|| Kind::of(&nodes)) else { continue };
        if kind != Kind::Group {
            nodes.retain(|n| sequence(n).is_some());
            nodes.sort_by_key(|n| sequence(n));
        }
        let entry = describe(&client, &path, kind, nodes).await?;
        if let Some(list) = out[kind.key()].as_array_mut() {
            list.push(entry);
        }
    }
    out["jobs"] = jobs(state).await?;
    Ok(out)
}

/// One recipe's JSON, its sequential `nodes` in order.
async fn describe(client: &Client, path: &str, kind: Kind, nodes: Vec<String>) -> Result<Value, ApiError> {
    match kind {
        Kind::Queue => {
            let depth = nodes.iter().filter(|n| n.starts_with("qn-")).count();
            Ok(json!({ "path": path, "depth": depth }))
        }
        Kind::Election => {
            let candidates = participants(client, path, &nodes).await;
            Ok(json!({ "path": path, "leader": candidates.first(), "candidates": candidates }))
        }
        Kind::Lock => {
            let holders = participants(client, path, &nodes).await;
            let holder = holders.first().cloned();
            Ok(json!({ "path": path, "holder": holder, "waiters": holders.get(1..).unwrap_or_default() }))
        }
        Kind::Barrier => {
            let size = client.get_data(path).await.ok().map(|(d, _)| text(&d));
            let members: Vec<String> = nodes.into_iter().filter(|n| n.contains("-member-")).collect();
            let ready = matches!(client.check_stat(&registry::join(path, "ready")).await, Ok(Some(_)));
            Ok(json!({ "path": path, "size": size, "members": members, "ready": ready }))
        }
        Kind::Semaphore => semaphore(client, path).await,
        Kind::Group => Ok(json!({ "path": path, "members": participants(client, path, &nodes).await })),
    }
}

/// A semaphore (Curator's `InterProcessSemaphoreV2`): `{"path","leases":[{"node","data"}],
/// "acquiring"}`, the lease nodes in order (held, or the one acquirer's being counted) and how
/// many acquirers hold or wait for its internal lock.
async fn semaphore(client: &Client, path: &str) -> Result<Value, ApiError> {
    let dir = registry::join(path, "leases");
    let mut leases = children(client, &dir).await?;
    leases.retain(|n| sequence(n).is_some());
    leases.sort_by_key(|n| sequence(n));
    let acquiring = children(client, &registry::join(path, "locks")).await?;
    let acquiring = acquiring.iter().filter(|n| sequence(n).is_some()).count();
    Ok(json!({ "path": path, "leases": participants(client, &dir, &leases).await, "acquiring": acquiring }))
}

/// `{"node","data"}` of each of `nodes` (data read for the first [`MAX_READS`]).
async fn participants(client: &Client, path: &str, nodes: &[String]) -> Vec<Value> {
    let reads =
        join_all(nodes.iter().take(MAX_READS).map(|n| client.get_data(&registry::join(path, n)))).await;
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let data = reads.get(i).and_then(|r| r.as_ref().ok()).map(|(d, _)| text(d));
            json!({ "node": node, "data": data })
        })
        .collect()
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).chars().take(MAX_DATA).collect()
}

async fn children(client: &Client, path: &str) -> Result<Vec<String>, ApiError> {
    match client.list_children(path).await {
        Ok(mut names) => {
            names.sort();
            Ok(names)
        }
        Err(ZkError::NoNode) => Ok(Vec::new()),
        Err(e) => Err(failure::zk("list", path, e)),
    }
}

/// `[{"name","kind","schedule","shards","members","owner","shard_owners","last_run",
/// "next_run_ms","runs_kept"}]`: the scheduled jobs under `/jobs` (`zkmesh jobs`).
async fn jobs(state: &State) -> Result<Value, ApiError> {
    let names = recipes::list_jobs(&state.session).await.map_err(|e| failure::internal(e.to_string()))?;
    let mut rows = Vec::new();
    for name in names {
        let Ok(job) = recipes::job_status(&state.session, &name).await else { continue };
        let last_run = job.last_run.as_ref().map(|r| {
            json!({ "tick_ms": r.tick_ms, "member": r.member, "started_ms": r.started_ms,
                "finished_ms": r.finished_ms, "outcome": r.outcome })
        });
        let owners: serde_json::Map<String, Value> =
            job.shard_owners.iter().map(|(item, owner)| (item.to_string(), json!(owner))).collect();
        rows.push(json!({
            "name": job.name, "kind": job.kind, "schedule": job.schedule.as_ref().map(ToString::to_string),
            "shards": job.shards, "members": job.members,
            "owner": job.last_run.as_ref().map(|r| r.member.clone()),
            "shard_owners": owners, "last_run": last_run, "next_run_ms": job.next_run_ms,
            "runs_kept": job.runs_kept,
        }));
    }
    Ok(Value::Array(rows))
}
