//! Reading a plain document (see `mod.rs`) into a borrowed tree, or `None` when it is not one.
//!
//! The TOML rules a plain document can break are all checked here: a key defined twice in a
//! table, a table defined twice by headers (one created by a deeper header, `[a.b]` before
//! `[a]`, may be defined once later), a header through a key that holds a value, control
//! characters in strings and comments, a CR that does not end a line, something after a value
//! on its line. Breaking any of them answers `None`, and toml's parser then reports it.

use std::sync::OnceLock;

/// A value of a plain document.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    /// A string without escapes, as written between its quotes.
    Str(&'a str),
    Int(i64),
    Bool(bool),
    /// A one-line array of strings, integers and booleans.
    Array(Vec<Value<'a>>),
    Table(Table<'a>),
}

/// A table: its keys in the order toml's own tables give them (`keys_sorted`).
#[derive(Debug, Clone)]
pub(crate) struct Table<'a> {
    pub(crate) entries: Vec<(&'a str, Value<'a>)>,
    /// Defined by a header (or the root), not only created by a deeper header.
    defined: bool,
}

/// The plain document `text` as a tree, or `None` when it is not plain (or not valid TOML).
pub(crate) fn parse(text: &str) -> Option<Table<'_>> {
    let mut root = Table { entries: Vec::new(), defined: true };
    // The table keys go to, as indexes from the root.
    let mut current: Vec<usize> = Vec::new();
    let mut made_defined = false;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        i = skip_blank(b, i);
        i = match b.get(i) {
            None => break,
            Some(b'\n' | b'\r' | b'#') => end_of_line(b, i)?,
            Some(b'[') => {
                let (next, path, was_implicit) = header(text, i, &mut root)?;
                made_defined |= was_implicit;
                current = path;
                end_of_line(b, next)?
            }
            Some(_) => {
                let (key, value, next) = key_value(text, i)?;
                table_at(&mut root, &current)?.entries.push((key, value));
                end_of_line(b, next)?
            }
        };
    }
    // In document order, toml may place a table defined after a deeper header elsewhere.
    if made_defined && !keys_sorted() {
        return None;
    }
    finish(&mut root).then_some(root)
}

/// Whether toml's tables give their keys sorted (the default) or in document order (its
/// `preserve_order` feature, which any crate in the build may turn on).
fn keys_sorted() -> bool {
    static SORTED: OnceLock<bool> = OnceLock::new();
    *SORTED.get_or_init(|| match toml::de::DeTable::parse("b = 1\na = 1") {
        Ok(table) => table.get_ref().keys().next().is_some_and(|k| k.get_ref() == "a"),
        Err(_) => true,
    })
}

/// Refuses a key defined twice in any table, and orders every table's keys as toml does.
fn finish(table: &mut Table<'_>) -> bool {
    let twice = if keys_sorted() {
        table.entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        table.entries.windows(2).any(|w| w[0].0 == w[1].0)
    } else {
        let mut keys: Vec<&str> = table.entries.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        keys.windows(2).any(|w| w[0] == w[1])
    };
    if twice {
        return false;
    }
    table.entries.iter_mut().all(|(_, v)| match v {
        Value::Table(t) => finish(t),
        _ => true,
    })
}

/// The table at `path` (indexes from the root, each a table by construction).
fn table_at<'t, 'a>(root: &'t mut Table<'a>, path: &[usize]) -> Option<&'t mut Table<'a>> {
    let mut table = root;
    for &i in path {
        match &mut table.entries.get_mut(i)?.1 {
            Value::Table(t) => table = t,
            _ => return None,
        }
    }
    Some(table)
}

fn skip_blank(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// After a line's content: blanks, an optional comment, then a line end or the end of the
/// text; the index past it.
fn end_of_line(b: &[u8], i: usize) -> Option<usize> {
    let mut i = skip_blank(b, i);
    if b.get(i) == Some(&b'#') {
        i += 1;
        while let Some(&c) = b.get(i) {
            if c == b'\n' || c == b'\r' {
                break;
            }
            if is_control(c) {
                return None;
            }
            i += 1;
        }
    }
    match b.get(i) {
        None => Some(i),
        Some(b'\n') => Some(i + 1),
        Some(b'\r') if b.get(i + 1) == Some(&b'\n') => Some(i + 2),
        _ => None,
    }
}

/// A control character TOML refuses in strings and comments (all but tab).
fn is_control(c: u8) -> bool {
    (c < 0x20 && c != b'\t') || c == 0x7f
}

/// A bare key starting at `i`, and the index past it.
fn bare_key(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let mut end = i;
    while matches!(b.get(end), Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-') {
        end += 1;
    }
    (end > i).then(|| (&text[i..end], end))
}

/// `key = value` at `i`: the key, the value, the index past the value.
fn key_value(text: &str, i: usize) -> Option<(&str, Value<'_>, usize)> {
    let b = text.as_bytes();
    let (key, i) = bare_key(text, i)?;
    let i = skip_blank(b, i);
    if b.get(i) != Some(&b'=') {
        return None;
    }
    let i = skip_blank(b, i + 1);
    let (value, end) = match b.get(i)? {
        b'[' => array(text, i)?,
        _ => scalar(text, i)?,
    };
    Some((key, value, end))
}

/// A string, an integer or a boolean at `i`, and the index past it.
fn scalar(text: &str, i: usize) -> Option<(Value<'_>, usize)> {
    match *text.as_bytes().get(i)? {
        quote @ (b'"' | b'\'') => string(text, i, quote),
        b't' | b'f' => boolean(text.as_bytes(), i),
        b'0'..=b'9' | b'+' | b'-' => integer(text, i),
        _ => None,
    }
}

/// `[a, b, c]` on one line (an empty one, a comma after the last item), of scalars.
fn array(text: &str, i: usize) -> Option<(Value<'_>, usize)> {
    let b = text.as_bytes();
    let mut items = Vec::new();
    let mut at = skip_blank(b, i + 1);
    loop {
        if b.get(at) == Some(&b']') {
            return Some((Value::Array(items), at + 1));
        }
        let (item, next) = scalar(text, at)?;
        items.push(item);
        at = skip_blank(b, next);
        match b.get(at)? {
            b',' => at = skip_blank(b, at + 1),
            b']' => return Some((Value::Array(items), at + 1)),
            _ => return None,
        }
    }
}

/// A one-line string opened by `quote` at `i`: no escapes in a basic one (`"`), no control
/// characters in either.
fn string(text: &str, i: usize, quote: u8) -> Option<(Value<'_>, usize)> {
    let b = text.as_bytes();
    let start = i + 1;
    let stop = |c: &u8| *c == quote || is_control(*c) || (quote == b'"' && *c == b'\\');
    let end = start + b[start..].iter().position(stop)?;
    if b[end] != quote {
        return None;
    }
    // `""` or `''` opening a multi-line string: the third quote ends no line.
    Some((Value::Str(&text[start..end]), end + 1))
}

fn boolean(b: &[u8], i: usize) -> Option<(Value<'static>, usize)> {
    let (value, end) = match &b[i..] {
        [b't', b'r', b'u', b'e', ..] => (true, i + 4),
        [b'f', b'a', b'l', b's', b'e', ..] => (false, i + 5),
        _ => return None,
    };
    Some((Value::Bool(value), end))
}

/// A decimal integer: an optional sign, then `0` or digits not starting with `0`, fitting an
/// `i64`. A float, a date, `0x1f` or `1_000` stops at a character that ends no line.
fn integer(text: &str, i: usize) -> Option<(Value<'static>, usize)> {
    let b = text.as_bytes();
    let digits = if matches!(b[i], b'+' | b'-') { i + 1 } else { i };
    let mut end = digits;
    while b.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    let leading_zero = b[digits..end].len() > 1 && b[digits] == b'0';
    if end == digits || leading_zero {
        return None;
    }
    text[i..end].parse().ok().map(|n| (Value::Int(n), end))
}

/// `[a]` or `[a.b]` at `i`: defines the table (creating the ones over it) and answers the
/// index past the `]`, the table's path, and whether it had been created by a deeper header.
fn header<'a>(text: &'a str, i: usize, root: &mut Table<'a>) -> Option<(usize, Vec<usize>, bool)> {
    let b = text.as_bytes();
    let mut at = skip_blank(b, i + 1);
    let mut keys = Vec::new();
    loop {
        let (key, next) = bare_key(text, at)?;
        keys.push(key);
        if b.get(next) != Some(&b'.') {
            at = skip_blank(b, next);
            break;
        }
        at = next + 1;
    }
    if b.get(at) != Some(&b']') {
        return None;
    }
    let (path, was_implicit) = define(root, &keys)?;
    Some((at + 1, path, was_implicit))
}

/// Defines the table at `keys`, creating the ones over it; its path, and whether it existed
/// (created by a deeper header). `None`: a key on the way holds a value, or the table is
/// defined already.
fn define<'a>(root: &mut Table<'a>, keys: &[&'a str]) -> Option<(Vec<usize>, bool)> {
    let mut path = Vec::with_capacity(keys.len());
    let mut table = root;
    let mut was_implicit = false;
    for (depth, key) in keys.iter().enumerate() {
        let last = depth + 1 == keys.len();
        let (i, existed) = match table.entries.iter().position(|(k, _)| k == key) {
            Some(i) => (i, true),
            None => {
                table.entries.push((key, Value::Table(Table { entries: Vec::new(), defined: false })));
                (table.entries.len() - 1, false)
            }
        };
        let Value::Table(next) = &mut table.entries[i].1 else { return None };
        if last {
            if next.defined {
                return None;
            }
            was_implicit = existed;
            next.defined = true;
        }
        path.push(i);
        table = next;
    }
    Some((path, was_implicit))
}
