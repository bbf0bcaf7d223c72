//! Who published a version and why: the author and message a publish may carry, and the
//! identity its session authenticated as, kept with the version's history entry.
//!
//! Wire format: a history entry written by zkmesh starts with one line `#zkmesh-meta ` followed
//! by a TOML inline table, then the document byte for byte:
//!
//! ```text
//! #zkmesh-meta { author = "alice", message = "pool 8 -> 16 for the sale", identity = "digest:alice" }
//! pool = 16
//! ```
//!
//! `author` and `message` are what the caller says (free text); `identity` is not the caller's
//! to set: it is what the publishing session authenticated as (`registry::Session::identity`:
//! ZooKeeper's `whoami` where the server answers it, else the names of the credentials given,
//! `anonymous (no credentials)` without any), never a secret.
//!
//! The line is a TOML comment, so the entry is still the document for any TOML reader (a
//! Python or Java client that reads an entry gets the same value); zkmesh strips it when it
//! reads an entry back (history, rollback). Entries without the line (written by a client that
//! keeps no authors, by an older zkmesh, or archived from a plain `setData`) have an unknown
//! author, message and identity; so do entries whose line has no `identity` (an older zkmesh).
//! A document that itself starts with `#zkmesh-meta` is archived with an empty line `#zkmesh-meta {}` in front, so that stripping one line always gives it back.
//! The document node itself never carries the line: watchers read exactly what was published.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// The longest author accepted, in bytes.
pub const MAX_AUTHOR_LEN: usize = 256;
/// The longest message accepted, in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The longest identity recorded, in bytes (a longer one, such as a long x509 subject, is cut
/// at a character boundary).
const MAX_IDENTITY_LEN: usize = 1024;

/// The first characters of an entry's metadata line.
pub(crate) const HEADER: &str = "#zkmesh-meta ";

/// The largest metadata line: both fields at their limit, every byte escaped (`\uXXXX`).
#[cfg(test)]
pub(crate) const MAX_HEADER_LEN: usize =
    HEADER.len() + 6 * (MAX_AUTHOR_LEN + MAX_MESSAGE_LEN + MAX_IDENTITY_LEN) + 80;

/// The author and message of a publish, kept with the history entry of the version it writes
/// (see [`crate::ConfigCenter::publish_toml_with`] and the crate docs for the format), beside
/// the identity the publishing session authenticated as (recorded by the publish itself; a
/// caller cannot set it).
///
/// ```
/// let meta = zkmesh_config::PublishMeta::new().author("alice").message("pool 8 -> 16");
/// assert_eq!(meta.author_name(), Some("alice"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishMeta {
    author: Option<String>,
    message: Option<String>,
    identity: Option<String>,
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

    /// The identity the publishing session authenticated as (`digest:alice`, `sasl:alice`,
    /// `x509:CN=...`, `anonymous (no credentials)`), as read back from a history entry; `None`
    /// on a [`PublishMeta`] built by a caller, and for entries that recorded none.
    pub fn identity_name(&self) -> Option<&str> {
        self.identity.as_deref()
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.author.is_none() && self.message.is_none() && self.identity.is_none()
    }

    /// This metadata, recording `identity` (cut to [`MAX_IDENTITY_LEN`] bytes).
    pub(crate) fn with_identity(mut self, identity: &str) -> Self {
        let mut end = identity.len().min(MAX_IDENTITY_LEN);
        while !identity.is_char_boundary(end) {
            end -= 1;
        }
        self.identity = Some(identity[..end].to_owned());
        self
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
        let fields = [("author", &self.author), ("message", &self.message), ("identity", &self.identity)];
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
            PublishMeta { author: text("author"), message: text("message"), identity: text("identity") }
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
    fn the_identity_is_kept_beside_author_and_message() {
        let meta = PublishMeta::new().author("a").with_identity("digest:alice");
        let entry = entry_bytes("x = 1\n", Some(&meta));
        let text = std::str::from_utf8(&entry).expect("utf-8");
        assert!(text.starts_with("#zkmesh-meta { author = \"a\", identity = \"digest:alice\" }\n"), "{text}");
        let (back, doc) = split_entry(&entry);
        let back = back.expect("metadata");
        assert_eq!(back.identity_name(), Some("digest:alice"));
        assert_eq!(back.author_name(), Some("a"));
        assert_eq!(doc, b"x = 1\n");
        // Only an identity: still recorded.
        let only = PublishMeta::new().with_identity("anonymous (no credentials)");
        let (back, _) = split_entry(&entry_bytes("x = 1\n", Some(&only)));
        assert_eq!(back.and_then(|m| m.identity.clone()).as_deref(), Some("anonymous (no credentials)"));
        // An older entry with no identity: unknown.
        let (old, _) = split_entry(b"#zkmesh-meta { author = \"bob\" }\nx = 1\n");
        assert_eq!(old.as_ref().and_then(PublishMeta::identity_name), None);
        assert_eq!(old.as_ref().and_then(PublishMeta::author_name), Some("bob"));
        // Cut at a character boundary.
        let long = PublishMeta::new().with_identity(&format!("x509:CN={}", "é".repeat(MAX_IDENTITY_LEN)));
        assert!(long.identity_name().is_some_and(|i| i.len() <= MAX_IDENTITY_LEN));
    }

    #[test]
    fn fields_over_their_limits_are_refused() {
        let long = PublishMeta::new().author("x".repeat(MAX_AUTHOR_LEN + 1));
        assert!(matches!(long.check("/p"), Err(Error::InvalidMeta { field: "author", .. })));
        let nul = PublishMeta::new().message("a\0b");
        assert!(matches!(nul.check("/p"), Err(Error::InvalidMeta { field: "message", .. })));
        let most = PublishMeta::new()
            .author("\u{1}".repeat(MAX_AUTHOR_LEN))
            .message("é".repeat(2048))
            .with_identity(&"\u{1}".repeat(MAX_IDENTITY_LEN));
        assert!(most.check("/p").is_ok());
        assert!(most.header().len() <= MAX_HEADER_LEN, "{}", most.header().len());
    }
}
