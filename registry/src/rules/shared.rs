//! One parse per rules document per process: every subscription of a process that follows the
//! same service (one per session, or several on one session with other options) reads the same
//! bytes at each change; the first to read a text parses it, the others share its [`Rules`]
//! (and its text), so a change costs the process one parse however many follow it.
//!
//! Keyed by the document's path and compared by its whole text, not by its version or mzxid
//! (after ZooKeeper was wiped and rebuilt, another document can come back with the same stat).
//! Only the last text per path is kept, for at most [`PATHS`] paths (all are dropped when one
//! more comes). A refusal is not kept: each subscription parses a refused text itself and
//! reports its own error, with line and column.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use super::Rules;
use crate::error::Result;
use crate::session::lock;

/// How many documents' last texts are kept at most.
const PATHS: usize = 256;

/// A document's last text parsed, with its rules.
type Parsed = (Arc<str>, Arc<Rules>);

/// The last text parsed per document path.
static LAST: LazyLock<Mutex<HashMap<String, Parsed>>> = LazyLock::new(Mutex::default);

/// `text` (the document at `path`) parsed, shared with every other subscription of the process
/// that read the same text there; and the text, shared likewise.
///
/// # Errors
/// As [`Rules::parse`].
pub(crate) fn parse_shared(path: &str, text: &str) -> Result<(Arc<Rules>, Arc<str>)> {
    let mut last = lock(&LAST);
    if let Some((known, rules)) = last.get(path) {
        if **known == *text {
            return Ok((rules.clone(), known.clone()));
        }
    }
    // Parsed under the lock: the other subscriptions reading this change wait for it rather
    // than parse the same text again.
    let rules = Arc::new(Rules::parse(text)?);
    let text: Arc<str> = text.into();
    if last.len() >= PATHS && !last.contains_key(path) {
        last.clear();
    }
    last.insert(path.to_owned(), (text.clone(), rules.clone()));
    Ok((rules, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_at_a_path_is_parsed_once_and_shared() {
        let text = "[[override]]\naddress = \"a:1\"\ndisabled = true\n";
        let (first, first_text) = parse_shared("/shared-test/a/rules", text).expect("parses");
        let (again, again_text) = parse_shared("/shared-test/a/rules", text).expect("parses");
        assert!(Arc::ptr_eq(&first, &again) && Arc::ptr_eq(&first_text, &again_text));
        let (other, _) = parse_shared("/shared-test/b/rules", text).expect("parses");
        assert!(!Arc::ptr_eq(&first, &other), "another path parses its own");
        assert_eq!(*first, *other);
    }

    #[test]
    fn another_text_replaces_the_last_and_a_refused_text_keeps_it() {
        let path = "/shared-test/c/rules";
        let (one, _) = parse_shared(path, "[tags]\n").expect("parses");
        let (two, _) = parse_shared(path, "[tags]\nstrict = true\n").expect("parses");
        assert_ne!(*one, *two);
        let error = parse_shared(path, "[tags]\nstrict = 3\n").expect_err("refused");
        assert!(matches!(error, crate::Error::InvalidRules { line: Some(2), .. }), "{error:?}");
        let (still, _) = parse_shared(path, "[tags]\nstrict = true\n").expect("parses");
        assert!(Arc::ptr_eq(&two, &still), "the refusal did not replace the last good text");
    }
}
