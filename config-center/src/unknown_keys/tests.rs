//! Unknown keys found in documents of several shapes.

use std::collections::HashMap;

use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct App {
    message: String,
    #[serde(default)]
    level: u32,
    #[serde(default)]
    pool: Option<Pool>,
    #[serde(default)]
    servers: Vec<Server>,
    #[serde(default)]
    labels: HashMap<String, String>,
    #[serde(default, alias = "colour")]
    color: Option<String>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    ignored: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Pool {
    min: u32,
    max: u32,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Server {
    host: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Mode {
    Fast,
    Careful { retries: u32 },
}

fn unknown<T: for<'de> Deserialize<'de>>(text: &str) -> Vec<String> {
    let (_, found): (T, _) =
        deserialize(toml::de::Deserializer::parse(text).expect("TOML")).expect("deserializes");
    found.iter().map(|k| format!("{} | {}", k.dotted(), k.message())).collect::<Vec<_>>()
}

#[test]
fn a_typo_at_the_top_is_reported_with_the_expected_names() {
    assert_eq!(
        unknown::<App>("message = \"hi\"\nmesage = \"typo\"\n"),
        ["mesage | unknown field `mesage`, expected one of `message`, `level`, `pool`, `servers`, `labels`, `color`, `colour`, `mode`, `ignored`"]
    );
    assert!(unknown::<App>("message = \"hi\"\nlevel = 2\n").is_empty());
}

#[test]
fn keys_in_nested_tables_and_arrays_are_reported_with_their_table() {
    // (toml refuses unknown keys inside enum variants by itself.)
    let text = "message = \"m\"\n\
                [pool]\nmin = 1\nmax = 2\nmxa = 3\n\
                [[servers]]\nhost = \"a\"\n\
                [[servers]]\nhots = \"b\"\nhost = \"b\"\n\
                [mode.Careful]\nretries = 1\n";
    assert_eq!(
        unknown::<App>(text),
        [
            "pool.mxa | unknown field `mxa`, expected `min` or `max` (in `pool`)",
            "servers[1].hots | unknown field `hots`, expected `host` (in `servers[1]`)",
        ]
    );
}

#[test]
fn maps_aliases_and_ignored_any_fields_take_their_keys() {
    let text = "message = \"m\"\ncolour = \"red\"\nignored = { any = 1 }\nmode = \"Fast\"\n\
                [labels]\nanything = \"goes\"\n";
    assert!(unknown::<App>(text).is_empty());
}

#[test]
fn flattened_parts_are_not_looked_into() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(flatten)]
        inner: Pool,
    }
    assert!(unknown::<Outer>("name = \"n\"\nmin = 1\nmax = 2\nother = 3\n").is_empty());
}
