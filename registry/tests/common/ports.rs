//! Loopback ports for tests that need real sockets: some accept (and close) connections, some
//! have nothing listening (a connection to them is refused).

use tokio::net::{TcpListener, TcpStream};
use zkmesh_registry::tower::util::BoxService;
use zkmesh_registry::tower::BoxError;
use zkmesh_registry::{Balancer, Provider, Subscription};

/// `live` ports that accept (and close) connections, `dead` ones where nothing listens; the
/// accepting tasks stop when this is dropped.
pub struct Ports {
    /// Ports that accept connections.
    pub live: Vec<u16>,
    /// Ports where nothing listens.
    pub dead: Vec<u16>,
    accepting: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Ports {
    fn drop(&mut self) {
        self.accepting.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

impl Ports {
    /// `live` accepting ports and `dead` refusing ones.
    pub async fn new(live: usize, dead: usize) -> Self {
        let (mut ports, mut accepting) = (Vec::new(), Vec::new());
        for _ in 0..live {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            ports.push(listener.local_addr().expect("addr").port());
            accepting.push(tokio::spawn(async move {
                while let Ok((connection, _)) = listener.accept().await {
                    drop(connection);
                }
            }));
        }
        let mut dead_ports = Vec::new();
        for _ in 0..dead {
            let gone = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            dead_ports.push(gone.local_addr().expect("addr").port());
        }
        Ports { live: ports, dead: dead_ports, accepting }
    }

    /// Every port, the live ones first.
    pub fn all(&self) -> Vec<u16> {
        self.live.iter().chain(&self.dead).copied().collect()
    }
}

/// A balancer over real TCP: a service per provider that connects to the provider's address
/// (e.g. [`Ports`] given to the providers: `live` ones accept, `dead` ones refuse) and answers
/// with that address.
pub fn tcp_balancer(sub: &Subscription) -> Balancer<BoxService<u32, String, BoxError>, u32> {
    sub.balancer(|p: &Provider| {
        let address = p.address().to_owned();
        BoxService::new(zkmesh_registry::tower::service_fn(move |_: u32| {
            let address = address.clone();
            async move {
                TcpStream::connect(&address).await?;
                Ok::<_, BoxError>(address)
            }
        }))
    })
}
