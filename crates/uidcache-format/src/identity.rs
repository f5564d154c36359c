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
            crate::version::VERSION_OFFSET as u64,
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

/// The cache identity that a v2 file binds, recovered from its `tag` (the identity's low 32
/// bits) and one CRC that covers the identity: `crc_of(id)` computes that CRC for a candidate
/// identity, `stored` is the CRC the file holds. For fsck when the index, the only file that
/// stores the identity whole, is lost (FORMAT.md 8.7).
///
/// CRC-32 is affine over GF(2) in its input bits, and the CRCs of 32 consecutive single-bit
/// inputs are `x^m .. x^(m+31)` modulo the polynomial, which are linearly independent (the
/// polynomial has a constant term, so `x` is invertible): the 32 unknown high bits are
/// therefore the unique solution of a 32×32 linear system. `None` when the result is
/// [`NO_IDENTITY`]. The answer satisfies the one CRC by construction; a caller should
/// confirm it on another file.
pub(crate) fn solve_identity(tag: u32, stored: u32, crc_of: impl Fn(u64) -> u32) -> Option<u64> {
    let low = u64::from(tag);
    let base = crc_of(low);
    // Columns: the CRC change that each high bit causes.
    let mut rows: Vec<(u32, u32)> = (0..32)
        .map(|i| (crc_of(low | 1u64 << (32 + i)) ^ base, 1u32 << i))
        .collect();
    // Gaussian elimination on (effect, bits that make it), by effect's highest bit.
    let mut basis: Vec<(u32, u32)> = Vec::with_capacity(32);
    for (mut effect, mut bits) in rows.drain(..) {
        for &(e, b) in &basis {
            if effect ^ e < effect {
                effect ^= e;
                bits ^= b;
            }
        }
        if effect != 0 {
            basis.push((effect, bits));
            basis.sort_by_key(|e| std::cmp::Reverse(e.0));
        }
    }
    let mut want = stored ^ base;
    let mut high = 0u32;
    for &(e, b) in &basis {
        if want ^ e < want {
            want ^= e;
            high ^= b;
        }
    }
    let id = low | u64::from(high) << 32;
    (want == 0 && id != NO_IDENTITY && crc_of(id) == stored).then_some(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_identity_is_recovered_from_one_crc_and_its_tag() {
        for id in [
            0x0123_4567_89AB_CDEFu64,
            u64::MAX,
            1 << 63 | 5,
            0xFFFF_FFFF_0000_0001,
        ] {
            let crc_of = |c: u64| crate::crc32(&[b"prefix", &c.to_le_bytes(), b"rest of file"]);
            let got = super::solve_identity(super::cache_tag(id), crc_of(id), crc_of);
            assert_eq!(got, Some(id));
        }
    }
}
