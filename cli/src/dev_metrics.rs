//! `zkmesh dev --metrics ADDR`: a Prometheus endpoint with zkmesh's metrics for every service of
//! the dev server and ZooKeeper's own numbers.
//!
//! - zkmesh's metrics (`zkmesh_session_*`, `zkmesh_providers{service="..."}`,
//!   `zkmesh_watch_*`, ...) come from a registry session of the dev process that follows every
//!   service ([`ServiceFollower`]); it registers no consumer.
//! - ZooKeeper's numbers come from its `mntr` four-letter word ([`crate::mntr`]), read once
//!   before start-up is announced and then every [`MNTR_PERIOD`], so a scrape sees numbers at
//!   most that old. They include the dev process's own connection and watches.

use std::net::SocketAddr;
use std::time::Duration;

use local_zk::LocalZooKeeper;
use metrics_exporter_prometheus::PrometheusBuilder;
use registry::Registry;

use crate::follow::ServiceFollower;

/// How often `mntr` is read.
pub const MNTR_PERIOD: Duration = Duration::from_secs(1);

/// How long start-up may wait for the dev session and the first read of `/services`.
const STARTUP: Duration = Duration::from_secs(15);

/// Parses `--metrics`: an `IP:PORT` with a fixed port (the URL printed must be the real one).
pub fn parse_address(addr: &str) -> Result<SocketAddr, String> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|_| format!("invalid --metrics address {addr:?}: expected IP:PORT, e.g. 127.0.0.1:9464"))?;
    if parsed.port() == 0 {
        return Err(format!("invalid --metrics address {addr:?}: the port must not be 0"));
    }
    Ok(parsed)
}

/// Serves Prometheus text on `http://addr/metrics` from now on: binds `addr` and installs the
/// global `metrics` recorder.
pub fn serve(addr: SocketAddr) -> Result<(), String> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))
}

/// The metrics side of a running `zkmesh dev`: the following session and the `mntr` export.
pub struct DevMetrics {
    registry: Registry,
    follower: ServiceFollower,
}

impl DevMetrics {
    /// Connects to `zk`, follows every service (returning once the services there now are
    /// followed) and exports `mntr` once.
    pub async fn start(zk: &LocalZooKeeper) -> Result<Self, String> {
        let connect = zk.connect_string();
        let registry = Registry::builder()
            .register_consumers(false)
            .connect_timeout(STARTUP)
            .connect(&connect)
            .await
            .map_err(|e| format!("cannot open the metrics session on {connect}: {e}"))?;
        let follower = ServiceFollower::start(registry.clone())?;
        follower.wait_for(STARTUP, |_| true).await?;
        crate::mntr::export(zk).await?;
        Ok(DevMetrics { registry, follower })
    }

    /// Exports `mntr` every [`MNTR_PERIOD`], forever. A failure is reported on stderr once (the
    /// gauges keep their last values) until a read succeeds again.
    pub async fn export_mntr_forever(&self, zk: &LocalZooKeeper) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + MNTR_PERIOD, MNTR_PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            match crate::mntr::export(zk).await {
                Ok(_) if failing => {
                    eprintln!("zkmesh dev: ZooKeeper's mntr answers again");
                    failing = false;
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    eprintln!("zkmesh dev: {e} (the zookeeper_* gauges keep their last values)");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    /// Stops following and closes the session.
    pub async fn close(self) {
        drop(self.follower);
        self.registry.session().close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn addresses_need_ip_and_fixed_port() {
        assert_eq!(parse_address("127.0.0.1:9464").map(|a| a.port()), Ok(9464));
        assert!(parse_address("[::1]:9464").is_ok());
        for bad in ["9464", "localhost:9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000"] {
            let err = parse_address(bad).expect_err(bad);
            assert!(err.starts_with("invalid --metrics address") && !err.contains('\n'), "{err}");
        }
    }
}
