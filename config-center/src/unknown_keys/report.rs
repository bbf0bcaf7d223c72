//! What [`deserialize`](super::deserialize) reports: a key the type did not read, where it
//! is, and serde's words for it.

use std::fmt;

use serde::de;

/// One step from the top of the document to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A table's key (or an enum's variant).
    Key(String),
    /// An array's element.
    Index(usize),
}

/// A key the type did not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownKey {
    /// From the top of the document to the key; the last step is the key.
    pub(crate) path: Vec<Step>,
    /// The fields of the struct that holds it (`None`: not a struct).
    pub(crate) expected: Option<&'static [&'static str]>,
}

impl UnknownKey {
    /// The key's dotted path (`pool.mesage`, `servers[1].hots`).
    pub(crate) fn dotted(&self) -> String {
        dotted(&self.path)
    }

    /// serde's words for it, and the table it is in when that is not the top:
    /// "unknown field `mesage`, expected `min` or `max` (in `pool`)".
    pub(crate) fn message(&self) -> String {
        let key = match self.path.last() {
            Some(Step::Key(key)) => key.clone(),
            Some(Step::Index(i)) => i.to_string(),
            None => String::new(),
        };
        let words = match self.expected {
            Some(fields) => <Words as de::Error>::unknown_field(&key, fields).0,
            None => format!("unknown field `{key}`"),
        };
        match self.path.split_last() {
            Some((_, table)) if !table.is_empty() => format!("{words} (in `{}`)", dotted(table)),
            _ => words,
        }
    }
}

fn dotted(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(key) if out.is_empty() => out.push_str(key),
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// serde's own wording of an error, to borrow `unknown_field`'s.
#[derive(Debug)]
struct Words(String);

impl fmt::Display for Words {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Words {}

impl de::Error for Words {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Words(message.to_string())
    }
}
