//! gRPC through zkmesh's weighted balancer: three tonic servers on loopback, registered with
//! weights 100/100/50, called by a tonic client whose transport is the subscription's
//! `Balancer` over one tonic `Channel` per provider. Calls follow the weights; one server
//! stops mid-run (its node stays registered): it is ejected at its first refused connection,
//! and no call fails, each one that met it being retried once on another server. Then a fourth
//! server registers with `tag=canary` and the service's rules route by tag: calls carrying the
//! tag as gRPC metadata (`x-zkmesh-tag: canary`, which tonic sends as an HTTP/2 header) go
//! through `registry::TagLayer` and `Balancer::route_by(registry::request_tag)` to it, the
//! others never.
//!
//! No protoc: the two messages are written by hand with `prost`'s derive, the client uses
//! tonic's generic `Grpc::unary` and the server tonic's `server::Grpc` (what tonic's code
//! generation would write).
//!
//! ```text
//! cargo run -p examples --bin grpc_balance -- --zk 127.0.0.1:2181
//! ```
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use examples::BoxError;
use registry::{BalancerLoad, GrpcErrors, Registry, ServiceUrl, SubscribeOptions};
use tokio::sync::oneshot;
use tonic::body::Body;
use tonic::codec::ProstCodec;
use tonic::codegen::{http, Body as HttpBody};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use tower::buffer::Buffer;
use tower::Service;

const WAIT: Duration = Duration::from_secs(5);
const PATH: &str = "/greeter.Greeter/SayHello";

/// `message HelloRequest { string name = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
struct HelloRequest {
    #[prost(string, tag = "1")]
    name: String,
}

/// `message HelloReply { string message = 1; string server = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
struct HelloReply {
    #[prost(string, tag = "1")]
    message: String,
    #[prost(string, tag = "2")]
    server: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("grpc_balance", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    let registry = Registry::builder().connect(&zk).await?;
    let mut servers = Vec::new();
    for weight in [100, 100, 50] {
        let server = GreeterServer::start().await?;
        let url = ServiceUrl::parse(&format!("grpc://{}/greeter?weight={weight}", server.address))?;
        servers.push((server, registry.register(&url).await?));
    }
    let greeter = registry.subscribe_with("greeter", SubscribeOptions::default()).await?;
    greeter.wait_for(WAIT, |set| set.len() == 3).await?;

    // One lazy tonic Channel per provider address; gRPC's UNAVAILABLE and INTERNAL, an HTTP
    // 5xx and connection errors count as the provider's failures.
    let balancer = greeter
        .balancer(|p| {
            let endpoint = Channel::from_shared(format!("http://{}", p.address()));
            endpoint.expect("a provider's address is host:port").connect_lazy()
        })
        .classifier(GrpcErrors)
        // The three servers are the same code on one machine: a latency average would measure
        // only this machine's scheduling, so the example compares requests in flight (at equal
        // load, the draws follow the weights).
        .load(BalancerLoad::PendingRequests);
    let mut client = tonic::client::Grpc::new(Buffer::new(balancer, 64));

    println!("3000 calls over weights 100/100/50:");
    print_shares(&calls(&mut client, 3000).await?);

    let (stopped, registration) = servers.remove(0);
    let address = stopped.address.clone();
    stopped.stop().await;
    let during = calls(&mut client, 1000).await?;
    println!("{address} stopped (still registered); 1000 calls:");
    print_shares(&during);
    println!(
        "failed calls: {}, retried: {}",
        during.get("failed").unwrap_or(&0),
        during.get("retried").unwrap_or(&0)
    );
    registration.deregister().await?;
    let canary = tag_routing(&zk, &registry, &greeter).await?;
    servers.push(canary);
    for (server, registration) in servers {
        registration.deregister().await?;
        server.stop().await;
    }
    Ok(())
}

/// Makes `n` SayHello calls, retrying a call that met an unavailable server once more (up to 3
/// tries); counts answers per server, and "retried" / "failed".
async fn calls<T>(client: &mut tonic::client::Grpc<T>, n: usize) -> Result<BTreeMap<String, usize>, BoxError>
where
    T: tonic::client::GrpcService<Body>,
    T::ResponseBody: HttpBody<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as HttpBody>::Error: Into<tonic::codegen::StdError> + Send,
    T::Error: Into<tonic::codegen::StdError>,
{
    let mut counts = BTreeMap::new();
    for i in 0..n {
        let mut answered = false;
        for attempt in 0..3 {
            if attempt > 0 {
                *counts.entry("retried".to_owned()).or_default() += 1;
            }
            client.ready().await.map_err(|e| Status::unavailable(e.into().to_string()))?;
            let request = Request::new(HelloRequest { name: format!("caller {i}") });
            let path = http::uri::PathAndQuery::from_static(PATH);
            let codec = ProstCodec::<HelloRequest, HelloReply>::default();
            match client.unary(request, path, codec).await {
                Ok(reply) => {
                    *counts.entry(reply.into_inner().server).or_default() += 1;
                    answered = true;
                    break;
                }
                Err(status) if status.code() == tonic::Code::Unavailable => continue,
                Err(status) => return Err(status.into()),
            }
        }
        if !answered {
            *counts.entry("failed".to_owned()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Registers a server tagged `canary`, publishes rules that route by tag and makes 200 calls
/// through the tag layer, every other one carrying the tag as gRPC metadata.
async fn tag_routing(
    zk: &str,
    registry: &Registry,
    greeter: &registry::Subscription,
) -> Result<(GreeterServer, registry::Registration), BoxError> {
    let server = GreeterServer::start().await?;
    let url = ServiceUrl::parse(&format!("grpc://{}/greeter?tag=canary", server.address))?;
    let registration = registry.register(&url).await?;
    let store = config_center::RulesStore::new(registry::Session::connect(zk).await?)?;
    store.put("greeter", "[tags]\n", config_center::Expect::Any, false).await?;
    for _ in 0..50 {
        if greeter.rules().tags.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    greeter.wait_for(WAIT, |set| set.candidates().iter().any(|p| p.address() == server.address)).await?;
    let balancer = greeter
        .balancer(|p| {
            let endpoint = Channel::from_shared(format!("http://{}", p.address()));
            endpoint.expect("a provider's address is host:port").connect_lazy()
        })
        .classifier(GrpcErrors)
        .route_by(registry::request_tag);
    let tagged = tower::Layer::layer(&registry::TagLayer::new(), balancer);
    let mut client = tonic::client::Grpc::new(Buffer::new(tagged, 64));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..200 {
        client.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let mut request = Request::new(HelloRequest { name: format!("caller {i}") });
        let kind = if i % 2 == 0 {
            request.metadata_mut().insert(registry::TAG_HEADER, "canary".parse()?);
            "canary"
        } else {
            "untagged"
        };
        let path = http::uri::PathAndQuery::from_static(PATH);
        let codec = ProstCodec::<HelloRequest, HelloReply>::default();
        let reply = client.unary(request, path, codec).await?;
        *counts.entry(format!("{kind} -> {}", reply.into_inner().server)).or_default() += 1;
    }
    println!("tag canary on {} (gRPC metadata {}); 200 calls:", server.address, registry::TAG_HEADER);
    for (route, n) in &counts {
        println!("  {route}: {n} calls");
    }
    Ok((server, registration))
}

fn print_shares(counts: &BTreeMap<String, usize>) {
    let served: usize = counts.iter().filter(|(k, _)| k.contains(':')).map(|(_, n)| n).sum();
    for (address, n) in counts.iter().filter(|(k, _)| k.contains(':')) {
        println!("  {address}: {n} calls ({:.1}%)", *n as f64 * 100.0 / served.max(1) as f64);
    }
}

/// A tonic server of `greeter.Greeter` on a free loopback port.
struct GreeterServer {
    address: String,
    shutdown: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl GreeterServer {
    async fn start() -> Result<Self, BoxError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (shutdown, stop) = oneshot::channel::<()>();
        let service = Greeter { server: address.as_str().into() };
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let serving = tokio::spawn(Server::builder().add_service(service).serve_with_incoming_shutdown(
            incoming,
            async {
                let _ = stop.await;
            },
        ));
        Ok(GreeterServer { address, shutdown, serving })
    }

    /// Stops listening and closes its connections (a process that went away).
    async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(WAIT, self.serving).await;
    }
}

/// The `greeter.Greeter` service, routed by path as tonic's generated server does.
#[derive(Clone)]
struct Greeter {
    server: Arc<str>,
}

impl tonic::server::NamedService for Greeter {
    const NAME: &'static str = "greeter.Greeter";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Service<http::Request<Body>> for Greeter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let say_hello = SayHello { server: self.server.clone() };
        Box::pin(async move {
            if request.uri().path() != PATH {
                return Ok(Status::unimplemented(request.uri().path().to_owned()).into_http());
            }
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
            Ok(grpc.unary(say_hello, request).await)
        })
    }
}

/// The SayHello handler.
struct SayHello {
    server: Arc<str>,
}

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = BoxFuture<Result<Response<HelloReply>, Status>>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        let server = self.server.to_string();
        Box::pin(async move {
            let message = format!("hello, {}", request.into_inner().name);
            Ok(Response::new(HelloReply { message, server }))
        })
    }
}
