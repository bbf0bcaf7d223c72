//! The README's registry snippet ("Using it"), run against a real local ZooKeeper. `demo` below
//! holds the snippet's code verbatim; a second test checks that every line of the README's
//! snippet is here, in order, so that the two cannot drift apart.

mod common;

#[tokio::test]
async fn the_readme_registry_snippet_runs() {
    demo(&common::chroot("readme")).await.expect("the README snippet runs");
}

#[test]
fn this_file_holds_the_readme_snippet_verbatim() {
    local_zk::support::assert_readme_snippet_in(
        include_str!("../../README.md"),
        "subscribe_with(\"greeter\"",
        include_str!("readme.rs"),
    );
}

// README.md, "Using it": the snippet's code, verbatim (rustfmt would reflow it).
#[rustfmt::skip]
async fn demo(zk: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
use registry::{Registry, ServiceUrl, SubscribeOptions, LoadBalance, Outcome};
use registry::tower::{service_fn, ServiceExt};    // the tower registry is built for

let registry = Registry::builder().connect(zk).await?;   // zk = "127.0.0.1:2181/prod": chroot created if missing

// Provider: an ephemeral node, re-registered by itself after session expiry.
let me = registry.register(&ServiceUrl::parse("http://10.0.0.5:8080/greeter?version=1.2&weight=100")?).await?;

// Consumer: a lock-free, load-balanced cache of the providers.
let greeter = registry
    .subscribe_with("greeter", SubscribeOptions::default().balance(LoadBalance::RoundRobin))
    .await?;
if let Some(provider) = greeter.select() {          // ~10 ns, no lock, no shared write
    println!("calling {}", provider.address());
    provider.report(Outcome::Success);              // outcomes feed ejection, for every picker
}                                                    // (clone the Provider to keep it across .await)
let mut picker = greeter.selector();                 // owned by one thread/task: plain borrows
let _ = picker.select();

// Or tower: weighted power-of-two-choices over one service per provider address (a hyper
// client, a tonic Channel; an echo here). It reports each response's outcome by itself.
let balancer = greeter.balancer(|p| {
    let address = p.address().to_owned();
    service_fn(move |name: String| std::future::ready(Ok::<_, std::io::Error>(format!("{address}: hi {name}"))))
});
println!("{}", balancer.oneshot("ann".to_owned()).await?);
assert_eq!(picker.select().map(|p| p.address().to_owned()).as_deref(), Some("10.0.0.5:8080"));

me.deregister().await?;                              // before draining
Ok(()) }
