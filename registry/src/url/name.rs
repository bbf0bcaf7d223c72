//! Service names: the one path segment a service owns under the root.

use crate::{Error, Result};

/// Maximum length of a service name, in bytes (all ASCII).
pub const MAX_SERVICE_NAME_LEN: usize = 255;

/// Checks that `name` is a valid service name: 1 to 255 characters from `[A-Za-z0-9._-]`, and
/// not `.` or `..` (which ZooKeeper refuses as path segments).
///
/// # Errors
///
/// [`Error::InvalidServiceName`] with a reason naming the offending character or the length.
pub fn validate_service_name(name: &str) -> Result<()> {
    check_service_name(name).map_err(|reason| Error::InvalidServiceName { name: name.to_string(), reason })
}

pub(super) fn check_service_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("service name is empty".to_string());
    }
    if let Some((at, c)) =
        name.char_indices().find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("character {c:?} at byte {at} is not allowed (only A-Z a-z 0-9 . _ -)"));
    }
    // All characters are ASCII from here on, so bytes == characters.
    if name.len() > MAX_SERVICE_NAME_LEN {
        return Err(format!("{} characters long; at most {MAX_SERVICE_NAME_LEN} allowed", name.len()));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not allowed as a ZooKeeper node name"));
    }
    Ok(())
}
