//! Plain documents: the common shape of a config document, read without toml's parser.
//!
//! Every watcher converts every document it reads, and every publish checks the document it
//! writes. toml's parser spends about 27,000 instructions on a 250-byte document (a lexer that
//! collects tokens, an event stream, a spanned tree), and its spanned deserializer 13,000 more
//! with unknown-key tracking: with a hundred watchers in a process, about 0.8 ms of CPU per
//! publish (BENCHMARKS.md, config). Most documents are *plain*:
//!
//! - `key = value` lines with bare keys (`A-Z a-z 0-9 _ -`), no dotted keys;
//! - values: basic strings without escapes (`"text"`), literal strings (`'text'`), decimal
//!   integers that fit an `i64` (no `_`, no leading zero), `true` and `false`, and one-line
//!   arrays of those (`hosts = ["a", "b"]`);
//! - `[table]` and `[table.sub]` headers of bare keys;
//! - comments, blank lines, spaces and tabs, LF or CRLF line ends.
//!
//! [`parse`] reads such a document into a borrowed tree in one pass, and [`deserialize`] hands
//! it to the type the way toml's deserializer hands the same document (the same visitor calls,
//! keys in the same order). Anything else (multi-line or nested arrays, inline tables, floats,
//! dates, escapes, quoted or dotted keys, arrays of tables, an invalid document) makes
//! [`parse`] answer `None`,
//! and anything the plain deserializer cannot answer exactly as toml would (a value the type
//! skips, which may be an unknown key; `Spanned` or `Datetime` fields; an enum written as a
//! table; any error) makes [`deserialize`] answer `None`. Then the caller takes the full path
//! (`schema.rs`), which parses with toml and reports errors with their positions, so a plain
//! read never changes what a document means or how it is refused: `tests.rs` compares the
//! two on generated documents, valid and invalid.
//!
//! Only a document read alone takes this path (no defaults, ZooKeeper layers or environment
//! overrides to merge with it).

mod de;
mod parse;
#[cfg(test)]
mod tests;

pub(crate) use de::deserialize;
pub(crate) use parse::parse;
