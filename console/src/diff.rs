//! Line diffs for the page: `"  "` kept, `"- "` the current document, `"+ "` the new one.
//!
//! The diff itself is [`config_center::diff_lines`] (the one the command line shows too),
//! bounded in its work: past [`config_center::MAX_DIFF_CELLS`] the middle of two documents
//! is shown as removed and added wholesale, so a request cannot make the console allocate
//! without bound.

pub(crate) use config_center::diff_lines;

/// The diff of `old` to `new`, one line each, joined with `\n`.
pub(crate) fn diff(old: &str, new: &str) -> String {
    diff_lines(old, new).join("\n")
}
