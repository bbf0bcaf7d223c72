//! [`Layout`] and [`Source`]: which layout a root is written in.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::session::join;
use crate::url::ServiceUrl;

/// How the services under a root are written in ZooKeeper (see the README's layout section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Layout {
    /// zkmesh's own: `<root>/<service>/providers/<URL node name>` (ephemeral, no data) and
    /// `<root>/<service>/consumers/...`. The default; default root `/services`.
    #[default]
    Zkmesh,
    /// Apache Dubbo's interface-level registry: `<root>/<interface>/providers/<URL node name>`,
    /// `consumers` (`category=consumers&side=consumer`), `configurators` (`override://` URLs
    /// applied as weight overrides) and `routers`. Default root `/dubbo`.
    Dubbo,
    /// Apache Curator x-discovery: `<root>/<name>/<instance id>`, data = Curator's JSON
    /// `ServiceInstance` (as Spring Cloud Zookeeper and Dubbo 3 application-level discovery
    /// write it). No consumer nodes. Default root `/services`.
    Curator,
}

impl Layout {
    /// Every layout, in the order listings show them.
    pub const ALL: [Layout; 3] = [Layout::Zkmesh, Layout::Dubbo, Layout::Curator];

    /// The layout's name: `zkmesh`, `dubbo`, `curator`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Zkmesh => "zkmesh",
            Layout::Dubbo => "dubbo",
            Layout::Curator => "curator",
        }
    }

    /// The root the layout's own systems use by default: `/services` (zkmesh, Curator as
    /// Spring Cloud Zookeeper configures it) or `/dubbo`.
    pub fn default_root(self) -> &'static str {
        match self {
            Layout::Zkmesh | Layout::Curator => crate::registry::DEFAULT_ROOT,
            Layout::Dubbo => "/dubbo",
        }
    }

    /// Whether consumers register nodes in this layout (Curator has none).
    pub fn has_consumers(self) -> bool {
        !matches!(self, Layout::Curator)
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Layout::ALL.into_iter().find(|l| l.name() == s).ok_or_else(|| Error::InvalidArgument {
            what: format!("layout {s:?}"),
            reason: "expected zkmesh, dubbo or curator".into(),
        })
    }
}

/// Where a subscription reads a service: a layout under a root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// How the root is written.
    pub layout: Layout,
    /// The root (`/services`, `/dubbo`, ...), relative to the session's chroot.
    pub root: String,
}

impl Source {
    /// `layout` under `root`.
    ///
    /// # Errors
    /// [`Error::InvalidPath`](crate::Error) when `root` is not an absolute ZooKeeper path.
    pub fn new(layout: Layout, root: &str) -> Result<Self> {
        crate::session::validate_path(root)?;
        Ok(Source { layout, root: root.to_owned() })
    }

    /// The directory whose children a subscription follows: `<root>/<service>/providers`, or
    /// `<root>/<service>` for Curator.
    pub(crate) fn members_path(&self, service: &str) -> String {
        let service_path = join(&self.root, service);
        match self.layout {
            Layout::Zkmesh | Layout::Dubbo => join(&service_path, "providers"),
            Layout::Curator => service_path,
        }
    }
}

/// The path and data of a provider registration of `url` under `root` in `layout`, with the
/// URL as registered (parameters the layout adds included).
pub(crate) fn provider_node(
    layout: Layout,
    root: &str,
    url: &ServiceUrl,
) -> Result<(String, Vec<u8>, ServiceUrl)> {
    match layout {
        Layout::Zkmesh => Ok((super::zkmesh::provider_path(root, url), Vec::new(), url.clone())),
        Layout::Dubbo => {
            let url = super::dubbo::provider_url(url)?;
            Ok((super::zkmesh::provider_path(root, &url), Vec::new(), url))
        }
        Layout::Curator => {
            let instance = super::CuratorInstance::from_url(url);
            let path = join(&join(root, url.service()), &instance.id);
            let url = url.clone().with_param("id", &instance.id)?;
            Ok((path, instance.to_json(), url))
        }
    }
}

/// A provider node name of `service` in `layout`, decoded (a Curator instance is read, not
/// decoded from its name: the names given here are those of a disk snapshot, URL node names).
pub(crate) fn decode_node(layout: Layout, name: &str, service: &str) -> Result<ServiceUrl> {
    match layout {
        Layout::Zkmesh | Layout::Curator => super::zkmesh::decode(name, service),
        Layout::Dubbo => super::dubbo::decode(name, service),
    }
}

/// The path of a consumer node of `url` under `root` in `layout` (`None`: the layout has none).
pub(crate) fn consumer_registration(layout: Layout, root: &str, url: &ServiceUrl) -> Option<String> {
    let consumers = join(&join(root, url.service()), "consumers");
    match layout {
        Layout::Zkmesh | Layout::Dubbo => Some(join(&consumers, &url.to_node_name())),
        Layout::Curator => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_by_name_and_refuse_anything_else() {
        for layout in Layout::ALL {
            assert_eq!(layout.name().parse::<Layout>().expect("parse"), layout);
        }
        let err = "Curator".parse::<Layout>().expect_err("case matters");
        assert!(err.to_string().contains("zkmesh, dubbo or curator"), "{err}");
    }

    #[test]
    fn curator_members_are_the_service_directory_itself() {
        let curator = Source::new(Layout::Curator, "/services").expect("source");
        let dubbo = Source::new(Layout::Dubbo, "/dubbo").expect("source");
        assert_eq!(curator.members_path("springapp"), "/services/springapp");
        assert_eq!(dubbo.members_path("com.foo.Bar"), "/dubbo/com.foo.Bar/providers");
        assert!(Source::new(Layout::Zkmesh, "services").is_err());
    }
}
