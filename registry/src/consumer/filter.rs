//! Which providers a consumer wants: group, version and zone preference.

use crate::url::ServiceUrl;

/// A consumer's provider filter.
///
/// - **group**: unset or `*` accepts any group; otherwise a comma-separated list of groups, one
///   of which the provider's `group` must equal (a provider without a group matches only an
///   unset filter or `*`).
/// - **version**: unset or `*` accepts any version; `1.*` accepts versions starting with `1.`;
///   otherwise the provider's `version` must equal it.
/// - **zone**: a preference, not a filter: when some matching providers are in this zone, only
///   they are used; when none are, all matching providers are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    group: Option<String>,
    version: Option<String>,
    zone: Option<String>,
}

impl Filter {
    /// Accepts every provider. Same as `Filter::default()`.
    pub fn any() -> Self {
        Self::default()
    }

    /// Only providers of these comma-separated groups (`*`: any). Default: any.
    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.to_owned());
        self
    }

    /// Only providers of this version (`*`: any, `1.*`: prefix). Default: any.
    pub fn version(mut self, version: &str) -> Self {
        self.version = Some(version.to_owned());
        self
    }

    /// Prefer providers in this zone. Default: no preference.
    pub fn prefer_zone(mut self, zone: &str) -> Self {
        self.zone = Some(zone.to_owned());
        self
    }

    /// Whether `url` passes the group and version filters.
    pub fn matches(&self, url: &ServiceUrl) -> bool {
        let group_ok = match self.group.as_deref() {
            None | Some("*") => true,
            Some(groups) => url.group().is_some_and(|g| groups.split(',').any(|want| want.trim() == g)),
        };
        let version_ok = match self.version.as_deref() {
            None | Some("*") => true,
            Some(v) => match v.strip_suffix('*') {
                Some(prefix) => url.version().is_some_and(|have| have.starts_with(prefix)),
                None => url.version() == Some(v),
            },
        };
        group_ok && version_ok
    }

    /// Applies the filters and the zone preference to `items`, keeping their order.
    pub(crate) fn apply<T>(&self, items: Vec<T>, url: impl Fn(&T) -> &ServiceUrl) -> Vec<T> {
        let matching: Vec<T> = items.into_iter().filter(|i| self.matches(url(i))).collect();
        match self.zone.as_deref() {
            Some(zone) if matching.iter().any(|i| url(i).zone() == Some(zone)) => {
                matching.into_iter().filter(|i| url(i).zone() == Some(zone)).collect()
            }
            _ => matching,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<ServiceUrl> {
        list.iter().map(|u| ServiceUrl::parse(u).expect("url")).collect()
    }

    fn hosts(v: &[ServiceUrl]) -> Vec<&str> {
        v.iter().map(|u| u.host()).collect()
    }

    #[test]
    fn group_and_version() {
        let all = urls(&[
            "http://a:1/s?group=g1&version=1.2",
            "http://b:1/s?group=g2&version=1.3",
            "http://c:1/s?version=2.0",
        ]);
        let f = |f: Filter| hosts(&f.apply(all.clone(), |u| u)).join(",");
        assert_eq!(f(Filter::any()), "a,b,c");
        assert_eq!(f(Filter::any().group("g1")), "a");
        assert_eq!(f(Filter::any().group("g1, g2")), "a,b");
        assert_eq!(f(Filter::any().group("*")), "a,b,c");
        assert_eq!(f(Filter::any().version("1.*")), "a,b");
        assert_eq!(f(Filter::any().version("2.0")), "c");
        assert_eq!(f(Filter::any().version("2")), "");
        assert_eq!(f(Filter::any().group("g2").version("1.3")), "b");
    }

    #[test]
    fn zone_is_a_preference() {
        let all = urls(&["http://a:1/s?zone=east", "http://b:1/s?zone=west", "http://c:1/s?zone=east"]);
        assert_eq!(hosts(&Filter::any().prefer_zone("east").apply(all.clone(), |u| u)), ["a", "c"]);
        assert_eq!(hosts(&Filter::any().prefer_zone("north").apply(all.clone(), |u| u)), ["a", "b", "c"]);
    }
}
