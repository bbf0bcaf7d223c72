//! Who published a version and why: the author and message a publish may carry, kept with the
//! version's history entry.
//!
//! Wire format: a history entry whose publish carried a [`PublishMeta`] starts with one line
//! `#zkmesh-meta ` followed by a TOML inline table, then the document byte for byte:
//!
//! ```text
//! #zkmesh-meta { author = "alice", message = "pool 8 -> 16 for the sale" }
//! pool = 16
//! ```
//!
//! The line is a TOML comment, so the entry is still the document for any TOML reader (a
//! Python or Java client that reads an entry gets the same value); zkmesh strips it when it
//! reads an entry back (history, rollback). Entries without the line (written by a client that
//! keeps no authors, by an older zkmesh, or archived from a plain `setData`) have an unknown
//! author and message. A document that itself starts with `#zkmesh-meta` is archived with an
//! empty line `#zkmesh-meta {}` in front, so that stripping one line always gives it back.
//! The document node itself never carries the line: watchers read exactly what was published.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// The longest author accepted, in bytes.
pub const MAX_AUTHOR_LEN: usize = 256;
/// The longest message accepted, in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// The first characters of an entry's metadata line.
pub(crate) const HEADER: &str = "#zkmesh-meta ";

/// The largest metadata line: both fields at their limit, every byte escaped (`\uXXXX`).
#[cfg(test)]
pub(crate) const MAX_HEADER_LEN: usize = HEADER.len() + 6 * (MAX_AUTHOR_LEN + MAX_MESSAGE_LEN) + 64;

/// The author and message of a publish, kept with the history entry of the version it writes
/// (see [`crate::ConfigCenter::publish_toml_with`] and the crate docs for the format).
///
/// ```
/// let meta = config_center::PublishMeta::new().author("alice").message("pool 8 -> 16");
/// assert_eq!(meta.author_name(), Some("alice"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishMeta {
    author: Option<String>,
    message: Option<String>,
}

impl PublishMeta {
    /// No author, no message.
    pub fn new() -> Self {
        PublishMeta::default()
    }

    /// Who publishes (a person or a pipeline), at most [`MAX_AUTHOR_LEN`] bytes. Default: none
    /// (shown as unknown).
    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.author = Some(author.into());
        self
    }

    /// Why, at most [`MAX_MESSAGE_LEN`] bytes; newlines are kept. Default: none.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// The author, if set.
    pub fn author_name(&self) -> Option<&str> {
        self.author.as_deref()
    }

    /// The message, if set.
    pub fn message_text(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Whether neither is set.
    pub fn is_empty(&self) -> bool {
        self.author.is_none() && self.message.is_none()
    }

    /// Refuses fields over their limits or with a NUL byte.
    pub(crate) fn check(&self, path: &str) -> Result<()> {
        let fields = [("author", &self.author, MAX_AUTHOR_LEN), ("message", &self.message, MAX_MESSAGE_LEN)];
        for (field, value, limit) in fields {
            let Some(value) = value else { continue };
            let reason = if value.len() > limit {
                format!("{} bytes, over the limit of {limit}", value.len())
            } else if value.contains('\0') {
                "contains a NUL byte".to_owned()
            } else {
                continue;
            };
            return Err(Error::InvalidMeta { path: path.to_owned(), field, reason });
        }
        Ok(())
    }

    /// The metadata line, with its line end: a TOML inline table of basic strings, on one line.
    fn header(&self) -> String {
        let fields = [("author", &self.author), ("message", &self.message)];
        let set: Vec<String> =
            fields.iter().filter_map(|(k, v)| v.as_deref().map(|v| format!("{k} = {}", quoted(v)))).collect();
        if set.is_empty() {
            return format!("{HEADER}{{}}\n");
        }
        format!("{HEADER}{{ {} }}\n", set.join(", "))
    }
}

/// `text` as a TOML basic string on one line.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The metadata of a rollback to `to`: `meta`, with a message saying so when it has none.
pub(crate) fn for_rollback(meta: &PublishMeta, to: i32) -> PublishMeta {
    let mut meta = meta.clone();
    if meta.message.is_none() {
        meta.message = Some(format!("rollback to version {to}"));
    }
    meta
}

/// What a history entry holds for `doc` published with `meta`: the document, with the metadata
/// line in front when there is metadata (or when the document starts like one).
pub(crate) fn entry_bytes<'a>(doc: &'a str, meta: Option<&PublishMeta>) -> Cow<'a, [u8]> {
    match meta.filter(|m| !m.is_empty()) {
        Some(meta) => Cow::Owned(format!("{}{doc}", meta.header()).into_bytes()),
        None if doc.starts_with(HEADER.trim_end()) => {
            Cow::Owned(format!("{}{doc}", PublishMeta::new().header()).into_bytes())
        }
        None => Cow::Borrowed(doc.as_bytes()),
    }
}

/// An entry's metadata (`None`: none recorded) and its document bytes.
pub(crate) fn split_entry(data: &[u8]) -> (Option<PublishMeta>, &[u8]) {
    let Some(rest) = data.strip_prefix(HEADER.trim_end().as_bytes()) else { return (None, data) };
    let end = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |i| i + 1);
    let (line, doc) = rest.split_at(end);
    let meta = std::str::from_utf8(line)
        .ok()
        .and_then(|line| format!("meta = {}", line.trim()).parse::<toml::Table>().ok())
        .and_then(|mut t| match t.remove("meta") {
            Some(toml::Value::Table(t)) => Some(t),
            _ => None,
        })
        .map(|t| {
            let text = |key: &str| t.get(key).and_then(toml::Value::as_str).map(str::to_owned);
            PublishMeta { author: text("author"), message: text("message") }
        });
    (meta.filter(|m| !m.is_empty()), doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_with_metadata_is_still_the_document_for_a_toml_reader() {
        let meta = PublishMeta::new().author("alice \"a\"").message("two\nlines");
        let entry = entry_bytes("pool = 16\n", Some(&meta));
        let text = std::str::from_utf8(&entry).expect("utf-8");
        assert_eq!(text.lines().count(), 2, "one metadata line: {text}");
        let table: toml::Table = text.parse().expect("TOML");
        assert_eq!(table.get("pool").and_then(toml::Value::as_integer), Some(16));
        let (back, doc) = split_entry(&entry);
        assert_eq!(back, Some(meta));
        assert_eq!(doc, b"pool = 16\n");
    }

    #[test]
    fn entries_without_metadata_are_kept_byte_for_byte() {
        assert!(matches!(entry_bytes("a = 1\n", None), Cow::Borrowed(_)));
        assert!(matches!(entry_bytes("a = 1\n", Some(&PublishMeta::new())), Cow::Borrowed(_)));
        assert_eq!(split_entry(b"a = 1\n"), (None, &b"a = 1\n"[..]));
        // A document that starts like the line comes back whole.
        let odd = "#zkmesh-meta { author = \"x\" }\na = 1\n";
        let entry = entry_bytes(odd, None);
        assert_eq!(split_entry(&entry), (None, odd.as_bytes()));
    }

    #[test]
    fn fields_over_their_limits_are_refused() {
        let long = PublishMeta::new().author("x".repeat(MAX_AUTHOR_LEN + 1));
        assert!(matches!(long.check("/p"), Err(Error::InvalidMeta { field: "author", .. })));
        let nul = PublishMeta::new().message("a\0b");
        assert!(matches!(nul.check("/p"), Err(Error::InvalidMeta { field: "message", .. })));
        let most = PublishMeta::new().author("\u{1}".repeat(MAX_AUTHOR_LEN)).message("é".repeat(2048));
        assert!(most.check("/p").is_ok());
        assert!(most.header().len() <= MAX_HEADER_LEN, "{}", most.header().len());
    }
}
