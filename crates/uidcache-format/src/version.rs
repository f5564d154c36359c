//! The rule for version fields: older than ours is "upgrade required", newer or zero is
//! corruption (a version this code has never heard of cannot be trusted to mean anything).

use crate::error::{FormatError, FormatErrorKind};
use crate::FORMAT_VERSION;

/// Checks a version field at `offset` of `structure`.
pub(crate) fn check_version(
    found: u32,
    structure: &'static str,
    offset: u64,
) -> Result<(), FormatError> {
    let kind = match found {
        FORMAT_VERSION => return Ok(()),
        v if v != 0 && v < FORMAT_VERSION => FormatErrorKind::UpgradeRequired,
        _ => FormatErrorKind::UnknownVersion,
    };
    Err(FormatError::new(
        kind,
        structure,
        "version",
        offset,
        FORMAT_VERSION,
        found,
    ))
}
