//! `zkmesh dev`: a local ZooKeeper for development, in the foreground, optionally with a
//! Prometheus endpoint ([`crate::dev_metrics`]).

use local_zk::LocalZooKeeper;

use crate::dev_metrics::{self, DevMetrics};

/// Starts ZooKeeper on 127.0.0.1:`port` and keeps it until Ctrl-C; with `metrics`
/// (`IP:PORT`), also serves Prometheus metrics there.
pub async fn dev(port: u16, metrics: Option<&str>) -> Result<(), String> {
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
