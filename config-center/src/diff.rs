//! [`diff_lines`]: the line diff of two documents that `zkmesh config diff`, `zkmesh rules
//! diff` and the web console show, bounded in the work it does.

/// The largest table (lines of one side times lines of the other, after the common head and
/// tail are cut) the longest-common-subsequence step of [`diff_lines`] builds: 4,000,000
/// cells (16 MB), two documents of 2,000 lines that differ everywhere.
pub const MAX_DIFF_CELLS: usize = 4_000_000;

/// The line diff of `old` to `new`: every line of both, in order, prefixed with `"  "` (in
/// both), `"- "` (only in `old`) or `"+ "` (only in `new`).
///
/// The common head and tail are cut first, then the lines between are diffed by longest
/// common subsequence. When that middle is too large (more than [`MAX_DIFF_CELLS`] cells,
/// say two documents of several thousand lines that differ throughout), the diff is coarser
/// instead of unbounded: the common head and tail are still kept, and the whole middle of
/// `old` is shown as removed, then the whole middle of `new` as added (a correct diff, not a
/// minimal one), so that no input makes a caller allocate without bound.
///
/// ```
/// let d = zkmesh_config::diff_lines("a = 1\nb = 2\n", "a = 1\nb = 3\n");
/// assert_eq!(d, ["  a = 1", "- b = 2", "+ b = 3"]);
/// ```
pub fn diff_lines(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (mid_a, mid_b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<String> = a[..head].iter().map(|l| format!("  {l}")).collect();
    if (mid_a.len() + 1).saturating_mul(mid_b.len() + 1) > MAX_DIFF_CELLS {
        out.extend(mid_a.iter().map(|l| format!("- {l}")));
        out.extend(mid_b.iter().map(|l| format!("+ {l}")));
    } else {
        out.extend(lcs_diff(mid_a, mid_b));
    }
    out.extend(a[a.len() - tail..].iter().map(|l| format!("  {l}")));
    out
}

/// The longest-common-subsequence diff of `a` to `b` (one flat table of `u32`).
fn lcs_diff(a: &[&str], b: &[&str]) -> Vec<String> {
    let width = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lines` numbered `<prefix><i>` for `i` in `range`, one per line.
    fn numbered(prefix: &str, range: std::ops::Range<usize>) -> String {
        range.map(|i| format!("{prefix}{i}\n")).collect()
    }

    #[test]
    fn a_diff_keeps_common_lines_and_marks_removed_and_added_ones() {
        let d = diff_lines("a = 1\nb = 2\nc = 3\n", "a = 1\nb = 5\nc = 3\nd = 4\n");
        assert_eq!(d, ["  a = 1", "- b = 2", "+ b = 5", "  c = 3", "+ d = 4"]);
        assert!(diff_lines("x = 1\n", "x = 1\n").iter().all(|l| l.starts_with("  ")));
        assert_eq!(diff_lines("", "a\n"), ["+ a"]);
        assert_eq!(diff_lines("a\n", ""), ["- a"]);
        assert!(diff_lines("", "").is_empty());
    }

    #[test]
    fn a_diff_in_the_middle_of_equal_lines_is_minimal() {
        let old = format!("{}x\ny\n{}", numbered("h", 0..50), numbered("t", 0..50));
        let new = format!("{}y\nz\n{}", numbered("h", 0..50), numbered("t", 0..50));
        let changes: Vec<String> =
            diff_lines(&old, &new).into_iter().filter(|l| !l.starts_with(' ')).collect();
        assert_eq!(changes, ["- x", "+ z"]);
    }

    #[test]
    fn documents_too_large_to_diff_line_by_line_show_their_middle_replaced_and_keep_head_and_tail() {
        let old = format!("head\n{}tail\n", numbered("a", 0..3000));
        let new = format!("head\n{}tail\n", numbered("b", 0..3000));
        const { assert!(3001 * 3001 > MAX_DIFF_CELLS, "the middle is past the bound") };
        let d = diff_lines(&old, &new);
        assert_eq!(d.len(), 6002);
        assert_eq!((d[0].as_str(), d[6001].as_str()), ("  head", "  tail"));
        assert!(d[1..3001].iter().all(|l| l.starts_with("- a")), "the old middle, removed");
        assert!(d[3001..6001].iter().all(|l| l.starts_with("+ b")), "then the new one, added");
    }

    #[test]
    fn every_line_of_both_documents_is_in_the_diff_in_order() {
        let old = "a\nb\nc\nb\na\n";
        let new = "b\na\nc\na\nb\n";
        let d = diff_lines(old, new);
        let kept_or = |sign: char| -> Vec<&str> {
            d.iter().filter(|l| l.starts_with(' ') || l.starts_with(sign)).map(|l| &l[2..]).collect()
        };
        assert_eq!(kept_or('-'), old.lines().collect::<Vec<_>>());
        assert_eq!(kept_or('+'), new.lines().collect::<Vec<_>>());
    }
}
