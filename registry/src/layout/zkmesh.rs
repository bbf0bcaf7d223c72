//! zkmesh's own layout: `<root>/<service>/providers/<URL node name>`, ephemeral, no data; the
//! node name is the whole provider URL, so one listing is the whole provider list.

use crate::error::{Error, Result};
use crate::session::join;
use crate::url::ServiceUrl;

/// `<root>/<service>/providers/<node name>` (Dubbo's layout has the same shape).
pub(super) fn provider_path(root: &str, url: &ServiceUrl) -> String {
    join(&join(&join(root, url.service()), "providers"), &url.to_node_name())
}

/// A provider node name of `service`, decoded.
pub(crate) fn decode(name: &str, service: &str) -> Result<ServiceUrl> {
    let url = ServiceUrl::from_node_name(name)?;
    if url.service() != service {
        return Err(Error::InvalidUrl {
            url: url.to_string(),
            reason: format!("registered under service {service:?} but names service {:?}", url.service()),
        });
    }
    Ok(url)
}
