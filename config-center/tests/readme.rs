//! The README's typed-config snippet ("Using it", "Typed config"), run against a real local
//! ZooKeeper. `demo` below holds the snippet's code verbatim; a second test checks that every
//! line of the README's snippet is here, in order, so that the two cannot drift apart.

mod common;

#[tokio::test]
async fn the_readme_typed_config_snippet_runs_on_a_fresh_zookeeper() {
    let registry = registry::Registry::builder().connect(&common::chroot("readme")).await.expect("registry");
    let dir = tempfile::tempdir().expect("tempdir");
    demo(registry, dir.path()).await.expect("the README snippet runs");
}

#[test]
fn this_file_holds_the_readme_snippet_verbatim() {
    local_zk::support::assert_readme_snippet_in(
        include_str!("../../README.md"),
        "config::<Db>(\"shop\", \"db\")",
        include_str!("readme.rs"),
    );
}

// README.md, "Typed config": the snippet's code, verbatim (rustfmt would reflow it).
#[rustfmt::skip]
async fn demo(registry: registry::Registry, cache_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
use config_center::{ConfigCenter, Expect};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Db { url: String, pool: u32 }

let center = ConfigCenter::builder()
    .cache_dir(cache_dir)                         // e.g. /var/cache/myapp (a folder per environment)
    .build(registry.session().clone())?;          // the registry's session
let db = center
    .config::<Db>("shop", "db")?
    .defaults(Db { url: "postgres://localhost/shop".into(), pool: 4 }) // until a document exists
    .env_prefix("SHOP_DB")                        // SHOP_DB__POOL=16 sets pool (two underscores)
    .validator(|db: &Db| if db.pool == 0 { Err("pool must be > 0".into()) } else { Ok(()) });

let mut config = db.watch().await?;               // no document yet: the defaults
println!("pool = {}", config.load().pool);        // config.load() -> Arc<Db>, no lock

// Checked as watchers check (TOML, type, unknown keys, validator), then compare-and-set.
db.publish(&Db { url: "postgres://db".into(), pool: 8 }, Expect::Any).await?;
let db_now = config.changed().await?;             // wakes on the next accepted value only
assert_eq!(db_now.pool, 8);
// config.status_changed().await? wakes on refused documents too (status.error): log, alert.
Ok(()) }
