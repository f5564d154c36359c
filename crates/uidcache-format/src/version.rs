//! The rule for version fields: 1 and 2 are read (which one a file must have depends on its
//! cache, `identity.rs`); newer or zero is corruption (a version this code has never heard of
//! cannot be trusted to mean anything). No version is "upgrade required" any more: format v1
//! caches are read as they are and upgraded in place by a writer.

use crate::error::{FormatError, FormatErrorKind};
use crate::FORMAT_VERSION;

/// Offset of the version field in every file: right after the 8-byte magic (FORMAT.md 1.2).
pub(crate) const VERSION_OFFSET: usize = crate::block::BLOCK_VERSION_OFFSET;

const _: () = {
    assert!(VERSION_OFFSET == crate::index::INDEX_VERSION_OFFSET);
    assert!(VERSION_OFFSET == crate::journal::JOURNAL_VERSION_OFFSET);
};

/// Checks a version field at `offset` of `structure`.
pub(crate) fn check_version(
    found: u32,
    structure: &'static str,
    offset: u64,
) -> Result<(), FormatError> {
    let kind = match found {
        v if (crate::identity::FORMAT_VERSION_V1..=FORMAT_VERSION).contains(&v) => return Ok(()),
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
