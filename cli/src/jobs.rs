//! `zkmesh jobs [NAME]`: scheduled jobs (recipes' `JobScheduler`), their members, shard owners,
//! last and next runs.

use serde_json::{json, Value};

use recipes::JobStatus;

use crate::args::Cli;
use crate::output;
use crate::zk;

/// Every job (one line each), or one job in detail.
pub async fn jobs(cli: &Cli, name: Option<&str>) -> Result<(), String> {
    let session = zk::session(cli, zk::Chroot::Existing).await?;
    let names = match name {
        Some(name) => vec![name.to_owned()],
        None => recipes::list_jobs(&session).await.map_err(|e| e.to_string())?,
    };
    let mut statuses = Vec::new();
    for name in &names {
        statuses.push(recipes::job_status(&session, name).await.map_err(|e| e.to_string())?);
    }
    let now = now_ms();
    if cli.json {
        let list: Vec<Value> = statuses.iter().map(to_json).collect();
        output::json(&json!({ "jobs": list }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = statuses.iter().map(|s| row(s, now)).collect();
    output::table(&["JOB", "KIND", "SCHEDULE", "MEMBERS", "LAST RUN", "BY", "OUTCOME", "NEXT RUN"], &rows);
    if name.is_some() {
        for status in &statuses {
            details(status);
        }
    }
    Ok(())
}

/// The table row of one job.
fn row(s: &JobStatus, now: i64) -> Vec<String> {
    let last = s.last_run.as_ref();
    vec![
        s.name.clone(),
        match s.shards {
            Some(n) => format!("{} ({n} items)", s.kind),
            None => s.kind.clone(),
        },
        s.schedule.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
        s.members.len().to_string(),
        last.map_or_else(|| "-".to_owned(), |r| relative(r.tick_ms, now)),
        last.map_or_else(|| "-".to_owned(), |r| r.member.clone()),
        last.and_then(|r| r.outcome.clone()).unwrap_or_else(|| "-".to_owned()),
        s.next_run_ms.map_or_else(|| "-".to_owned(), |t| relative(t, now)),
    ]
}

/// The members and shard owners of one job, below its row.
fn details(s: &JobStatus) {
    crate::out!();
    crate::out!("members: {}", if s.members.is_empty() { "-".to_owned() } else { s.members.join(", ") });
    if let Some(total) = s.shards {
        let rows: Vec<Vec<String>> = (0..total)
            .map(|i| vec![i.to_string(), s.shard_owners.get(&i).cloned().unwrap_or_else(|| "-".to_owned())])
            .collect();
        crate::out!();
        output::table(&["ITEM", "OWNER"], &rows);
    }
}

fn to_json(s: &JobStatus) -> Value {
    let owners: serde_json::Map<String, Value> =
        s.shard_owners.iter().map(|(i, m)| (i.to_string(), json!(m))).collect();
    json!({
        "job": s.name,
        "kind": s.kind,
        "schedule": s.schedule.as_ref().map(ToString::to_string),
        "shards": s.shards,
        "members": s.members,
        "shard_owners": owners,
        "runs_kept": s.runs_kept,
        "last_run": s.last_run.as_ref().map(|r| json!({
            "tick_ms": r.tick_ms,
            "member": r.member,
            "started_ms": r.started_ms,
            "finished_ms": r.finished_ms,
            "outcome": r.outcome,
        })),
        "next_run_ms": s.next_run_ms,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `t` relative to `now`: `in 3.2s`, `12.0s ago`, `in 2h05m`.
fn relative(t: i64, now: i64) -> String {
    let ms = (t - now).unsigned_abs();
    let amount = if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60)
    };
    if t >= now {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn times_read_relative_to_now() {
        assert_eq!(relative(13_200, 10_000), "in 3.2s");
        assert_eq!(relative(0, 12_000), "12.0s ago");
        assert_eq!(relative(7_500_000, 0), "in 2h05m");
        assert_eq!(relative(0, 65_000), "1m05s ago");
    }
}
