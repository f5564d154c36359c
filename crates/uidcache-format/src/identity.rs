//! Cache identity (FORMAT.md section 1.5, new in format v2): a random 64-bit number chosen
//! when a cache is created, stored in the index header, and bound into every block file and
//! journal of that cache, so that a file copied from another cache reads as damage instead of
//! as data.

use crate::error::{FormatError, FormatErrorKind};

/// The identity of a format-v1 cache, which has none. Writers never choose it, so a nonzero
/// identity always means format v2.
pub const NO_IDENTITY: u64 = 0;
/// The format version of caches without an identity, still read (and upgraded in place by a
/// writer's open, FORMAT.md section 1.2).
pub const FORMAT_VERSION_V1: u32 = 1;

/// The low 32 bits of `cache_id`: the `cache_tag` field of block and journal headers.
pub fn cache_tag(cache_id: u64) -> u32 {
    (cache_id & u64::from(u32::MAX)) as u32
}

/// The version a file of the cache `cache_id` is written with: 1 without an identity,
/// otherwise the current one.
pub(crate) fn version_for(cache_id: u64) -> u32 {
    if cache_id == NO_IDENTITY {
        FORMAT_VERSION_V1
    } else {
        crate::FORMAT_VERSION
    }
}

/// The bytes of the identity that a v2 checksum covers first (none for v1), so that a file
/// whose `cache_tag` collides by chance with ours still fails its CRC.
pub(crate) fn id_bytes(cache_id: u64) -> [u8; 8] {
    cache_id.to_le_bytes()
}

/// The prefix of the identity bytes a checksum covers: all 8 in v2, none in v1.
pub(crate) fn covered_id(bytes: &[u8; 8], cache_id: u64) -> &[u8] {
    if cache_id == NO_IDENTITY {
        &[]
    } else {
        bytes
    }
}

/// Checks that a file whose (already range-checked) `version` and `tag` were read belongs to
/// the cache `cache_id`: a v1 file only to a v1 cache, a v2 file only to the v2 cache whose
/// identity's low bits are `tag`.
pub(crate) fn check_identity(
    version: u32,
    tag: u32,
    cache_id: u64,
    structure: &'static str,
    tag_offset: u64,
) -> Result<(), FormatError> {
    let wanted = version_for(cache_id);
    if version != wanted {
        let why = if cache_id == NO_IDENTITY {
            "1 (the index is format v1; a v2 file is another cache's)"
        } else {
            "2 (the index has an identity; a v1 file is another cache's or from before the upgrade)"
        };
        return Err(FormatError::new(
            FormatErrorKind::Foreign,
            structure,
            "version",
            8,
            why,
            version,
        ));
    }
    if cache_id != NO_IDENTITY && tag != cache_tag(cache_id) {
        return Err(FormatError::new(
            FormatErrorKind::Foreign,
            structure,
            "cache_tag",
            tag_offset,
            format_args!(
                "{:#010x} (this cache's identity {cache_id:#018x})",
                cache_tag(cache_id)
            ),
            format_args!("{tag:#010x} (a file of another cache)"),
        ));
    }
    Ok(())
}
