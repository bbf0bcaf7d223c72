//! `zkmesh dev`: a local ZooKeeper for development, in the foreground, optionally with a
//! Prometheus endpoint ([`crate::dev_metrics`]).

use local_zk::LocalZooKeeper;

use crate::dev_metrics::{self, DevMetrics};

/// Starts ZooKeeper on 127.0.0.1 at the port of `--port`, else of `zk` (`--zk`), and keeps it
/// until Ctrl-C; with `metrics` (`IP:PORT`), also serves Prometheus metrics there. A port that
/// is taken (by another ZooKeeper, say) is an error naming it: the server that answers there is
/// never mistaken for ours.
pub async fn dev(zk: &str, port: Option<u16>, metrics: Option<&str>) -> Result<(), String> {
    let port = dev_port(zk, port)?;
    let mut interrupt = crate::interrupt::Interrupt::new()?;
    // Bound before the JVM starts, so a bad or busy address fails at once.
    let metrics_addr = metrics.map(dev_metrics::parse_address).transpose()?;
    if let Some(addr) = metrics_addr {
        dev_metrics::serve(addr)?;
    }
    let zk = LocalZooKeeper::builder().port(port).start().await.map_err(|e| e.to_string())?;
    let observer = match metrics_addr {
        Some(_) => Some(DevMetrics::start(&zk).await?),
        None => None,
    };
    crate::out!("ZooKeeper is serving on {} (data in {})", zk.connect_string(), zk.data_dir().display());
    if let Some(addr) = metrics_addr {
        crate::out!("metrics on http://{addr}/metrics (zkmesh_* for every service, zookeeper_* from mntr)");
    }
    crate::out!("try: zkmesh --zk {} services   (Ctrl-C stops it)", zk.connect_string());
    match &observer {
        Some(observer) => tokio::select! {
            _ = interrupt.recv() => {}
            _ = observer.export_mntr_forever(&zk) => {}
        },
        None => interrupt.recv().await,
    }
    if let Some(observer) = observer {
        observer.close().await;
    }
    drop(zk);
    crate::out!("stopped");
    Ok(())
}

/// The port `zkmesh dev` serves on: `--port`, else the port of `--zk`, which must then be one
/// local address (`127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT`, a chroot allowed).
fn dev_port(zk: &str, port: Option<u16>) -> Result<u16, String> {
    if let Some(port) = port {
        return Ok(port);
    }
    let hosts = zk.split('/').next().unwrap_or_default();
    let not_local = || {
        format!("zkmesh dev serves on 127.0.0.1: --zk {zk} is not one local address (give --port, or --zk 127.0.0.1:PORT)")
    };
    if hosts.contains(',') {
        return Err(not_local());
    }
    let (host, port) = hosts.rsplit_once(':').ok_or_else(not_local)?;
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return Err(not_local());
    }
    port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(not_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_from_port_else_from_a_local_zk() {
        assert_eq!(dev_port("127.0.0.1:2181", None), Ok(2181));
        assert_eq!(dev_port("localhost:2999/team-a", None), Ok(2999));
        assert_eq!(dev_port("10.0.0.5:2181", Some(3000)), Ok(3000));
        for bad in
            ["10.0.0.5:2181", "127.0.0.1:1,127.0.0.1:2", "127.0.0.1", "127.0.0.1:0", "zk://127.0.0.1:1"]
        {
            let err = dev_port(bad, None).expect_err(bad);
            assert!(err.contains("--port") && err.contains(bad), "{err}");
        }
    }
}
