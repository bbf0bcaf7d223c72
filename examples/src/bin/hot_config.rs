//! A typed, validated config hot-reloaded from ZooKeeper: publish two versions, see a bad
//! document refused (the last good value stays, the error says where), roll back, read the
//! history.
//!
//! ```text
//! cargo run -p examples --bin hot_config -- --zk 127.0.0.1:2181
//! ```
use std::time::Duration;

use config_center::{Config, ConfigCenter, Expect};
use examples::BoxError;
use registry::Session;
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(5);

/// The config, as the application sees it.
#[derive(Debug, Serialize, Deserialize)]
struct Pool {
    url: String,
    size: u32,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    examples::run("hot_config", story).await
}

async fn story(zk: String) -> Result<(), BoxError> {
    let session = Session::connect(&zk).await?;
    let center = ConfigCenter::builder().build(session)?;
    // One document, `/config/shop/pool`, bound to a type, defaults and a validator. Watchers and
    // publishers of this spec check documents the same way.
    let spec = center
        .config::<Pool>("shop", "pool")?
        .defaults(Pool { url: "postgres://localhost/shop".into(), size: 4 })
        .validator(|p: &Pool| match p.size {
            1..=64 => Ok(()),
            size => Err(format!("size must be 1..=64, not {size}")),
        });

    // The node does not exist yet: the watch serves the defaults.
    let mut pool = spec.watch().await?;
    println!("start: size {} from {:?}", pool.load().size, pool.source());

    // Publish with compare-and-set; `changed()` wakes when the watcher has accepted the value.
    let v = spec.publish(&Pool { url: "postgres://db1/shop".into(), size: 8 }, Expect::Absent).await?;
    println!("published version {}", v.version);
    let value = pool.changed().await?;
    println!("loaded version {}: size {}, url {}", version(&pool)?, value.size, value.url);

    // A partial document: the defaults fill in what it leaves out (here, `url`).
    let v = spec.publish_toml("size = 16\n", Expect::Version(v.version)).await?;
    let value = pool.changed().await?;
    println!("loaded version {}: size {}, url {}", version(&pool)?, value.size, value.url);
    let good = v.version;

    // A typed publisher checks first: the validator refuses this before anything is written.
    match spec.publish_toml("size = 0\n", Expect::Any).await {
        Err(e) => println!("publisher refused: {e}"),
        Ok(_) => return Err("size = 0 was published".into()),
    }
    // A writer that does not know the type (another tool, another language) writes it anyway.
    let bad = "url = \"postgres://db2/shop\"\nsize = \"lots\"\n";
    center.publish_toml("shop", "pool", bad, Expect::Version(good)).await?;
    // The watcher refuses it, keeps serving the last good value and says what is wrong, and where.
    pool.wait_for(WAIT, |_, status| status.error.is_some()).await?;
    let error = pool.last_error().ok_or("no error reported")?;
    println!("watcher refused: {error}");
    println!("still serving version {}: size {}", version(&pool)?, pool.load().size);

    // Roll back: the document of the last good version is published again, as a new version.
    let v = spec.rollback(good, Expect::Version(good + 1)).await?;
    let value = pool.changed().await?;
    println!("rolled back to version {good} as version {}: size {}", v.version, value.size);

    // Each publish kept the document it replaced, in the same transaction.
    for entry in spec.history().await? {
        println!("history: version {} ({} bytes)", entry.version, entry.size);
    }
    Ok(())
}

/// The ZooKeeper version of the document in use.
fn version(config: &Config<Pool>) -> Result<i32, BoxError> {
    Ok(config.version().ok_or("no document in use")?)
}
