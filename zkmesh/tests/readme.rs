//! The crate's docs are the repository README's "Using it" section: `zkmesh/README.md` must be
//! what `scripts/facade-readme` makes of README.md, so that the examples the doc tests run are
//! the ones users read.

const README: &str = include_str!("../../README.md");
const FACADE: &str = include_str!("../README.md");

fn using_it(readme: &str) -> &str {
    let start = readme.find("\n## Using it\n").expect("README.md has a \"## Using it\" section") + 1;
    let end = start + readme[start..].find("\n### ").expect("\"Using it\" has subsections") + 1;
    &readme[start..end]
}

#[test]
fn the_crate_docs_hold_the_readme_using_it_section_verbatim() {
    let section = using_it(README);
    assert!(
        FACADE.ends_with(section),
        "zkmesh/README.md differs from README.md's \"Using it\": run `python3 scripts/facade-readme`"
    );
}

#[test]
fn the_using_it_section_shows_runnable_examples_of_the_registry_and_the_config_center() {
    let section = using_it(README);
    let runnable = section.matches("\n```rust\n").count();
    assert!(runnable >= 2, "the registry and config examples run as doc tests (```rust, not no_run)");
    assert!(
        section.contains("use zkmesh::{Registry, ServiceUrl"),
        "the registry example imports from zkmesh"
    );
    assert!(section.contains("use zkmesh::{ConfigCenter, Expect}"), "the config example imports from zkmesh");
}

#[test]
fn the_feature_table_lists_every_feature_of_the_crate() {
    let manifest = include_str!("../Cargo.toml");
    let features = manifest
        .split("[features]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [features] table");
    let section = using_it(README);
    for line in features.lines().filter(|l| !l.starts_with('#') && l.contains(" = ")) {
        let name = line.split(" = ").next().unwrap_or_default().trim();
        if name != "default" {
            assert!(
                section.contains(&format!("| `{name}` |")),
                "feature `{name}` is not in the README's table"
            );
        }
    }
}
