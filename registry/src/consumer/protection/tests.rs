use super::*;
use crate::consumer::outlier::{OutlierPolicy, Outliers};
use crate::consumer::Outcome;
use crate::url::ServiceUrl;

fn providers(n: usize) -> Vec<Provider> {
    let outliers = Outliers::new("s", OutlierPolicy::default());
    (1..=n)
        .map(|i| {
            let url = ServiceUrl::parse(&format!("http://10.0.0.{i}:80/s")).expect("url");
            let node = url.to_node_name();
            Provider::new(url, node.as_str(), &outliers)
        })
        .collect()
}

fn addresses(list: &[Provider]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|p| p.address().to_owned()).collect();
    v.sort();
    v
}

fn protection() -> Protection {
    let policy = ProtectionThreshold::default().answer_within(Duration::from_secs(60));
    Protection::new("s", policy)
}

#[test]
fn half_leaving_is_ordinary_and_more_than_half_trips() {
    let all = providers(10);
    let t = Instant::now();
    let p = protection();
    p.observe_and_remember(&all, t);
    p.observe_and_remember(&all[5..], t);
    assert_eq!(p.with_suspects(all[5..].to_vec()).len(), 5, "5 of 10 is not more than half");
    p.observe_and_remember(&all[6..], t + Duration::from_secs(1));
    let set = p.with_suspects(all[6..].to_vec());
    assert_eq!(addresses(&set), addresses(&all), "6 of 10 within the window: all kept");
    assert!(all[..6].iter().all(Provider::is_suspect));
    assert!(!all[6].is_suspect());
}

#[test]
fn departures_older_than_the_window_do_not_count() {
    let all = providers(10);
    let t = Instant::now();
    let p = protection();
    p.observe_and_remember(&all, t);
    p.observe_and_remember(&all[4..], t);
    p.observe_and_remember(&all[7..], t + Duration::from_secs(11));
    assert_eq!(p.with_suspects(all[7..].to_vec()).len(), 3, "4, then 3 of the remaining 6, 11 s apart");
}

#[test]
fn the_windows_peak_outlives_smaller_listings_after_it_and_leaves_with_the_window() {
    let all = providers(10);
    let t = Instant::now();
    let p = protection();
    // Peak 10 at t, then 9 and 8 (ordinary), then 7 at t+4 s: the peak seen is still 10.
    p.observe_and_remember(&all, t);
    p.observe_and_remember(&all[1..], t + Duration::from_secs(1));
    p.observe_and_remember(&all[2..], t + Duration::from_secs(2));
    p.observe_and_remember(&all[3..], t + Duration::from_secs(4));
    assert_eq!(p.with_suspects(all[3..].to_vec()).len(), 7, "3 of 10: not more than half");
    // At t+11 s the 10 left the window and 9 (t+1 s) is the peak: 4 of 9 leave (not more
    // than half); at t+12 s 9 left too and 8 (t+2 s) is the peak: 5 of 8 (more than half).
    p.observe_and_remember(&all[5..], t + Duration::from_secs(11));
    assert_eq!(p.with_suspects(all[5..].to_vec()).len(), 5);
    p.observe_and_remember(&all[7..], t + Duration::from_secs(12));
    assert!(p.with_suspects(all[7..].to_vec()).len() > 3, "5 of the window's peak 8 left: tripped");
}

#[test]
fn a_suspect_is_dropped_at_its_first_failure_or_when_its_hold_ends() {
    let all = providers(4);
    let t = Instant::now();
    let p = protection();
    p.observe_and_remember(&all, t);
    p.observe_and_remember(&all[3..], t);
    assert_eq!(p.next_deadline(), Some(t + Duration::from_secs(30)));
    all[0].report(Outcome::Success);
    all[1].report(Outcome::Failure);
    assert!(all[1].health_cell().is_avoided(), "passed over before the set is rebuilt");
    assert!(p.sweep(t + Duration::from_secs(1)));
    assert_eq!(addresses(&p.with_suspects(vec![])), ["10.0.0.1:80", "10.0.0.3:80"]);
    assert!(!p.sweep(t + Duration::from_secs(29)));
    assert!(p.sweep(t + Duration::from_secs(30)));
    assert!(p.with_suspects(vec![]).is_empty());
    p.observe_and_remember(&all[3..], t + Duration::from_secs(31));
    assert!(p.with_suspects(vec![]).is_empty(), "never held twice");
}

#[test]
fn a_suspect_listed_again_is_a_member_and_one_replaced_at_its_address_goes() {
    let all = providers(4);
    let t = Instant::now();
    let p = protection();
    p.observe_and_remember(&all, t);
    p.observe_and_remember(&all[3..], t);
    let outliers = Outliers::new("s", OutlierPolicy::default());
    let url = ServiceUrl::parse("http://10.0.0.2:80/s?timestamp=7").expect("url");
    let replacement = Provider::new(url.clone(), url.to_node_name().as_str(), &outliers);
    let listed = vec![all[0].clone(), replacement, all[3].clone()];
    p.observe_and_remember(&listed, t + Duration::from_secs(1));
    assert!(!all[0].is_suspect(), "listed again under its own name");
    assert_eq!(addresses(&p.with_suspects(vec![])), ["10.0.0.3:80"]);
    assert!(p.suspect(all[2].node_name()).is_some() && p.suspect(all[1].node_name()).is_none());
}

#[test]
fn a_suspect_must_answer_within_each_period() {
    let all = providers(4);
    let t = Instant::now();
    let second = Duration::from_secs(1);
    let p = Protection::new("s", ProtectionThreshold::default().answer_within(second));
    p.observe_and_remember(&all, t);
    p.observe_and_remember(&all[3..], t);
    assert_eq!(p.next_deadline(), Some(t + second));
    all[0].report(Outcome::Success);
    all[1].report(Outcome::Success);
    all[2].report(Outcome::Ignore);
    assert!(p.sweep(t + second));
    assert_eq!(addresses(&p.with_suspects(vec![])), ["10.0.0.1:80", "10.0.0.2:80"], "3 answered nothing");
    all[0].report(Outcome::Success);
    assert!(p.sweep(t + 2 * second));
    assert_eq!(addresses(&p.with_suspects(vec![])), ["10.0.0.1:80"], "every period");
}

#[test]
fn the_difference_of_two_listings_with_and_without_a_common_order() {
    let all = providers(6);
    let names = |v: Vec<Provider>| addresses(&v);
    let removed = vec![all[0].clone(), all[2].clone(), all[5].clone()];
    let (gone, new) = diff(&all[..], &removed);
    assert_eq!(
        (names(gone), names(new)),
        (addresses(&[all[1].clone(), all[3].clone(), all[4].clone()]), vec![])
    );
    let (gone, new) = diff(&removed[..], &all);
    assert_eq!(
        (names(gone), names(new)),
        (vec![], addresses(&[all[1].clone(), all[3].clone(), all[4].clone()]))
    );
    let shuffled = vec![all[4].clone(), all[0].clone(), all[3].clone()];
    let (gone, new) = diff(&removed[..], &shuffled);
    assert_eq!(names(gone), addresses(&[all[2].clone(), all[5].clone()]));
    assert_eq!(names(new), addresses(&[all[3].clone(), all[4].clone()]));
    assert_eq!(diff(&all[..], &all).0.len() + diff(&all[..], &all).1.len(), 0);
    let chunked = SortedProviders::from_vec(all.clone());
    assert_eq!(
        names(diff(&chunked, &removed).0),
        addresses(&[all[1].clone(), all[3].clone(), all[4].clone()])
    );
}

#[test]
fn a_departure_back_under_its_name_at_another_address_is_welcomed() {
    // Curator's instance ids name nodes: an instance may come back at another address.
    let outliers = Outliers::new("s", OutlierPolicy::default());
    let at = |address: &str, id: &str| {
        let url = ServiceUrl::parse(&format!("http://{address}/s")).expect("url");
        Provider::new(url, id, &outliers)
    };
    let (a, b, c, d) =
        (at("10.0.0.1:80", "id-a"), at("10.0.0.2:80", "b"), at("10.0.0.3:80", "c"), at("10.0.0.4:80", "d"));
    let moved = at("10.0.0.9:80", "id-a");
    let (p, t) = (protection(), Instant::now());
    p.observe_and_remember(&[a.clone(), b.clone(), c.clone(), d.clone()], t);
    p.observe_and_remember(&[b.clone(), c.clone(), d.clone()], t);
    p.observe_and_remember(&[b.clone(), c.clone(), d.clone(), moved.clone()], t);
    p.observe_and_remember(&[d.clone(), moved.clone()], t);
    assert!(p.observe_and_remember(std::slice::from_ref(&moved), t), "3 of 4 gone: tripped");
    let kept = p.with_suspects(vec![moved.clone()]);
    assert_eq!(addresses(&kept), ["10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.9:80"]);
    assert!(!a.is_suspect(), "the instance's old registration was welcomed back, not held");
}

#[test]
fn a_rolling_deploy_never_trips_it() {
    let all = providers(20);
    let p = protection();
    let t = Instant::now();
    p.observe_and_remember(&all[..10], t);
    for i in 1..=10 {
        p.observe_and_remember(&all[i..i + 10], t + Duration::from_millis(i as u64));
    }
    assert!(p.with_suspects(vec![]).is_empty(), "ten replaced one by one within the window");
}

#[test]
fn off_never_keeps_anything() {
    let all = providers(4);
    let p = Protection::new("s", ProtectionThreshold::off());
    let t = Instant::now();
    p.observe_and_remember(&all, t);
    p.observe_and_remember(&all[3..], t);
    assert!(p.with_suspects(vec![]).is_empty());
    let on = protection();
    on.observe_and_remember(&all, t);
    on.observe_and_remember(&[], t);
    assert!(on.with_suspects(vec![]).is_empty(), "none listed: empty protection's case");
    assert_eq!(ProtectionThreshold::default().share(f64::NAN), ProtectionThreshold::off());
}
