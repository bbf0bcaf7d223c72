//! The run's sizes and timings, and the names of its services, documents and addresses.

use std::time::Duration;

use registry::ServiceUrl;

pub(super) const SERVICES: usize = 2;
pub(super) const ADDRESSES: usize = 12;
pub(super) const PROVIDERS: usize = 3;
pub(super) const CONSUMERS: usize = 2;
pub(super) const DOCS: usize = 2;
/// Providers per service at the start (and again before the end is measured).
pub(super) const START_PER_SERVICE: usize = 3;
pub(super) const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(3);
/// The longest a settle may take before the check counts as failed.
pub(super) const SETTLE_MAX: Duration = Duration::from_secs(20);
/// Injected expiries come every 1.5 to 4 s.
pub(super) const EXPIRE_EVERY_MS: (u64, u64) = (1_500, 4_000);
pub(super) const NAMESPACE: &str = "soak";

pub(super) fn service(s: usize) -> String {
    format!("soak-svc-{s}")
}

pub(super) fn doc_name(d: usize) -> String {
    format!("cfg-{d}")
}

pub(super) fn address_of(s: usize, a: usize) -> String {
    format!("10.9.{s}.{a}:8080")
}

pub(super) fn url_of(s: usize, a: usize) -> Result<ServiceUrl, String> {
    let text = format!("http://{}/{}", address_of(s, a), service(s));
    ServiceUrl::parse(&text).map_err(|e| format!("{text}: {e}"))
}
