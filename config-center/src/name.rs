//! Namespace and config names: `[A-Za-z0-9._-]{1,255}`, not `.` or `..`.

use crate::error::{Error, Result};

/// The longest namespace or config name accepted.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a namespace or config name: 1 to 255 characters out of `[A-Za-z0-9._-]`, and not
/// `.` or `..` (they would be path segments with a meaning of their own).
///
/// `kind` says what is checked (`"namespace"` or `"name"`) and ends up in the error.
///
/// # Errors
/// [`Error::InvalidName`] naming the offending character or rule.
pub fn validate_name(kind: &'static str, name: &str) -> Result<()> {
    let refuse = |reason: String| Err(Error::InvalidName { kind, name: name.to_owned(), reason });
    if name.is_empty() {
        return refuse("empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return refuse(format!("{} bytes, longer than {MAX_NAME_LEN}", name.len()));
    }
    if name == "." || name == ".." {
        return refuse("`.` and `..` are not names".into());
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return refuse(format!("character {c:?} is not in [A-Za-z0-9._-]"));
    }
    Ok(())
}

/// `root/namespace/name`, after checking both names.
pub(crate) fn config_path(root: &str, namespace: &str, name: &str) -> Result<String> {
    validate_name("namespace", namespace)?;
    validate_name("name", name)?;
    Ok(registry::join(&registry::join(root, namespace), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["a", "db", "shop-eu_1.v2", "...", "A.b", &"x".repeat(255)] {
            assert!(validate_name("name", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in ["", ".", "..", "a/b", "a b", "é", "a\0", "x:y", &"x".repeat(256)] {
            let err = validate_name("namespace", bad).expect_err(bad);
            assert!(
                matches!(&err, Error::InvalidName { kind: "namespace", name, .. } if name == bad),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn builds_paths_under_any_root() {
        assert_eq!(config_path("/config", "shop", "db").ok().as_deref(), Some("/config/shop/db"));
        assert_eq!(config_path("/", "shop", "db").ok().as_deref(), Some("/shop/db"));
        assert!(config_path("/config", "shop", "..").is_err());
    }
}
