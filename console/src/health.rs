//! The consumers' ejections of one service ([`registry::Ejections`]: the health nodes
//! `<root>/<service>/health/<instance>` each consumer publishes), read so that a provider
//! shows "ejected by K of N consumers".

pub(crate) use registry::Ejections;

use crate::failure;
use crate::reply::ApiError;

/// Reads the health nodes under `service_path` (none: no ejections).
pub(crate) async fn read(
    client: &zookeeper_client::Client,
    service_path: &str,
) -> Result<Ejections, ApiError> {
    Ejections::read(client, service_path).await.map_err(failure::registry)
}
