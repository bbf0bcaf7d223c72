//! Traffic rules folded into a provider set: who stays, each one's override factor, and the
//! pickers of the routes a [`RequestContext`] may ask for. Built with the set, never per pick.
//!
//! A set without rules has no routes: its picks take the path they took before rules existed.
//! With tag routing, the set's main picker (what [`ProviderSet::select`] uses) is built over
//! the consumer's default route (untagged providers, or its own tag's) by giving the providers
//! outside it weight 0 in that picker, so a pick without context still costs one table draw.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::provider_set::Picker;
use super::{LoadBalance, Provider, ProviderSet};
use crate::rules::{compile, Compiled, RequestContext, Rules};

/// The rules a subscription builds its sets with, and the consumer they are compiled for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ruling {
    pub(crate) rules: Arc<Rules>,
    /// The consumer's URL parameters (zone, group, tag, ...), what conditions match.
    pub(crate) consumer: Arc<BTreeMap<String, String>>,
}

/// The pickers of a set's routes (indexes into the set's providers).
#[derive(Debug)]
pub(crate) struct Routes {
    /// The pickers of the tagged routes, by tag.
    tagged: BTreeMap<String, RoutePicker>,
    /// What a request with an unknown tag gets: the untagged route, or none (strict).
    unknown: Option<RoutePicker>,
    /// What a request without tag gets (the main picker's route), for requests with a key.
    default: Option<RoutePicker>,
    /// The split's groups for requests with a key: (cumulative share in 1/10000, picker).
    split: Vec<(u32, RoutePicker)>,
}

/// A picker over some of the set's providers.
#[derive(Debug)]
struct RoutePicker {
    members: Box<[usize]>,
    picker: Picker,
}

/// What [`fold`] gives the set builder.
pub(crate) struct Folded {
    /// The providers that stay, in order.
    pub(crate) providers: Vec<Provider>,
    /// All the candidates, when some were dropped (`None`: `providers` are all of them).
    pub(crate) candidates: Option<Vec<Provider>>,
    /// The rules' routes over them (`None` without routes).
    pub(crate) compiled: Option<Compiled>,
}

/// Applies `ruling` to the sorted `candidates`: sets each one's override factor, drops those
/// that are out, and remaps the routes to the providers kept. Without rules everyone stays and
/// the list is moved through, not copied (the set builder puts each factor back to 1 as it
/// weighs the providers, in the same pass).
pub(crate) fn fold(candidates: Vec<Provider>, ruling: &Ruling) -> Folded {
    if ruling.rules.is_empty() {
        return Folded { providers: candidates, candidates: None, compiled: None };
    }
    let urls: Vec<_> = candidates.iter().map(Provider::url).collect();
    let compiled = compile(&ruling.rules, &ruling.consumer, &urls);
    let mut new_index = vec![usize::MAX; candidates.len()];
    let mut providers = Vec::with_capacity(candidates.len());
    for (i, (p, factor)) in candidates.iter().zip(&compiled.factors).enumerate() {
        if let Some(factor) = factor {
            p.set_weight_override(*factor);
            new_index[i] = providers.len();
            providers.push(p.clone());
        }
    }
    let remap = |members: &[usize]| -> Vec<usize> { members.iter().map(|&i| new_index[i]).collect() };
    let mut compiled = compiled;
    compiled.factors = providers.iter().map(|_| Some(1.0)).collect();
    if let Some(tags) = &mut compiled.tags {
        tags.untagged = remap(&tags.untagged);
        for members in tags.tagged.values_mut() {
            *members = remap(members);
        }
    }
    if let Some(groups) = &mut compiled.split {
        for (_, members) in groups.iter_mut() {
            *members = remap(members);
        }
    }
    let routed = compiled.tags.is_some() || compiled.split.is_some();
    let candidates = (providers.len() != candidates.len()).then_some(candidates);
    Folded { providers, candidates, compiled: routed.then_some(compiled) }
}

/// The main picker's weights: the set's, with the providers outside the default route at 0
/// (or, when the route's weights are all 0, its members at 1 and the others at 0). `None`
/// when the main picker uses the set's weights as they are.
pub(crate) fn main_weights(compiled: &Compiled, weights: &[u32]) -> Option<Vec<u32>> {
    let tags = compiled.tags.as_ref()?;
    let route = tags.route(None);
    let mut masked = vec![0u32; weights.len()];
    for &i in route {
        masked[i] = weights[i];
    }
    if masked.iter().all(|&w| w == 0) {
        for &i in route {
            masked[i] = 1;
        }
    }
    Some(masked)
}

impl Routes {
    /// The route pickers of `compiled` over the set's `providers` with their `weights`.
    pub(crate) fn build(
        compiled: &Compiled,
        providers: &[Provider],
        weights: &[u32],
        balance: LoadBalance,
    ) -> Self {
        let route = |members: &[usize]| RoutePicker::new(members, providers, weights, balance);
        let (mut tagged, mut unknown, mut default) = (BTreeMap::new(), None, None);
        if let Some(tags) = &compiled.tags {
            for (tag, members) in &tags.tagged {
                tagged.insert(tag.clone(), route(members));
            }
            unknown = (!tags.strict).then(|| route(&tags.untagged));
            default = Some(route(tags.route(None)));
        }
        // A keyed request without a tag stays in its default route: with tag routing, each
        // group keeps only its members there (the shares of the groups left, renormalized).
        let allowed = compiled.tags.as_ref().map(|t| t.route(None));
        let groups: Vec<(f64, Vec<usize>)> = compiled
            .split
            .iter()
            .flatten()
            .map(|(share, members)| {
                let kept = members.iter().copied().filter(|i| allowed.is_none_or(|a| a.contains(i)));
                (*share, kept.collect::<Vec<usize>>())
            })
            .filter(|(_, members)| !members.is_empty())
            .collect();
        let total: f64 = groups.iter().map(|(share, _)| share).sum();
        let mut split = Vec::new();
        let mut cumulative = 0.0;
        for (share, members) in &groups {
            cumulative += share / total.max(f64::MIN_POSITIVE) * 100.0;
            split.push(((cumulative * 100.0).round() as u32, route(members)));
        }
        Routes { tagged, unknown, default, split }
    }

    /// The providers a request carrying `tag` may go to (`None`: the rules do not route by tag).
    pub(crate) fn tag_members(&self, tag: &str) -> Option<&[usize]> {
        self.default.as_ref()?;
        Some(self.tagged.get(tag).or(self.unknown.as_ref()).map_or(&[], |r| &r.members))
    }

    /// Picks for `context` from `set` (whose routes these are).
    pub(crate) fn select(&self, set: &ProviderSet, context: &RequestContext<'_>) -> Option<usize> {
        if let Some(tag) = context.tag {
            let route = self.tagged.get(tag).or(self.unknown.as_ref())?;
            return route.pick(set, context.key);
        }
        if let (Some(key), false) = (context.key, self.split.is_empty()) {
            let bucket = (crate::balance::stable_hash(key) % 10_000) as u32;
            let group = self.split.iter().find(|(upto, _)| bucket < *upto).or(self.split.last());
            if let Some((_, route)) = group {
                return route.pick(set, Some(key));
            }
        }
        match &self.default {
            Some(route) if context.key.is_some() => route.pick(set, context.key),
            _ => set.select_index(context.key),
        }
    }
}

impl RoutePicker {
    fn new(members: &[usize], providers: &[Provider], weights: &[u32], balance: LoadBalance) -> Self {
        let sub: Vec<Provider> = members.iter().map(|&i| providers[i].clone()).collect();
        let sub_weights: Vec<u32> = members.iter().map(|&i| weights[i]).collect();
        let picker = ProviderSet::picker(sub.iter(), &sub_weights, balance);
        RoutePicker { members: members.into(), picker }
    }

    fn pick(&self, set: &ProviderSet, key: Option<&[u8]>) -> Option<usize> {
        set.pick_route(&self.picker, &self.members, key).map(|i| self.members[i])
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::consumer::outlier::Outliers;
    use crate::consumer::SetParts;
    use crate::url::ServiceUrl;

    fn set(urls: &[&str], rules: &str, consumer: &[(&str, &str)]) -> ProviderSet {
        let outliers = Outliers::new("s", Default::default());
        let providers: Vec<Provider> = urls
            .iter()
            .map(|u| {
                let url = ServiceUrl::parse(u).expect("url");
                let node = url.to_node_name();
                Provider::new(url, node.as_str(), &outliers)
            })
            .collect();
        let parts = SetParts::listed(providers);
        let ruling = Ruling {
            rules: Arc::new(Rules::parse(rules).expect("rules")),
            consumer: Arc::new(consumer.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        };
        ProviderSet::build_ruled(parts, &ruling, LoadBalance::Random, SystemTime::now())
    }

    fn picks(n: usize, mut pick: impl FnMut() -> Option<String>) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            *counts.entry(pick().unwrap_or_else(|| "none".into())).or_default() += 1;
        }
        counts
    }

    #[test]
    fn a_disabled_provider_leaves_the_set_and_comes_back_without_its_rule() {
        let urls = ["http://a:1/s", "http://b:1/s"];
        let s = set(&urls, "[[override]]\naddress = \"a:1\"\ndisabled = true\n", &[]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.candidates().len(), 2);
        assert_eq!(
            picks(1000, || s.select().map(|p| p.address().to_owned())).keys().collect::<Vec<_>>(),
            ["b:1"]
        );
        let weighted = set(&urls, "[[override]]\naddress = \"a:1\"\nweight = 300\n", &[]);
        assert_eq!(weighted.providers()[0].weight(), 300);
        let plain = set(&urls, "", &[]);
        assert_eq!(plain.providers()[0].weight(), 100, "the factor goes back to 1 without the rule");
    }

    #[test]
    fn tags_route_tagged_requests_and_keep_the_others_off_tagged_providers() {
        let s = set(&["http://a:1/s?tag=canary", "http://b:1/s", "http://c:1/s"], "[tags]\n", &[]);
        let plain = picks(3000, || s.select().map(|p| p.address().to_owned()));
        assert!(!plain.contains_key("a:1") && plain.len() == 2, "{plain:?}");
        let canary = RequestContext::new().tag("canary");
        let tagged = picks(1000, || s.select_with(&canary).map(|p| p.address().to_owned()));
        assert_eq!(tagged.keys().collect::<Vec<_>>(), ["a:1"]);
        let blue = RequestContext::new().tag("blue");
        assert!(!picks(1000, || s.select_with(&blue).map(|p| p.address().to_owned())).contains_key("a:1"));
        let strict = set(&["http://a:1/s?tag=canary", "http://b:1/s"], "[tags]\nstrict = true\n", &[]);
        assert!(strict.select_with(&blue).is_none(), "strict: no provider of that tag, no pick");
    }

    #[test]
    fn a_keyed_request_without_a_tag_never_reaches_a_tagged_provider() {
        let urls = ["http://a:1/s?version=1", "http://b:1/s?version=2", "http://c:1/s?version=2&tag=canary"];
        let s = set(&urls, "[tags]\n[split]\nby = \"version\"\nshares = { \"2\" = 50 }\n", &[]);
        for user in 0..500u32 {
            let key = user.to_be_bytes();
            let picked = s.select_with(&RequestContext::new().key(&key)).expect("one");
            assert_ne!(picked.address(), "c:1");
        }
    }

    #[test]
    fn a_split_holds_its_share_and_a_key_stays_in_its_group() {
        let urls = ["http://a:1/s?version=1", "http://b:1/s?version=1", "http://c:1/s?version=2"];
        let s = set(&urls, "[split]\nby = \"version\"\nshares = { \"2\" = 10 }\n", &[]);
        let n = 50_000;
        let counts = picks(n, || s.select().map(|p| p.address().to_owned()));
        let v2 = counts.get("c:1").copied().unwrap_or(0) as f64 / n as f64;
        assert!((v2 - 0.10).abs() < 0.01, "{counts:?}");
        let mut in_v2 = 0;
        for user in 0..2000u32 {
            let key = user.to_be_bytes();
            let context = RequestContext::new().key(&key);
            let first = s.select_with(&context).expect("one").url().version().map(str::to_owned);
            for _ in 0..5 {
                let again = s.select_with(&context).expect("one").url().version().map(str::to_owned);
                assert_eq!(again, first, "a key stays in its group");
            }
            in_v2 += usize::from(first.as_deref() == Some("2"));
        }
        assert!((100..300).contains(&in_v2), "about 10% of the keys in v2: {in_v2}");
    }
}
