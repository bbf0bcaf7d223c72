use super::*;
use crate::consumer::outlier::state;
use crate::consumer::outlier::Outliers;
use std::time::{Duration, UNIX_EPOCH};

fn provider(url: &str) -> Provider {
    let url = ServiceUrl::parse(url).expect("url");
    let node = url.to_node_name();
    Provider::new(url, node.as_str(), &Outliers::new("s", Default::default()))
}

fn built(providers: Vec<Provider>, balance: LoadBalance) -> ProviderSet {
    let parts = SetParts::listed(providers);
    ProviderSet::build(parts, balance, SystemTime::now())
}

fn set(urls: &[&str], balance: LoadBalance, now: SystemTime) -> ProviderSet {
    let providers: Vec<_> = urls.iter().map(|u| provider(u)).collect();
    ProviderSet::build(SetParts::listed(providers), balance, now)
}

#[test]
fn an_ejected_provider_is_never_picked_by_any_balancer() {
    let urls = ["http://a:1/s", "http://b:1/s", "http://c:1/s"];
    let providers: Vec<_> = urls.iter().map(|u| provider(u)).collect();
    providers[1].health_cell().reset(state::EJECTED);
    for balance in [
        LoadBalance::Random,
        LoadBalance::RoundRobin,
        LoadBalance::LeastRequests,
        LoadBalance::ConsistentHash,
    ] {
        let s = built(providers.clone(), balance);
        assert_eq!(s.providers()[1].weight(), 0);
        for key in 0..3000u32 {
            assert_ne!(s.select().expect("one").address(), "b:1", "{balance:?}");
            assert_ne!(s.select_by_key(&key.to_be_bytes()).expect("one").address(), "b:1", "{balance:?}");
        }
    }
}

#[test]
fn a_probe_goes_to_one_pick_whoever_picks() {
    let providers: Vec<_> = ["http://a:1/s", "http://b:1/s"].iter().map(|u| provider(u)).collect();
    providers[0].health_cell().reset(state::PROBING);
    for balance in [LoadBalance::Random, LoadBalance::RoundRobin, LoadBalance::ConsistentHash] {
        providers[0].health_cell().reset(state::PROBING);
        let s = built(providers.clone(), balance);
        assert!(s.is_probing());
        let picks: Vec<String> = (0..1000).map(|_| s.select().expect("one").address().to_owned()).collect();
        assert_eq!(picks[0], "a:1", "{balance:?}: the first pick is the probe");
        assert!(picks[1..].iter().all(|a| a == "b:1"), "{balance:?}: one probe only");
    }
    providers[0].health_cell().reset(state::HEALTHY);
    assert!(!built(providers, LoadBalance::Random).is_probing(), "back on the fast path");
}

#[test]
fn zero_and_huge_weights() {
    let max = crate::url::MAX_WEIGHT;
    let urls = [
        format!("http://a:1/s?weight={max}"),
        "http://b:1/s?weight=1".into(),
        "http://c:1/s?weight=0".into(),
    ];
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let s = set(&urls, LoadBalance::Random, SystemTime::now());
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for _ in 0..100_000 {
        *counts.entry(s.select().expect("one").address().to_owned()).or_default() += 1;
    }
    assert_eq!(counts.get("c:1"), None, "weight 0 is never picked");
    assert!(counts.get("b:1").copied().unwrap_or(0) < 20, "{counts:?}");
    let zeros =
        set(&["http://a:1/s?weight=0", "http://b:1/s?weight=0"], LoadBalance::Random, SystemTime::now());
    let a = (0..10_000).filter(|_| zeros.select().expect("one").address() == "a:1").count();
    assert!((4_000..6_000).contains(&a), "all zero: uniform ({a})");
}

#[test]
fn weights_drive_every_balancer() {
    let urls = ["http://a:1/s?weight=100", "http://b:1/s?weight=100", "http://c:1/s?weight=50"];
    for balance in [LoadBalance::Random, LoadBalance::RoundRobin, LoadBalance::LeastRequests] {
        let s = set(&urls, balance, SystemTime::now());
        let mut counts = [0usize; 3];
        let n = 50_000;
        for _ in 0..n {
            let p = s.select().expect("non-empty");
            counts[s.providers().iter().position(|q| q.address() == p.address()).expect("member")] += 1;
        }
        let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
        for (share, want) in shares.iter().zip([0.4, 0.4, 0.2]) {
            assert!((share - want).abs() < 0.02, "{balance:?}: shares {shares:?}");
        }
    }
}

#[test]
fn least_requests_avoids_the_busy_provider() {
    let s = set(&["http://a:1/s", "http://b:1/s"], LoadBalance::LeastRequests, SystemTime::now());
    let busy = s.providers()[0].clone();
    let _guards: Vec<_> = (0..10).map(|_| busy.start()).collect();
    assert_eq!(busy.in_flight(), 10);
    for _ in 0..1000 {
        assert_eq!(s.select().expect("non-empty").address(), "b:1");
    }
}

#[test]
fn consistent_hash_is_sticky() {
    let urls = ["http://a:1/s", "http://b:1/s", "http://c:1/s"];
    let s = set(&urls, LoadBalance::ConsistentHash, SystemTime::now());
    let t = set(&urls, LoadBalance::ConsistentHash, SystemTime::now());
    for key in 0..100u32 {
        let key = key.to_be_bytes();
        let a = s.select_by_key(&key).expect("non-empty").address().to_owned();
        assert_eq!(a, s.select_by_key(&key).expect("non-empty").address());
        assert_eq!(a, t.select_by_key(&key).expect("non-empty").address(), "same in every process");
    }
}

#[test]
fn warmup_ramps_the_weight() {
    let now = SystemTime::now();
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).expect("after epoch").as_millis();
    let started = ms(now - Duration::from_secs(30));
    let s = set(
        &[&format!("http://a:1/s?warmup=120&timestamp={started}"), "http://b:1/s"],
        LoadBalance::Random,
        now,
    );
    let a = s.get(&ServiceUrl::parse(&format!("http://a:1/s?timestamp={started}&warmup=120")).expect("url"));
    assert_eq!(a.expect("present").weight(), 25, "a quarter of the way through warm-up");
    assert!(s.is_warming());
    let later = set(
        &[&format!("http://a:1/s?warmup=120&timestamp={started}"), "http://b:1/s"],
        LoadBalance::Random,
        now + Duration::from_secs(120),
    );
    assert_eq!(later.providers()[0].weight(), 100);
    assert!(!later.is_warming());
}

#[test]
fn empty_set_picks_nothing() {
    for balance in [
        LoadBalance::Random,
        LoadBalance::RoundRobin,
        LoadBalance::LeastRequests,
        LoadBalance::ConsistentHash,
    ] {
        let s = ProviderSet::empty(balance);
        assert!(s.select().is_none());
        assert!(s.select_by_key(b"k").is_none());
    }
}
