//! A hyper HTTP provider of `greeter`: `GET /hello?name=..` answers JSON naming the provider.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use config_center::{Config, ConfigCenter};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use registry::{Registration, Registry, ServiceUrl};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};

use crate::{BoxError, Settings, CONFIG_NAME, CONFIG_NAMESPACE, SERVICE};

/// One running provider: an HTTP server and its registration.
pub struct GreeterProvider {
    name: String,
    addr: SocketAddr,
    registry: Registry,
    registration: Option<Registration>,
    accept: JoinHandle<()>,
    state: Arc<ServerState>,
}

struct ServerState {
    name: String,
    addr: SocketAddr,
    settings: Config<Settings>,
    served: AtomicU64,
    in_flight: AtomicUsize,
    connections: Mutex<Vec<AbortHandle>>,
}

impl GreeterProvider {
    /// Binds `127.0.0.1:port` (0: any free port), watches its settings at
    /// `/config/demo/greeter` (hot reload), serves, and registers
    /// `http://127.0.0.1:<port>/greeter?weight=<weight>&version=1` on its own ZooKeeper session.
    ///
    /// # Errors
    /// When the port cannot be bound, ZooKeeper cannot be reached, or the registration fails.
    pub async fn start(
        connect: &str,
        name: &str,
        port: u16,
        weight: u32,
        session_timeout: Duration,
    ) -> Result<Self, BoxError> {
        Self::start_version(connect, name, port, weight, "1", session_timeout).await
    }

    /// [`GreeterProvider::start`], registered with `version=<version>` (what a rules split by
    /// version tells apart).
    ///
    /// # Errors
    /// As [`GreeterProvider::start`].
    pub async fn start_version(
        connect: &str,
        name: &str,
        port: u16,
        weight: u32,
        version: &str,
        session_timeout: Duration,
    ) -> Result<Self, BoxError> {
        let mut provider = Self::serve(connect, name, port, session_timeout).await?;
        let url = ServiceUrl::new("http", "127.0.0.1", provider.addr.port(), SERVICE)?
            .with_param("weight", weight)?
            .with_param("version", version)?
            .with_param("provider", name)?;
        let registration = provider.registry.register(&url).await?;
        registration.wait_registered(Duration::from_secs(10)).await?;
        provider.registration = Some(registration);
        Ok(provider)
    }

    /// Binds `127.0.0.1:port`, watches its settings and serves, without registering: a
    /// provider back on its address while its old node still stands (a quick restart, before
    /// ZooKeeper expired the old session), which consumers readmit through their probe.
    ///
    /// # Errors
    /// When the port cannot be bound or ZooKeeper cannot be reached.
    pub async fn serve(
        connect: &str,
        name: &str,
        port: u16,
        session_timeout: Duration,
    ) -> Result<Self, BoxError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        // Detached: if this provider is killed, its session expires on ZooKeeper's timeout
        // (its node stays until then), exactly as with a crashed process.
        let registry = Registry::builder()
            .session_timeout(session_timeout)
            .detached(true)
            .register_consumers(false)
            .connect(connect)
            .await?;
        let center = ConfigCenter::builder().build(registry.session().clone())?;
        let settings = center
            .config::<Settings>(CONFIG_NAMESPACE, CONFIG_NAME)?
            .defaults(Settings::default())
            .validator(Settings::validate)
            .watch()
            .await?;
        let state = Arc::new(ServerState {
            name: name.to_owned(),
            addr,
            settings,
            served: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            connections: Mutex::new(Vec::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(GreeterProvider { name: name.to_owned(), addr, registry, registration: None, accept, state })
    }

    /// The settings version this provider serves with (`None`: the defaults).
    pub fn settings_version(&self) -> Option<i32> {
        self.state.settings.version()
    }

    /// The settings this provider serves with now.
    pub fn settings(&self) -> Arc<Settings> {
        self.state.settings.load()
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registered URL.
    pub fn url(&self) -> Option<&ServiceUrl> {
        self.registration.as_ref().map(|r| r.url())
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.state.served.load(Ordering::Relaxed)
    }

    /// Graceful shutdown: deregister first (consumers stop picking it), keep serving what
    /// arrives meanwhile, then stop once nothing is in flight (at most `drain`).
    ///
    /// # Errors
    /// When the deregistration fails.
    pub async fn shutdown(mut self, drain: Duration) -> Result<(), BoxError> {
        if let Some(registration) = self.registration.take() {
            registration.deregister().await?;
        }
        tokio::time::sleep(drain).await;
        let deadline = tokio::time::Instant::now() + drain;
        while self.state.in_flight.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stop_serving();
        self.registry.session().close().await;
        Ok(())
    }

    /// A crash: the server stops answering at once and the ZooKeeper session is abandoned
    /// without deregistering (the node stays until the session expires).
    pub async fn kill(mut self) {
        self.stop_serving();
        self.registry.session().close().await; // detached: no CloseSession is sent
        drop(self.registration.take());
    }

    fn stop_serving(&self) {
        self.accept.abort();
        let connections =
            std::mem::take(&mut *self.state.connections.lock().unwrap_or_else(|e| e.into_inner()));
        for connection in connections {
            connection.abort();
        }
    }
}

impl Drop for GreeterProvider {
    fn drop(&mut self) {
        self.stop_serving();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<ServerState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let conn_state = state.clone();
        let task = tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, conn_state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        let mut connections = state.connections.lock().unwrap_or_else(|e| e.into_inner());
        connections.retain(|c| !c.is_finished());
        connections.push(task.abort_handle());
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<ServerState>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/hello" {
        let mut not_found = Response::new(Full::new(Bytes::from_static(b"{\"error\":\"not found\"}")));
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        return Ok(not_found);
    }
    state.in_flight.fetch_add(1, Ordering::AcqRel);
    let settings = state.settings.load();
    if settings.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.delay_ms)).await;
    }
    let name = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("name=")))
        .unwrap_or("world")
        .to_owned();
    let served = state.served.fetch_add(1, Ordering::Relaxed) + 1;
    let body = serde_json::json!({
        "provider": state.name,
        "address": state.addr.to_string(),
        "message": format!("{}, {name}!", settings.greeting),
        "served": served,
    });
    state.in_flight.fetch_sub(1, Ordering::AcqRel);
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    Ok(response)
}
