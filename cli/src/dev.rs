//! `zkmesh dev`: a local ZooKeeper for development, in the foreground.

use registry::LocalZooKeeper;

/// Starts ZooKeeper on 127.0.0.1:`port` and keeps it until Ctrl-C.
pub async fn dev(port: u16) -> Result<(), String> {
    let mut interrupt = crate::interrupt::Interrupt::new()?;
    let zk = LocalZooKeeper::builder().port(port).start().await.map_err(|e| e.to_string())?;
    println!("ZooKeeper is serving on {} (data in {})", zk.connect_string(), zk.data_dir().display());
    println!("try: zkmesh --zk {} services   (Ctrl-C stops it)", zk.connect_string());
    interrupt.recv().await;
    drop(zk);
    println!("stopped");
    Ok(())
}
