//! TOML text and where it lives: parsing with positions, UTF-8 decoding and the table-wise deep
//! merge the layers go through (see `schema.rs` for the layers and the typed conversion).
//!
//! Merging is table-wise and deep: where both layers hold a table, the higher one's keys are
//! merged one by one into the lower one's; anything else (a value, an array, a table over a value
//! or the other way round) is replaced whole by the higher layer.
//!
//! Every layer keeps its source positions: the document's spans are its own byte offsets, the
//! other layers' spans are moved past [`LAYER_BASE`], each to a range of its own. The merged tree
//! is deserialized with toml's spanned deserializer, so an error points at the line and column of
//! the text that holds the offending value, whichever layer it came from.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::{Error, Result};

/// Spans at or past this offset belong to the defaults and the environment overrides.
pub(crate) const LAYER_BASE: usize = usize::MAX / 2;

/// A piece of TOML text and where it lives.
#[derive(Debug, Clone)]
pub(crate) struct Text {
    /// Where the text lives, for errors: a ZooKeeper path, a file, `<defaults>`, `$VAR`.
    pub(crate) label: String,
    /// The ZooKeeper data version, for a ZooKeeper document.
    pub(crate) version: Option<i32>,
    pub(crate) text: String,
    /// Offset of the text's first byte in the merged tree's span space.
    pub(crate) offset: usize,
}

impl Text {
    /// A ZooKeeper document (or one about to be published: `version` is then `None`).
    pub(crate) fn document(path: &str, version: Option<i32>, text: String) -> Text {
        Text { label: path.to_owned(), version, text, offset: 0 }
    }

    pub(crate) fn other(label: String, text: String) -> Text {
        Text { label, version: None, text, offset: 0 }
    }

    pub(crate) fn contains(&self, pos: usize) -> bool {
        pos >= self.offset && pos - self.offset <= self.text.len()
    }

    /// 1-based line and column (in characters) of the absolute position `pos`.
    fn line_column(&self, pos: usize) -> (usize, usize) {
        line_column(&self.text, pos.saturating_sub(self.offset))
    }

    /// An error at `span` (absolute) in this text, with `while` naming the document being loaded
    /// when this text is another layer.
    pub(crate) fn error(&self, span: Option<Range<usize>>, message: String, doc: Option<&Text>) -> Error {
        let (line, column) = match span {
            Some(span) if self.contains(span.start) => {
                let (l, c) = self.line_column(span.start);
                (Some(l), Some(c))
            }
            _ => (None, None),
        };
        let message = match doc {
            Some(doc) if doc.label != self.label => match doc.version {
                Some(v) => format!("{message} (while applying {} version {v})", doc.label),
                None => format!("{message} (while applying {})", doc.label),
            },
            _ => message,
        };
        Error::ConfigParse { path: self.label.clone(), version: self.version, line, column, message }
    }

    /// Parses the text as a TOML document, with spans moved to the text's offset.
    pub(crate) fn parse(&self, doc: Option<&Text>) -> Result<Spanned<DeTable<'_>>> {
        let table = DeTable::parse(&self.text).map_err(|e| {
            let span = e.span().map(|s| s.start + self.offset..s.end + self.offset);
            self.error(span, e.message().to_owned(), doc)
        })?;
        let span = moved(table.span(), self.offset);
        Ok(Spanned::new(span, shift_table(table.into_inner(), self.offset)))
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `text`.
pub(crate) fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// Decodes a document read from ZooKeeper, refusing bytes that are not UTF-8.
pub(crate) fn decode(path: &str, version: Option<i32>, bytes: Vec<u8>) -> Result<Text> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Text::document(path, version, text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]);
            let (line, column) = line_column(&prefix, valid);
            Err(Error::ConfigParse {
                path: path.to_owned(),
                version,
                line: Some(line),
                column: Some(column),
                message: "the document is not valid UTF-8".to_owned(),
            })
        }
    }
}

fn moved(span: Range<usize>, by: usize) -> Range<usize> {
    span.start + by..span.end + by
}

pub(crate) fn shift(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    if by == 0 {
        return value;
    }
    let span = moved(value.span(), by);
    let inner = match value.into_inner() {
        DeValue::Table(table) => DeValue::Table(shift_table(table, by)),
        DeValue::Array(mut array) => {
            for item in array.iter_mut() {
                let taken = std::mem::replace(item, Spanned::new(0..0, DeValue::Boolean(false)));
                *item = shift(taken, by);
            }
            DeValue::Array(array)
        }
        other => other,
    };
    Spanned::new(span, inner)
}

fn shift_table(table: DeTable<'_>, by: usize) -> DeTable<'_> {
    if by == 0 {
        return table;
    }
    table
        .into_iter()
        .map(|(key, value)| (Spanned::new(moved(key.span(), by), key.into_inner()), shift(value, by)))
        .collect()
}

/// Table-wise deep merge of `upper` into `lower`.
pub(crate) fn merge<'i>(lower: &mut DeTable<'i>, upper: DeTable<'i>) {
    for (key, value) in upper {
        let merged = match lower.remove::<str>(key.get_ref()) {
            Some(below) => merge_value(below, value),
            None => value,
        };
        lower.insert(key, merged);
    }
}

fn merge_value<'i>(lower: Spanned<DeValue<'i>>, upper: Spanned<DeValue<'i>>) -> Spanned<DeValue<'i>> {
    let span = upper.span();
    match (lower.into_inner(), upper.into_inner()) {
        (DeValue::Table(mut below), DeValue::Table(above)) => {
            merge(&mut below, above);
            Spanned::new(span, DeValue::Table(below))
        }
        (_, above) => Spanned::new(span, above),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_is_refused_with_a_position() {
        let err = decode("/p", Some(1), b"a = 1\nb = \"\xff\"".to_vec()).expect_err("not UTF-8");
        assert!(matches!(err, Error::ConfigParse { line: Some(2), column: Some(6), .. }), "{err:?}");
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("a\nbé c", 6), (2, 4));
        assert_eq!(line_column("a\n", 2), (2, 1));
    }
}
