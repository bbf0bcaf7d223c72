//! The plain path against toml's, on written and generated documents: whatever the plain path
//! answers, toml answers the same; and plain documents do take the plain path.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Deserialize;

use super::{deserialize, parse};
use crate::document::Text;
use crate::schema::{Layers, Schema};

/// The plain path's table (`None`: not plain).
fn plain(text: &str) -> Option<toml::Table> {
    deserialize(parse(text)?)
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    On,
    Off,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Inner {
    a: Option<String>,
    b: Option<u8>,
}

/// A type reading every key the generator writes, each as something else.
#[derive(Debug, Deserialize, PartialEq)]
#[allow(non_snake_case)]
struct Typed {
    a: Option<String>,
    b: Option<i64>,
    c: Option<bool>,
    name: Option<Mode>,
    port: Option<u16>,
    #[serde(rename = "x-y")]
    xy: Option<toml::Value>,
    #[serde(rename = "_1")]
    one: Option<BTreeMap<String, i64>>,
    k5: Option<Vec<String>>,
    k6: Option<(i64, bool)>,
    A: Option<Inner>,
}

/// A document as the deserializer hands it: keys in the order they come.
#[derive(Debug, PartialEq)]
enum Ordered {
    Leaf(String),
    Seq(Vec<Ordered>),
    Map(Vec<(String, Ordered)>),
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(format!("str {v}")))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(format!("i64 {v}")))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Leaf(format!("bool {v}")))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Seq(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Ordered>()? {
                    entries.push(entry);
                }
                Ok(Ordered::Map(entries))
            }
        }
        de.deserialize_any(V)
    }
}

/// What the plain path answers for `text` must be toml's answer: as a table, and as `Typed`.
fn agrees(text: &str) -> Result<bool, TestCaseError> {
    let Some(tree) = parse(text) else { return Ok(false) };
    let theirs = toml::from_str::<toml::Table>(text);
    prop_assert!(theirs.is_ok(), "plain, but toml refuses {text:?}: {:?}", theirs.err());
    prop_assert_eq!(deserialize::<toml::Table>(tree.clone()), theirs.ok(), "{:?}", text);
    let order = toml::from_str::<Ordered>(text).ok();
    prop_assert_eq!(deserialize::<Ordered>(tree.clone()), order, "keys in another order: {:?}", text);
    if let Some(ours) = deserialize::<Typed>(tree) {
        let theirs = toml::from_str::<Typed>(text);
        prop_assert_eq!(Some(ours), theirs.ok(), "{:?}", text);
    }
    Ok(true)
}

#[test]
fn plain_documents_read_as_toml_reads_them() {
    let docs = [
        "",
        "# only a comment\n\n",
        "a = \"x\"\nb = 12\nc = true\n",
        "b = -0\r\nc = false # done\r\n",
        "name = 'on' # a literal string, \\ kept\na = 'C:\\dir'\n",
        "a = \"héllo wörld ✓\"\nb = +9223372036854775807\n",
        "b = -9223372036854775808",
        "[A]\na = \"in A\"\nb = 7\n\n[_1]\nx = 1\ny = 2\n",
        "[A.inner]\nx = 1\n[A]\na = \"after its sub-table\"\n",
        "[ A ]\t# header with blanks\nb=1\n",
        "port = 8080\nx-y = \"any\"\nname = \"off\"\n",
        "a=\"\"\nb=0#c\n",
        "k5 = [\"a\", 'b']\nk6 = [ 1 , true, ]\nx-y = []\n[A]\nc = [-1,+2,\"x\" ] # mixed\n",
    ];
    for doc in docs {
        assert!(agrees(doc).expect("agrees"), "not plain: {doc:?}");
    }
    let typed = deserialize::<Typed>(parse("name = \"on\"\nport = 443\n[A]\nb = 3\n").expect("plain"));
    assert_eq!(typed.and_then(|t| t.name.zip(t.port)), Some((Mode::On, 443)));
}

#[test]
fn anything_else_takes_the_full_path() {
    let docs = [
        "a = \"esc\\n\"",
        "a = \"\"\"multi\"\"\"",
        "a = '''multi'''",
        "a = 1.5",
        "a = 1e3",
        "a = 1_000",
        "a = 0x1f",
        "a = 012",
        "a = 9223372036854775808",
        "a = inf",
        "a = 1979-05-27",
        "a = [1,\n2]",
        "a = [[1], 2]",
        "a = [1, { b = 1 }]",
        "a = [1,, 2]",
        "a = [1 2]",
        "a = [ , ]",
        "a = [1.5]",
        "a = [1",
        "a = [1\n",
        "a = [1 # no end\n",
        "a = [1] x",
        "a = { b = 1 }",
        "a.b = 1",
        "\"a\" = 1",
        "[[a]]\nb = 1",
        "[a . b]",
        "a = 1\na = 2",
        "[a]\n[a]",
        "a = 1\n[a]",
        "[a.b]\n[a]\nb = 1",
        "a = \"x\" b = 1",
        "a = truex",
        "a = \"tab\tok but \u{1} not\"",
        "# bell \u{7} in a comment",
        "a = 1\rb = 2",
        "a = \"unterminated\nb = 1",
        "a =",
        "= 1",
        "\u{feff}a = 1",
    ];
    for doc in docs {
        assert!(parse(doc).is_none(), "read as plain: {doc:?}");
    }
}

#[test]
fn a_value_the_type_skips_or_cannot_take_from_the_tree_takes_the_full_path() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Narrow {
        a: String,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct WithSpan {
        a: toml::Spanned<String>,
    }
    let tree = || parse("a = \"x\"\nb = 1\n").expect("plain");
    assert!(deserialize::<Narrow>(tree()).is_none(), "b is skipped: an unknown key for the full path");
    assert!(deserialize::<WithSpan>(tree()).is_none(), "a span needs toml's positions");
    assert!(deserialize::<BTreeMap<String, u8>>(parse("a = 300").expect("plain")).is_none());
}

/// Through the schema: a plain document converts to what the full path makes of it, and a
/// plain document the type refuses or does not fully read gets the full path's error.
#[test]
fn the_schema_answers_plain_documents_as_the_full_path_does() {
    let schema = Schema::<Typed> {
        path: "/config/ns/p".into(),
        layers: Layers::new(None, Vec::new()).expect("layers"),
        validator: None,
        allow_unknown_keys: false,
    };
    let docs = ["a = \"x\"\nport = 80\n", "port = 70000\n", "mystery = 1\n", "name = \"dim\"\n"];
    for text in docs {
        assert!(parse(text).is_some(), "{text:?} is plain");
        let doc = Text::document("/config/ns/p", Some(3), text.into());
        let (ours, full) = (schema.convert(Some(&doc)), schema.parsed(Some(&doc)));
        assert_eq!(format!("{ours:?}"), format!("{full:?}"), "{text:?}");
    }
    let err = schema.convert(Some(&Text::document("/config/ns/p", Some(3), "mystery = 1\n".into())));
    assert!(format!("{err:?}").contains("mystery"), "the unknown key is named: {err:?}");
}

/// One line of a plain document (a key may come twice, a header may repeat: not all are
/// valid).
fn line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "a", "b", "c", "name", "port", "x-y", "_1", "A", "k1", "k2", "k3", "k4", "z-", "Q", "k5", "k6",
    ]);
    let text = "[a-z ./#\\t✓é]{0,8}";
    let value = prop_oneof![
        4 => text.prop_map(|s| format!("\"{}\"", s.replace('\\', "/"))),
        2 => text.prop_map(|s| format!("'{s}'")),
        3 => any::<i64>().prop_map(|n| n.to_string()),
        1 => (0..1000i64).prop_map(|n| format!("+{n}")),
        2 => any::<bool>().prop_map(|b| b.to_string()),
        1 => prop::sample::select(vec!["\"on\"", "'off'", "\"dim\"", "-0", "+0", "0"]).prop_map(String::from),
        2 => prop::collection::vec(prop::sample::select(vec!["\"x\"", "'y z'", "7", "-3", "true", "\"\""]), 0..4)
            .prop_flat_map(|items| {
                let joined = items.join(", ");
                prop::sample::select(vec![format!("[{joined}]"), format!("[ {joined} , ]"), format!("[{joined},]")])
            }),
        // Near misses.
        1 => prop::sample::select(vec![
            "007", "-01", "+00", "\"\"\"a\"\"\"", "''''", "'''a'''", "1_0", "0x1", "1.0", "1e2", "nan", "TRUE",
            "\"a\\tb\"", "9223372036854775808", "-9223372036854775809", "[1,,2]", "[[1]]", "[1 2]", "[,]",
            "[1, 1.5]", "[{}]", "[\"a\",\n\"b\"]", "[1, # c\n2]",
        ])
        .prop_map(String::from),
    ];
    let separator = prop::sample::select(vec![" = ", "=", " =\t", "\t= "]);
    let tail = prop::sample::select(vec!["", "", " ", " # note ✓", "\t#x", "#"]);
    let header = prop::collection::vec(prop::sample::select(vec!["A", "_1", "b", "x-y", "k1"]), 1..3)
        .prop_flat_map(|keys| {
            let path = keys.join(".");
            prop::sample::select(vec![format!("[{path}]"), format!("[ {path} ]"), format!("\t[{path}]\t# t")])
        });
    prop_oneof![
        10 => (key, separator, value, tail).prop_map(|(k, s, v, t)| format!("{k}{s}{v}{t}")),
        2 => header,
        1 => text.prop_map(|s| format!("# {s}")),
        1 => Just(String::new()),
    ]
}

/// A plain document (lines joined with LF or CRLF), half the time with one odd piece put in
/// somewhere: an escape, a quote, a control character, a lone CR, a dot, a bracket...
fn document() -> impl Strategy<Value = String> {
    let end = prop::sample::select(vec!["\n", "\r\n", "\n\n"]);
    let odd = prop::sample::select(vec![
        "\\", "\\n", "\"", "'", "\u{1}", "\u{7f}", "\r", "\n", "_", "0", ".", "[", "]", "[[", "=", "#", " ",
        "x", "1.5", "e3", ":00", "é", "\u{feff}", "\u{80}", "\"\"", "''", "{}", "-", "+",
    ]);
    let lines = prop::collection::vec((line(), end), 0..9)
        .prop_map(|lines| lines.into_iter().map(|(l, e)| l + e).collect::<String>());
    (lines, prop::option::of((any::<prop::sample::Index>(), odd))).prop_map(|(mut text, odd)| {
        if let Some((at, piece)) = odd {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.insert_str(i, piece);
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_read_as_toml_reads_them(text in document()) {
        agrees(&text)?;
    }

    /// Documents written by toml from plain tables are plain (the path is taken, not only
    /// allowed).
    #[test]
    fn what_toml_writes_from_plain_values_is_plain(
        top in prop::collection::btree_map("[a-z][a-z0-9_-]{0,6}", plain_value(), 0..8),
        tables in prop::collection::btree_map("[a-z]{1,4}", prop::collection::btree_map("[a-z]{1,4}", plain_value(), 0..4), 0..3),
    ) {
        let mut table: toml::Table = top.into_iter().collect();
        for (name, inner) in tables {
            table.insert(name, toml::Value::Table(inner.into_iter().collect()));
        }
        let text = toml::to_string(&table).expect("TOML");
        prop_assert!(agrees(&text)?, "not plain: {:?}", text);
        prop_assert_eq!(plain(&text), Some(table));
    }
}

fn plain_value() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        "[a-zA-Z0-9 ./:@-]{0,12}".prop_map(toml::Value::String),
        any::<i64>().prop_map(toml::Value::Integer),
        any::<bool>().prop_map(toml::Value::Boolean),
    ]
}

/// The generator writes plain documents often enough to test the plain path (the properties
/// above would hold vacuously otherwise).
#[test]
fn the_generator_writes_plain_documents_often() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut plain_docs, mut with_keys) = (0, 0);
    for _ in 0..1000 {
        let text = document().new_tree(&mut runner).expect("a document").current();
        if let Some(tree) = parse(&text) {
            plain_docs += 1;
            with_keys += usize::from(count(&tree) >= 3);
        }
    }
    assert!(plain_docs >= 200 && with_keys >= 100, "{plain_docs} plain, {with_keys} with 3 keys or more");
}

/// Keys in a tree, at every depth.
fn count(table: &super::parse::Table<'_>) -> usize {
    let inner = |v: &super::parse::Value<'_>| match v {
        super::parse::Value::Table(t) => count(t),
        _ => 0,
    };
    table.entries.iter().map(|(_, v)| 1 + inner(v)).sum()
}
