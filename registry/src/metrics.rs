//! Metrics through the `metrics` facade (install any recorder, e.g. a Prometheus exporter, to
//! collect them; without one they cost next to nothing). Nothing is recorded per pick.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `zkmesh_session_connected` | gauge | `connect` | 1 while the logical session is connected |
//! | `zkmesh_session_generation` | gauge | `connect` | ZooKeeper sessions opened so far |
//! | `zkmesh_session_transitions_total` | counter | `connect`, `state` | state changes |
//! | `zkmesh_ephemerals_recreated_total` | counter | | ephemerals re-created (after expiry, deletion) |
//! | `zkmesh_watch_events_total` | counter | `kind` | watch notifications received |
//! | `zkmesh_watch_reads_total` | counter | `kind` | reads issued by watch loops |
//! | `zkmesh_providers` | gauge | `service` | providers in a subscription's cache |
//! | `zkmesh_provider_updates_total` | counter | `service` | provider sets applied |
//! | `zkmesh_rejected_nodes` | gauge | `service` | provider nodes that did not decode |
//! | `zkmesh_empty_refusals_total` | counter | `service` | empty lists refused by empty protection |
//! | `zkmesh_snapshot_loads_total` | counter | `service` | subscriptions started from the disk snapshot |
//! | `zkmesh_snapshot_writes_total` | counter | `service`, `ok` | disk snapshot writes |
//! | `zkmesh_ejections_total` | counter | `service` | providers ejected after failures (failed probes included) |
//! | `zkmesh_ejections_refused_total` | counter | `service` | ejections refused because the cap was reached |
//! | `zkmesh_probes_total` | counter | `service`, `ok` | probe requests answered, by outcome |
//! | `zkmesh_ejected` | gauge | `service` | providers ejected or being probed now |
//! | `zkmesh_protection_trips_total` | counter | `service` | times the protection threshold kept vanished providers as suspects |
//! | `zkmesh_suspects` | gauge | `service` | vanished providers kept as suspects now |
//! | `zkmesh_suspects_dropped_total` | counter | `service`, `why` | suspects dropped (a failed request, the hold over, registered again) |
//! | `zkmesh_classifier_panics_total` | counter | `service` | response classifiers that panicked (outcome ignored) |
//! | `zkmesh_config_accepted_total` | counter | `path` | config values accepted (config-center) |
//! | `zkmesh_config_refused_total` | counter | `path` | config documents refused (config-center) |

use crate::session::SessionState;

pub(crate) fn session_state(connect: &str, state: SessionState, generation: u64) {
    let connect = connect.to_owned();
    metrics::gauge!("zkmesh_session_connected", "connect" => connect.clone()).set(if state.is_connected() {
        1.0
    } else {
        0.0
    });
    metrics::gauge!("zkmesh_session_generation", "connect" => connect.clone()).set(generation as f64);
    metrics::counter!("zkmesh_session_transitions_total", "connect" => connect, "state" => format!("{state:?}"))
        .increment(1);
}

pub(crate) fn ephemerals_recreated(n: usize) {
    metrics::counter!("zkmesh_ephemerals_recreated_total").increment(n as u64);
}

pub(crate) fn watch_event(kind: &'static str) {
    metrics::counter!("zkmesh_watch_events_total", "kind" => kind).increment(1);
}

pub(crate) fn watch_read(kind: &'static str) {
    metrics::counter!("zkmesh_watch_reads_total", "kind" => kind).increment(1);
}

pub(crate) fn providers(service: &str, len: usize, rejected: usize) {
    metrics::gauge!("zkmesh_providers", "service" => service.to_owned()).set(len as f64);
    metrics::gauge!("zkmesh_rejected_nodes", "service" => service.to_owned()).set(rejected as f64);
    metrics::counter!("zkmesh_provider_updates_total", "service" => service.to_owned()).increment(1);
}

pub(crate) fn empty_refused(service: &str) {
    metrics::counter!("zkmesh_empty_refusals_total", "service" => service.to_owned()).increment(1);
}

pub(crate) fn snapshot_loaded(service: &str) {
    metrics::counter!("zkmesh_snapshot_loads_total", "service" => service.to_owned()).increment(1);
}

pub(crate) fn snapshot_written(service: &str, ok: bool) {
    metrics::counter!("zkmesh_snapshot_writes_total", "service" => service.to_owned(), "ok" => if ok { "true" } else { "false" })
        .increment(1);
}

pub(crate) fn ejection(service: &str) {
    metrics::counter!("zkmesh_ejections_total", "service" => service.to_owned()).increment(1);
}

pub(crate) fn ejection_refused(service: &str) {
    metrics::counter!("zkmesh_ejections_refused_total", "service" => service.to_owned()).increment(1);
}

pub(crate) fn probe(service: &str, ok: bool) {
    metrics::counter!("zkmesh_probes_total", "service" => service.to_owned(), "ok" => if ok { "true" } else { "false" })
        .increment(1);
}

pub(crate) fn ejected(service: &str, out: usize) {
    metrics::gauge!("zkmesh_ejected", "service" => service.to_owned()).set(out as f64);
}

pub(crate) fn classifier_panicked(service: &str) {
    metrics::counter!("zkmesh_classifier_panics_total", "service" => service.to_owned()).increment(1);
}

pub(crate) fn protection_tripped(service: &str) {
    metrics::counter!("zkmesh_protection_trips_total", "service" => service.to_owned()).increment(1);
}

pub(crate) fn suspects(service: &str, held: usize) {
    metrics::gauge!("zkmesh_suspects", "service" => service.to_owned()).set(held as f64);
}

pub(crate) fn suspect_dropped(service: &str, why: &'static str) {
    metrics::counter!("zkmesh_suspects_dropped_total", "service" => service.to_owned(), "why" => why)
        .increment(1);
}
