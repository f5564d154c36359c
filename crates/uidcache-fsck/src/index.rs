//! Reading the index with `IndexImage::decode`, and what of its header can still be trusted
//! when the body is damaged.

use std::path::Path;

use uidcache_engine::tools::{Vfs, INDEX_FILE};
use uidcache_format::{
    crc32, known, IndexHeader, IndexImage, FORMAT_VERSION, FORMAT_VERSION_V1, INDEX_HEADER_SIZE,
    NO_IDENTITY,
};

use crate::error::Result;
use crate::read::{read, Read};
use crate::report::{Problem, Severity};

/// Header values protected by a sound `header_crc32`, usable even when the body is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrustedHeader {
    /// The index generation.
    pub(crate) generation: u64,
    /// UIDVALIDITY, when known.
    pub(crate) uidvalidity: Option<u32>,
    /// The cache identity (`NO_IDENTITY` in format v1).
    pub(crate) cache_id: u64,
}

/// What the `index` file holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexFile {
    /// The decoded image, when the whole file decodes.
    pub(crate) image: Option<IndexImage>,
    /// The header, when its checksum and version are sound.
    pub(crate) header: Option<TrustedHeader>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// The header of `bytes` if its checksum, magic and version are sound.
fn trusted_header(bytes: &[u8]) -> Option<TrustedHeader> {
    use std::mem::offset_of;
    let header = bytes.get(..INDEX_HEADER_SIZE)?;
    let crc_at = offset_of!(IndexHeader, header_crc32);
    let covered = header.get(..crc_at)?;
    if crc32(&[covered]) != u32_at(header, crc_at)
        || header.get(..8) != Some(&uidcache_format::INDEX_MAGIC[..])
    {
        return None;
    }
    let cache_id = match u32_at(header, offset_of!(IndexHeader, version)) {
        FORMAT_VERSION_V1 => NO_IDENTITY,
        FORMAT_VERSION => u64_at(header, offset_of!(IndexHeader, cache_id)),
        _ => return None,
    };
    let bits = u32_at(header, offset_of!(IndexHeader, known));
    Some(TrustedHeader {
        generation: u64_at(header, offset_of!(IndexHeader, generation)),
        uidvalidity: (bits & known::UIDVALIDITY != 0)
            .then(|| u32_at(header, offset_of!(IndexHeader, uidvalidity))),
        cache_id,
    })
}

/// Reads and decodes `dir/index`; `None` when there is no index file.
/// Fails when the read fails (an I/O error is not damage).
pub(crate) fn load(
    vfs: &dyn Vfs,
    dir: &Path,
    problems: &mut Vec<Problem>,
) -> Result<Option<IndexFile>> {
    let bytes = match read(vfs, dir, Path::new(INDEX_FILE))? {
        Read::Bytes(bytes) => bytes,
        Read::Missing => return Ok(None),
        Read::NotAFile(found) => {
            problems.push(Problem::new(
                Severity::Damage,
                INDEX_FILE,
                0,
                "IndexHeader",
                "type",
                "a regular file",
                found,
            ));
            return Ok(Some(IndexFile::default()));
        }
    };
    let header = trusted_header(&bytes);
    Ok(Some(match IndexImage::decode(&bytes) {
        Ok(image) => IndexFile {
            image: Some(image),
            header,
        },
        Err(e) => {
            problems.push(Problem::from_format(Severity::Damage, INDEX_FILE, &e));
            IndexFile {
                image: None,
                header,
            }
        }
    }))
}
