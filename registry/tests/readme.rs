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
async fn demo(zk: &str) -> Result<(), Box<dyn std::error::Error>> {
use registry::{Registry, ServiceUrl, SubscribeOptions, LoadBalance};

let registry = Registry::builder().connect(zk).await?;   // zk = "127.0.0.1:2181/prod": chroot created if missing

// Provider: an ephemeral node, re-registered by itself after session expiry.
let me = registry.register(&ServiceUrl::parse("http://10.0.0.5:8080/greeter?version=1.2&weight=100")?).await?;

// Consumer: a lock-free, load-balanced cache of the providers.
let greeter = registry
    .subscribe_with("greeter", SubscribeOptions::default().balance(LoadBalance::RoundRobin))
    .await?;
if let Some(provider) = greeter.select() {          // ~10 ns, no lock, no shared write
    println!("calling {}", provider.address());
}                                                    // (clone the Provider to keep it across .await)
let mut picker = greeter.selector();                 // owned by one thread/task: plain borrows
let _ = picker.select();
// Or tower: PeakEwmaDiscover::new(greeter.discover(|p| make_service(p)), ..) feeds
// tower::balance::p2c::Balance (p2c needs the load wrapper; registry::tower is the matching tower).
assert_eq!(picker.select().map(|p| p.address().to_owned()).as_deref(), Some("10.0.0.5:8080"));

me.deregister().await?;                              // before draining
Ok(()) }
