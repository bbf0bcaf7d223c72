//! Line diffs for the page: `"  "` kept, `"- "` the current document, `"+ "` the new one.
//!
//! A longest common subsequence over the lines that differ (the common head and tail are cut
//! first); past [`MAX_CELLS`] (two documents that differ everywhere, near the size limit) the
//! middle is shown as removed and added wholesale, so a request cannot make the console
//! allocate without bound.

/// The largest table the longest-common-subsequence step builds.
const MAX_CELLS: usize = 4_000_000;

/// The diff of `old` to `new`, one line each, joined with `\n`.
pub(crate) fn diff(old: &str, new: &str) -> String {
    diff_lines(old, new).join("\n")
}

/// The diff of `old` to `new`, one entry per line.
pub(crate) fn diff_lines(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (mid_a, mid_b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<String> = a[..head].iter().map(|l| format!("  {l}")).collect();
    if (mid_a.len() + 1).saturating_mul(mid_b.len() + 1) > MAX_CELLS {
        out.extend(mid_a.iter().map(|l| format!("- {l}")));
        out.extend(mid_b.iter().map(|l| format!("+ {l}")));
    } else {
        out.extend(lcs_diff(mid_a, mid_b));
    }
    out.extend(a[a.len() - tail..].iter().map(|l| format!("  {l}")));
    out
}

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

    #[test]
    fn diffs_by_line_and_bounds_the_work() {
        let d = diff_lines("a = 1\nb = 2\nc = 3\n", "a = 1\nb = 5\nc = 3\nd = 4\n");
        assert_eq!(d, ["  a = 1", "- b = 2", "+ b = 5", "  c = 3", "+ d = 4"]);
        assert!(diff_lines("x = 1\n", "x = 1\n").iter().all(|l| l.starts_with(' ')));
        let old: String = (0..3000).map(|i| format!("a{i}\n")).collect();
        let new: String = (0..3000).map(|i| format!("b{i}\n")).collect();
        let big = diff_lines(&old, &new);
        assert_eq!(big.len(), 6000);
        assert!(big[0].starts_with("- ") && big[5999].starts_with("+ "));
    }
}
