//! Compiling [`Rules`] for one consumer and one list of providers: which providers stay, the
//! factor on each one's weight, and the routes between them. Done when a provider set is built,
//! never per pick.

use std::collections::BTreeMap;

use super::document::{matches_all, Action, Rules};
use crate::url::ServiceUrl;

/// The URL parameter a provider's tag is read from (and a consumer's own tag).
pub const TAG_PARAM: &str = "tag";

/// Rules compiled for one consumer over one list of providers (indexes into that list).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Compiled {
    /// Per provider: `None` when it is out (disabled, or routed away by a condition), else
    /// the factor on its registered weight (overrides and split together).
    pub(crate) factors: Vec<Option<f64>>,
    /// Tag routing, when the rules have it.
    pub(crate) tags: Option<TagRoutes>,
    /// The split's groups, for requests with a key: (percent, members).
    pub(crate) split: Option<Vec<(f64, Vec<usize>)>>,
}

/// Tag routing over the providers left in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TagRoutes {
    /// The providers of each tag.
    pub(crate) tagged: BTreeMap<String, Vec<usize>>,
    /// The providers without a tag (what a request without a tag, or with an unknown one when
    /// not strict, gets; all of them when no provider is untagged).
    pub(crate) untagged: Vec<usize>,
    pub(crate) strict: bool,
    /// The consumer's own tag (its URL's `tag`): what its requests without a tag carry.
    pub(crate) own: Option<String>,
}

impl TagRoutes {
    /// The providers a request carrying `tag` may go to (empty: none, strict routing).
    pub(crate) fn route(&self, tag: Option<&str>) -> &[usize] {
        match tag.or(self.own.as_deref()) {
            None => &self.untagged,
            Some(tag) => match self.tagged.get(tag) {
                Some(members) => members,
                None if self.strict => &[],
                None => &self.untagged,
            },
        }
    }
}

/// Compiles `rules` for a consumer with URL parameters `consumer` over `providers`.
pub(crate) fn compile(
    rules: &Rules,
    consumer: &BTreeMap<String, String>,
    providers: &[&ServiceUrl],
) -> Compiled {
    let mut factors: Vec<Option<f64>> = providers.iter().map(|p| override_factor(rules, p)).collect();
    for condition in rules.conditions.iter().filter(|c| matches_all(&c.consumer, consumer)) {
        let keep: Vec<bool> =
            providers.iter().map(|p| matches_all(&condition.provider, p.params())).collect();
        let any = factors.iter().zip(&keep).any(|(f, k)| f.is_some() && *k);
        if any || condition.strict {
            for (f, k) in factors.iter_mut().zip(keep) {
                if !k {
                    *f = None;
                }
            }
        }
    }
    let split = rules.split.as_ref().map(|split| {
        let groups = split_groups(split, providers, &factors);
        scale_groups(&groups, providers, &mut factors);
        groups
    });
    let tags = rules.tags.as_ref().map(|t| tag_routes(t.strict, consumer, providers, &factors));
    Compiled { factors, tags, split }
}

/// The factor the overrides give `p` (`None`: disabled); the last matching override wins.
pub(super) fn override_factor(rules: &Rules, p: &ServiceUrl) -> Option<f64> {
    let last = rules.overrides.iter().rev().find(|o| o.applies_to(p));
    match last.map(|o| o.action) {
        None => Some(1.0),
        Some(Action::Disable) => None,
        Some(Action::Factor(f)) => Some(f),
        Some(Action::Weight(w)) if p.weight() == 0 => Some(if w == 0 { 0.0 } else { 1.0 }),
        Some(Action::Weight(w)) => Some(f64::from(w) / f64::from(p.weight())),
    }
}

/// The split's groups among the providers left in: one per listed value (in order), then the
/// rest; each with its percentage. A group without provider gives its share to the others in
/// proportion.
fn split_groups(
    split: &super::Split,
    providers: &[&ServiceUrl],
    factors: &[Option<f64>],
) -> Vec<(f64, Vec<usize>)> {
    let members = |value: Option<&str>| -> Vec<usize> {
        (0..providers.len())
            .filter(|&i| factors[i].is_some())
            .filter(|&i| match (providers[i].param(&split.by), value) {
                (found, Some(v)) => found == Some(v),
                (found, None) => found.is_none_or(|f| !split.shares.contains_key(f)),
            })
            .collect()
    };
    let mut groups: Vec<(f64, Vec<usize>)> =
        split.shares.iter().map(|(value, share)| (*share, members(Some(value)))).collect();
    let listed: f64 = split.shares.values().sum();
    groups.push(((100.0 - listed).max(0.0), members(None)));
    groups.retain(|(_, m)| !m.is_empty());
    let total: f64 = groups.iter().map(|(s, _)| s).sum();
    for (share, _) in &mut groups {
        *share = if total > 0.0 { *share * 100.0 / total } else { 0.0 };
    }
    groups
}

/// Scales the factors so that each group's total weight is its share of the whole.
fn scale_groups(groups: &[(f64, Vec<usize>)], providers: &[&ServiceUrl], factors: &mut [Option<f64>]) {
    let weight =
        |i: usize, factors: &[Option<f64>]| f64::from(providers[i].weight()) * factors[i].unwrap_or(0.0);
    let all: f64 = groups.iter().flat_map(|(_, m)| m).map(|&i| weight(i, factors)).sum();
    for (share, members) in groups {
        let group: f64 = members.iter().map(|&i| weight(i, factors)).sum();
        let scale = if group > 0.0 { share / 100.0 * all / group } else { 0.0 };
        for &i in members {
            if let Some(f) = &mut factors[i] {
                *f = if scale > 0.0 { *f * scale } else { 0.0 };
            }
        }
    }
}

fn tag_routes(
    strict: bool,
    consumer: &BTreeMap<String, String>,
    providers: &[&ServiceUrl],
    factors: &[Option<f64>],
) -> TagRoutes {
    let mut tagged: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut untagged = Vec::new();
    for (i, p) in providers.iter().enumerate().filter(|(i, _)| factors[*i].is_some()) {
        match p.param(TAG_PARAM).filter(|t| !t.is_empty()) {
            Some(tag) => tagged.entry(tag.to_owned()).or_default().push(i),
            None => untagged.push(i),
        }
    }
    if untagged.is_empty() {
        untagged = (0..providers.len()).filter(|&i| factors[i].is_some()).collect();
    }
    let own = consumer.get(TAG_PARAM).filter(|t| !t.is_empty()).cloned();
    TagRoutes { tagged, untagged, strict, own }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<ServiceUrl> {
        list.iter().map(|u| ServiceUrl::parse(u).expect("url")).collect()
    }

    fn compiled(rules: &str, consumer: &[(&str, &str)], providers: &[ServiceUrl]) -> Compiled {
        let rules = Rules::parse(rules).expect("rules");
        let consumer = consumer.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        compile(&rules, &consumer, &providers.iter().collect::<Vec<_>>())
    }

    #[test]
    fn overrides_disable_reweigh_and_the_last_one_wins() {
        let p = urls(&["http://a:1/s?weight=200", "http://b:1/s?version=2", "http://c:1/s?version=2"]);
        let c = compiled(
            "[[override]]\naddress = \"a:1\"\nweight = 50\n[[override]]\nmatch = { version = \"2\" }\nfactor = 3.0\n\
             [[override]]\naddress = \"c:1\"\ndisabled = true\n",
            &[],
            &p,
        );
        assert_eq!(c.factors, vec![Some(0.25), Some(3.0), None]);
    }

    #[test]
    fn a_condition_narrows_the_consumers_it_names_unless_it_would_leave_none() {
        let p = urls(&["http://a:1/s?zone=az1", "http://b:1/s?zone=az2"]);
        let rule = "[[condition]]\nconsumer = { zone = \"az1\" }\nprovider = { zone = \"az1\" }\n";
        assert_eq!(compiled(rule, &[("zone", "az1")], &p).factors, vec![Some(1.0), None]);
        assert_eq!(compiled(rule, &[("zone", "az2")], &p).factors, vec![Some(1.0), Some(1.0)], "not for az2");
        let nowhere = "[[condition]]\nprovider = { zone = \"az9\" }\n";
        assert_eq!(compiled(nowhere, &[], &p).factors, vec![Some(1.0), Some(1.0)], "ignored: none match");
        let strict = format!("{nowhere}strict = true\n");
        assert_eq!(compiled(&strict, &[], &p).factors, vec![None, None], "strict leaves none");
    }

    #[test]
    fn a_split_gives_each_group_its_share_of_the_weight() {
        let p =
            urls(&["http://a:1/s?version=1", "http://b:1/s?version=1", "http://c:1/s?version=2&weight=50"]);
        let c = compiled("[split]\nby = \"version\"\nshares = { \"2\" = 10 }\n", &[], &p);
        let weights: Vec<f64> =
            c.factors.iter().zip(&p).map(|(f, u)| f.expect("in") * f64::from(u.weight())).collect();
        let total: f64 = weights.iter().sum();
        assert!((weights[2] / total - 0.10).abs() < 1e-9, "{weights:?}");
        assert!((weights[0] - weights[1]).abs() < 1e-9, "weights apply within a group");
        let groups = c.split.expect("groups");
        assert_eq!(groups, vec![(10.0, vec![2]), (90.0, vec![0, 1])]);
        let only_v2 =
            compiled("[split]\nby = \"version\"\nshares = { \"2\" = 10, \"3\" = 30 }\n", &[], &p[2..]);
        assert_eq!(
            only_v2.split.expect("groups"),
            vec![(100.0, vec![0])],
            "empty groups give their share away"
        );
    }

    #[test]
    fn tag_routes_fall_back_to_untagged_unless_strict() {
        let p = urls(&["http://a:1/s?tag=canary", "http://b:1/s", "http://c:1/s"]);
        let c = compiled("[tags]\n", &[], &p);
        let tags = c.tags.expect("tags");
        assert_eq!(tags.route(Some("canary")), [0]);
        assert_eq!(tags.route(None), [1, 2]);
        assert_eq!(tags.route(Some("blue")), [1, 2]);
        let strict = compiled("[tags]\nstrict = true\n", &[("tag", "blue")], &p).tags.expect("tags");
        assert!(strict.route(Some("blue")).is_empty());
        assert!(strict.route(None).is_empty(), "a consumer's own tag is its default");
        assert_eq!(strict.route(Some("canary")), [0]);
    }
}
