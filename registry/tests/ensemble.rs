//! A 3-member ensemble: killing the leader (then a follower) does not lose the session, its
//! ephemerals or a consumer's cache, and changes flow again after re-election.

mod common;

use std::time::Duration;

use common::*;
use local_zk::LocalEnsemble;
use zkmesh_registry::{Registry, ServiceUrl, SessionState};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn killing_the_leader_keeps_sessions_ephemerals_and_caches() {
    init_logging();
    let mut ensemble = LocalEnsemble::start(3).await.expect("start a 3-member ensemble");
    let connect = ensemble.connect_string();
    let provider = Registry::builder()
        .session_timeout(Duration::from_secs(8))
        .connect(&connect)
        .await
        .expect("provider");
    let consumer = Registry::builder()
        .session_timeout(Duration::from_secs(8))
        .connect(&connect)
        .await
        .expect("consumer");
    let url = ServiceUrl::parse("http://10.2.0.1:80/svc").expect("url");
    let registration = provider.register(&url).await.expect("register");
    let sub = consumer.subscribe("svc").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("seen");
    let provider_session = provider.session().session_id();
    let consumer_session = consumer.session().session_id();
    let mut provider_events = provider.session().events();
    let mut consumer_events = consumer.session().events();

    let old_leader = ensemble.leader().await.expect("a leader");
    ensemble.kill(old_leader).await.expect("kill the leader");
    let new_leader = ensemble.wait_for_leader(WAIT).await.expect("re-election");
    assert_ne!(new_leader, old_leader);

    // New changes flow again after re-election.
    let second = ServiceUrl::parse("http://10.2.0.2:80/svc").expect("url");
    let _second = provider.register(&second).await.expect("register after re-election");
    let set = sub.wait_for(WAIT, |s| s.len() == 2).await.expect("the new provider is seen");
    assert!(set.get(registration.url()).is_some(), "the first registration is still there");

    // Then the member the provider is connected to (killing two of three would lose the
    // quorum, so the old leader comes back first, as a follower): the provider must move to
    // another member with its session.
    ensemble.restart(old_leader).await.expect("restart the old leader");
    let serving = member_serving(&ensemble, provider_session.expect("live")).await;
    ensemble.kill(serving).await.expect("kill the provider's member");
    ensemble.wait_for_leader(WAIT).await.expect("a leader");
    let third = ServiceUrl::parse("http://10.2.0.3:80/svc").expect("url");
    let _third = provider.register(&third).await.expect("register after the follower died");
    sub.wait_for(WAIT, |s| s.len() == 3).await.expect("the third provider is seen");

    // The sessions were never lost: same ids, no Lost event, the first node never re-created.
    assert_eq!(provider.session().session_id(), provider_session);
    assert_eq!(consumer.session().session_id(), consumer_session);
    for events in [&mut provider_events, &mut consumer_events] {
        while let Ok(state) = events.try_recv() {
            assert_ne!(state, SessionState::Lost, "a leader change must not lose the session");
        }
    }
    let check = raw(&connect).await;
    let (_, stat) = check.get_data(registration.path()).await.expect("node");
    assert_eq!(Some(stat.ephemeral_owner), provider_session, "still owned by the first session");
    assert!(registration.status().is_active());
}

/// The ensemble member whose connections (`cons`) include session `id`.
async fn member_serving(ensemble: &LocalEnsemble, id: i64) -> usize {
    let needle = format!("sid=0x{id:x}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        for i in 0..ensemble.len() {
            if let Ok(cons) = ensemble.four_letter(i, "cons").await {
                if cons.contains(&needle) {
                    return i;
                }
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no member serves session {id:#x}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
