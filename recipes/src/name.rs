//! Recipe names: one path segment of `[A-Za-z0-9._-]{1,255}`, not `.` or `..` (the rules of
//! service names).

use crate::error::{Error, Result};

/// Checks the name of a recipe of `kind` (`"lock"`, `"queue"`, ...) and returns the recipe's
/// directory, `{root}/{name}`.
pub(crate) fn recipe_dir(kind: &'static str, root: &str, name: &str) -> Result<String> {
    check(name).map_err(|reason| Error::InvalidName { kind, name: name.to_owned(), reason })?;
    Ok(registry::join(root, name))
}

fn check(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if let Some((at, c)) =
        name.char_indices().find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("character {c:?} at byte {at} is not allowed (only A-Z a-z 0-9 . _ -)"));
    }
    if name.len() > registry::MAX_SERVICE_NAME_LEN {
        return Err(format!(
            "{} characters long; at most {} allowed",
            name.len(),
            registry::MAX_SERVICE_NAME_LEN
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not allowed as a ZooKeeper node name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_names_are_checked() {
        assert_eq!(recipe_dir("lock", "/locks", "jobs.v1").ok().as_deref(), Some("/locks/jobs.v1"));
        for bad in ["", "a/b", "..", "a b", &"x".repeat(256)] {
            let err = recipe_dir("queue", "/queues", bad).expect_err(bad);
            assert!(
                matches!(&err, Error::InvalidName { kind: "queue", name, .. } if name == bad),
                "{bad:?}: {err:?}"
            );
            assert!(err.to_string().starts_with("invalid queue name"), "{err}");
        }
    }
}
