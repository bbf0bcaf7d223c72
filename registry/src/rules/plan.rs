//! What rules do to one consumer ([`Rules::shares`]) and to every consumer of a service
//! ([`Rules::check`]): what `zkmesh rules check` prints and what a publish checks first.

use std::collections::BTreeMap;

use super::compile::{compile, override_factor, Compiled};
use super::document::Rules;
use crate::url::ServiceUrl;

/// The default largest share of a service's providers that rules may disable (half).
pub const DEFAULT_MAX_DISABLED_SHARE: f64 = 0.5;

/// One provider as one consumer would use it under some rules (before warm-up and health,
/// which each consumer process learns by itself).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Share {
    /// The provider.
    pub url: ServiceUrl,
    /// Its registered weight.
    pub registered: u32,
    /// Its weight under the rules (0 when out).
    pub weight: u32,
    /// Whether an override disables it.
    pub disabled: bool,
    /// Whether it is out of this consumer's set (disabled, or routed away by a condition).
    pub out: bool,
    /// Its share of the consumer's requests that carry no tag (or the consumer's own tag), 0 to 1.
    pub share: f64,
}

/// What rules would do to a service's consumers, from [`Rules::check`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RulesCheck {
    /// Providers registered.
    pub providers: usize,
    /// Providers an override disables.
    pub disabled: usize,
    /// Consumers that have providers without the rules and none with them.
    pub stranded: Vec<ServiceUrl>,
}

impl RulesCheck {
    /// Why the rules must not be published (stranded consumers, named; or more than
    /// `max_disabled_share` of the providers disabled), or `None`.
    pub fn refusal(&self, max_disabled_share: f64) -> Option<String> {
        let mut reasons = Vec::new();
        if !self.stranded.is_empty() {
            let names: Vec<String> = self.stranded.iter().map(describe_consumer).collect();
            reasons.push(format!(
                "{} consumer(s) would have no provider: {}",
                self.stranded.len(),
                names.join(", ")
            ));
        }
        if self.providers > 0 && self.disabled as f64 > max_disabled_share * self.providers as f64 {
            reasons.push(format!(
                "{} of {} providers disabled, over the limit of {:.0}%",
                self.disabled,
                self.providers,
                max_disabled_share * 100.0
            ));
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

/// `host (zone=az1, tag=canary)` for an error message.
fn describe_consumer(url: &ServiceUrl) -> String {
    let keys = ["zone", "group", "version", super::TAG_PARAM, "pid"];
    let params: Vec<String> = keys.iter().filter_map(|k| url.param(k).map(|v| format!("{k}={v}"))).collect();
    format!("{} ({})", url.host(), params.join(", "))
}

impl Rules {
    /// The providers as a consumer with URL parameters `consumer` (zone, group, tag, ...)
    /// would use them under these rules, in the order given.
    pub fn shares(&self, consumer: &BTreeMap<String, String>, providers: &[ServiceUrl]) -> Vec<Share> {
        let refs: Vec<&ServiceUrl> = providers.iter().collect();
        let compiled = compile(self, consumer, &refs);
        let weights: Vec<u32> = refs
            .iter()
            .zip(&compiled.factors)
            .map(|(p, f)| f.map_or(0, |f| crate::consumer::scale(p.weight(), f)))
            .collect();
        let route = default_route(&compiled);
        let total: u64 = route.iter().map(|&i| u64::from(weights[i])).sum();
        let disabled = |p: &ServiceUrl| override_factor(self, p).is_none();
        providers
            .iter()
            .enumerate()
            .map(|(i, p)| Share {
                url: p.clone(),
                registered: p.weight(),
                weight: weights[i],
                disabled: disabled(p),
                out: compiled.factors[i].is_none(),
                share: if total > 0 && route.contains(&i) { weights[i] as f64 / total as f64 } else { 0.0 },
            })
            .collect()
    }

    /// What these rules would do to the `consumers` (their registered URLs) of a service with
    /// `providers`: which are left with no provider, and how many providers are disabled.
    pub fn check(&self, providers: &[ServiceUrl], consumers: &[ServiceUrl]) -> RulesCheck {
        let none = Rules::default();
        let refs: Vec<&ServiceUrl> = providers.iter().collect();
        let has_some = |rules: &Rules, consumer: &ServiceUrl| {
            !default_route(&compile(rules, consumer.params(), &refs)).is_empty()
        };
        let stranded =
            consumers.iter().filter(|c| has_some(&none, c) && !has_some(self, c)).cloned().collect();
        let disabled = self.shares(&BTreeMap::new(), providers).iter().filter(|s| s.disabled).count();
        RulesCheck { providers: providers.len(), disabled, stranded }
    }
}

/// The providers a request without a tag goes to.
fn default_route(compiled: &Compiled) -> Vec<usize> {
    match &compiled.tags {
        Some(tags) => tags.route(None).to_vec(),
        None => (0..compiled.factors.len()).filter(|&i| compiled.factors[i].is_some()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<ServiceUrl> {
        list.iter().map(|u| ServiceUrl::parse(u).expect("url")).collect()
    }

    #[test]
    fn shares_follow_overrides_and_routes() {
        let providers =
            urls(&["http://a:1/s?weight=100", "http://b:1/s?weight=100", "http://c:1/s?tag=canary"]);
        let rules = Rules::parse("[[override]]\naddress = \"b:1\"\nfactor = 3.0\n[tags]\n").expect("rules");
        let shares = rules.shares(&BTreeMap::new(), &providers);
        let got: Vec<f64> = shares.iter().map(|s| s.share).collect();
        assert_eq!(got, vec![0.25, 0.75, 0.0]);
        let canary = BTreeMap::from([("tag".to_owned(), "canary".to_owned())]);
        let got: Vec<f64> = rules.shares(&canary, &providers).iter().map(|s| s.share).collect();
        assert_eq!(got, vec![0.0, 0.0, 1.0], "a consumer tagged canary");
    }

    #[test]
    fn check_names_the_consumers_a_rule_strands() {
        let providers = urls(&["http://a:1/s?zone=az1", "http://b:1/s?zone=az2"]);
        let consumers = urls(&["consumer://h1/s?zone=az1", "consumer://h2/s?zone=az2"]);
        let rules = Rules::parse(
            "[[override]]\naddress = \"a:1\"\ndisabled = true\n\
             [[condition]]\nconsumer = { zone = \"az1\" }\nprovider = { zone = \"az1\" }\nstrict = true\n",
        )
        .expect("rules");
        let check = rules.check(&providers, &consumers);
        assert_eq!(check.stranded, consumers[..1].to_vec());
        assert_eq!(check.disabled, 1);
        let refusal = check.refusal(0.5).expect("refused");
        assert!(refusal.contains("h1 (zone=az1)") && !refusal.contains("h2"), "{refusal}");
        let fine = Rules::parse("[[override]]\naddress = \"a:1\"\ndisabled = true\n").expect("rules");
        assert_eq!(fine.check(&providers, &consumers).refusal(0.5), None, "half may go");
        let check = fine.check(&providers, &consumers);
        assert!(check.refusal(0.4).expect("over").contains("1 of 2 providers disabled"));
    }
}
