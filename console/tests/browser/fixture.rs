//! What a browser test runs against: a chroot of the test binary's shared ZooKeeper, a real
//! console server on a free loopback port, and the registry and config center that play the
//! services and operators around it.

use std::time::Duration;

use config_center::ConfigCenter;
use registry::{Registration, Registry, ServiceUrl, Session, SubscribeOptions, Subscription};
use zkmesh_console::{Console, ConsoleHandle};

/// The write token of the writable consoles.
pub const TOKEN: &str = "console-test-token";

/// A console on a fresh chroot, with the clients a test uses around it.
pub struct Fixture {
    /// The console's URL: `http://127.0.0.1:PORT`.
    pub base: String,
    /// A registry on the same chroot (providers, consumers).
    pub registry: Registry,
    /// A config center on the same chroot.
    pub config: ConfigCenter,
    /// A plain client on the same chroot: ZooKeeper's truth.
    pub zk: zookeeper_client::Client,
    console: Option<ConsoleHandle>,
}

impl Fixture {
    /// Starts a console on chroot `name` with `token` (None: read-only).
    pub async fn start(name: &str, token: Option<&str>) -> Fixture {
        let connect = local_zk::support::chroot("console", name);
        let zk = local_zk::support::raw(&connect).await;
        let session = session(&connect).await;
        let console = Console::builder()
            .listen(([127, 0, 0, 1], 0).into())
            .write_token(token.map(str::to_owned))
            .serve(session)
            .await
            .unwrap_or_else(|e| panic!("start the console on {connect}: {e}"));
        let base = format!("http://{}", console.local_addr());
        let registry =
            Registry::builder().connect(&connect).await.unwrap_or_else(|e| panic!("registry: {e}"));
        let config = ConfigCenter::builder()
            .build(session_of(&registry))
            .unwrap_or_else(|e| panic!("config center: {e}"));
        Fixture { base, registry, config, zk, console: Some(console) }
    }

    /// The console's URL for page route `route` (`#/services/...`).
    pub fn url(&self, route: &str) -> String {
        format!("{}/{route}", self.base)
    }

    /// Registers provider `url`.
    pub async fn register(&self, url: &str) -> Registration {
        self.registry.register(&parse(url)).await.unwrap_or_else(|e| panic!("register {url}: {e}"))
    }

    /// A consumer's subscription to `service`, registered as a consumer node as `consumer`.
    pub async fn subscribe(&self, service: &str, consumer: &str) -> Subscription {
        let options = SubscribeOptions::default().consumer_url(parse(consumer));
        self.registry
            .subscribe_with(service, options)
            .await
            .unwrap_or_else(|e| panic!("subscribe {service}: {e}"))
    }

    /// Publishes config `ns`/`name` (any version); returns the new version.
    pub async fn publish(&self, ns: &str, name: &str, text: &str) -> i32 {
        let published = self.config.publish_toml(ns, name, text, config_center::Expect::Any).await;
        published.unwrap_or_else(|e| panic!("publish {ns}/{name}: {e}")).version
    }

    /// Config `ns`/`name` as ZooKeeper has it: text and version.
    pub async fn current(&self, ns: &str, name: &str) -> Option<(String, i32)> {
        self.config.current(ns, name).await.unwrap_or_else(|e| panic!("read {ns}/{name}: {e}"))
    }

    /// Stops the console.
    pub async fn stop(mut self) {
        if let Some(console) = self.console.take() {
            console.shutdown().await;
        }
    }
}

async fn session(connect: &str) -> Session {
    let connecting = Session::builder().session_timeout(Duration::from_secs(10)).connect(connect);
    connecting.await.unwrap_or_else(|e| panic!("session on {connect}: {e}"))
}

fn session_of(registry: &Registry) -> Session {
    registry.session().clone()
}

/// A provider URL literal of a test.
pub fn parse(url: &str) -> ServiceUrl {
    url.parse().unwrap_or_else(|e| panic!("url {url}: {e}"))
}
