//! Which providers a consumer wants: group, version and zone preference.

use crate::url::ServiceUrl;

/// A consumer's provider filter.
///
/// - **group**: unset or `*` accepts any group; otherwise a comma-separated list of groups, one
///   of which the provider's `group` must equal (a provider without a group matches only an
///   unset filter or `*`).
/// - **version**: unset or `*` accepts any version; `1.*` accepts versions starting with `1.`;
///   otherwise the provider's `version` must equal it.
/// - **zone**: a preference, not a filter: when at least [`zone_minimum`](Filter::zone_minimum)
///   matching providers in this zone are healthy (a weight above 0, not ejected, not a suspect
///   of the [`ProtectionThreshold`](super::ProtectionThreshold)), only the zone's providers are
///   used; otherwise all matching providers are, so that a zone down to its last instance does
///   not take the zone's whole traffic. The set is rebuilt when a provider is ejected or comes
///   back, so the preference follows health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    group: Option<String>,
    version: Option<String>,
    zone: Option<String>,
    zone_minimum: Option<usize>,
}

/// How many healthy providers a preferred zone needs before traffic is narrowed to it, unless
/// [`Filter::zone_minimum`] says otherwise: 2, so that one instance failing in the zone never
/// leaves the zone's consumers without a second one to go to.
pub const DEFAULT_ZONE_MINIMUM: usize = 2;

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

    /// How many healthy providers the preferred zone needs before traffic is narrowed to it (0
    /// and 1 both mean one). Default: [`DEFAULT_ZONE_MINIMUM`] (2).
    pub fn zone_minimum(mut self, n: usize) -> Self {
        self.zone_minimum = Some(n);
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

    /// Whether a zone is preferred (then [`Filter::prefer`] may narrow a list).
    pub(crate) fn prefers_zone(&self) -> bool {
        self.zone.is_some()
    }

    /// The items that pass the group and version filters, in order.
    pub(crate) fn matching<T>(&self, items: Vec<T>, url: impl Fn(&T) -> &ServiceUrl) -> Vec<T> {
        if self.group.is_none() && self.version.is_none() {
            return items; // no pass over a big service's providers for a filter of nothing
        }
        items.into_iter().filter(|i| self.matches(url(i))).collect()
    }

    /// The zone preference on `matching`: the preferred zone's items when at least the zone
    /// minimum of them are `healthy`, else all of them; order kept.
    pub(crate) fn prefer<T>(
        &self,
        matching: Vec<T>,
        url: impl Fn(&T) -> &ServiceUrl,
        healthy: impl Fn(&T) -> bool,
    ) -> Vec<T> {
        let Some(zone) = self.zone.as_deref() else { return matching };
        let minimum = self.zone_minimum.unwrap_or(DEFAULT_ZONE_MINIMUM).max(1);
        let in_zone = |i: &T| url(i).zone() == Some(zone);
        if matching.iter().filter(|i| in_zone(i) && healthy(i)).count() < minimum {
            return matching;
        }
        matching.into_iter().filter(in_zone).collect()
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
        let f = |f: Filter| hosts(&f.matching(all.clone(), |u| u)).join(",");
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
    fn zone_is_a_preference_that_needs_a_minimum_of_healthy_providers() {
        let all = urls(&["http://a:1/s?zone=east", "http://b:1/s?zone=west", "http://c:1/s?zone=east"]);
        let prefer = |f: Filter, healthy: &dyn Fn(&ServiceUrl) -> bool| {
            hosts(&f.prefer(all.clone(), |u| u, |u| healthy(u))).join(",")
        };
        let everyone = |_: &ServiceUrl| true;
        assert_eq!(prefer(Filter::any().prefer_zone("east"), &everyone), "a,c");
        assert_eq!(prefer(Filter::any().prefer_zone("north"), &everyone), "a,b,c");
        assert_eq!(prefer(Filter::any().prefer_zone("west"), &everyone), "a,b,c", "1 is below the default 2");
        assert_eq!(prefer(Filter::any().prefer_zone("west").zone_minimum(1), &everyone), "b");
        assert_eq!(prefer(Filter::any().prefer_zone("west").zone_minimum(0), &everyone), "b", "0 means 1");
        let a_down = |u: &ServiceUrl| u.host() != "a";
        assert_eq!(prefer(Filter::any().prefer_zone("east"), &a_down), "a,b,c", "one healthy in east");
        assert_eq!(prefer(Filter::any().prefer_zone("east").zone_minimum(1), &a_down), "a,c");
        assert_eq!(prefer(Filter::any().prefer_zone("east").zone_minimum(3), &everyone), "a,b,c");
        assert_eq!(prefer(Filter::any(), &everyone), "a,b,c", "no preference");
    }
}
