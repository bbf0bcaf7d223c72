//! What a publish does to the history: which entries it archives, replaces and prunes (see
//! `publish.rs` for the transactions that carry it out).

/// What a write from `current` to `next` does to the history.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) current: i32,
    pub(crate) next: i32,
    /// The `history` node is missing.
    pub(crate) create_dir: bool,
    /// The current document has no entry (written by a client that keeps no history): archived.
    pub(crate) archive_current: bool,
    /// An entry named after the next version exists already (a stale one): replaced.
    pub(crate) replace_next: bool,
    /// Entries to delete, oldest first.
    pub(crate) prune: Vec<i32>,
    /// The entries after the write, ascending.
    pub(crate) kept: Vec<i32>,
}

impl Plan {
    /// `existing`: the entries there are; `keep`: the history limit (documents replaced kept,
    /// besides the current one).
    pub(crate) fn new(
        existing: impl Iterator<Item = i32>,
        create_dir: bool,
        current: i32,
        next: i32,
        keep: usize,
    ) -> Plan {
        let (mut archive_current, mut replace_next) = (true, false);
        let mut older = Vec::new();
        for v in existing {
            if v == current {
                archive_current = false;
            } else if v == next {
                replace_next = true;
            } else {
                older.push(v);
            }
        }
        older.sort_unstable();
        older.dedup();
        // The current and the next entries stay; the oldest others go beyond `keep + 1` in all.
        let excess = (older.len() + 2).saturating_sub(keep + 1).min(older.len());
        let prune = older[..excess].to_vec();
        let mut kept = older[excess..].to_vec();
        kept.extend([current, next]);
        kept.sort_unstable();
        Plan { current, next, create_dir, archive_current, replace_next, prune, kept }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_keeps_the_limit_besides_the_current_document() {
        let plan = Plan::new([1, 2, 3, 4].into_iter(), false, 4, 5, 3);
        assert_eq!((plan.archive_current, plan.replace_next, plan.create_dir), (false, false, false));
        assert_eq!(plan.prune, [1]);
        assert_eq!(plan.kept, [2, 3, 4, 5], "three replaced documents and the new one");
    }

    #[test]
    fn a_plan_archives_a_document_that_has_no_entry_and_replaces_a_stale_next_one() {
        let plan = Plan::new([9, 1, 7].into_iter(), false, 8, 9, 10);
        assert!(plan.archive_current, "version 8 was written without history");
        assert!(plan.replace_next, "an entry named v-9 is left from elsewhere");
        assert!(plan.prune.is_empty());
        assert_eq!(plan.kept, [1, 7, 8, 9]);
        let plan = Plan::new(std::iter::empty(), true, 0, 1, 1);
        assert_eq!((plan.create_dir, plan.archive_current), (true, true));
        assert_eq!(plan.kept, [0, 1]);
    }

    #[test]
    fn a_plan_never_prunes_the_current_or_the_new_entry() {
        // Entries numbered above the current version (left by another incarnation of the node).
        let plan = Plan::new([50, 60, 2].into_iter(), false, 3, 4, 1);
        assert_eq!(plan.prune, [2, 50, 60]);
        assert_eq!(plan.kept, [3, 4]);
    }
}
