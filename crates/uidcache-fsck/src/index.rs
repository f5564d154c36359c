//! Reading the index with `IndexImage::decode`, and what of its header can still be trusted
//! when the body is damaged.

use std::path::Path;

use uidcache_engine::tools::{Vfs, INDEX_FILE};
use uidcache_format::{
    crc32, known, IndexHeader, IndexImage, FORMAT_VERSION, FORMAT_VERSION_V1, INDEX_MAGIC,
    NO_IDENTITY,
};
use zerocopy::FromBytes;

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

/// The header of `bytes` if its checksum, magic and version are sound: cast to the format
/// crate's struct first, then checked.
fn trusted_header(bytes: &[u8]) -> Option<TrustedHeader> {
    let (header, _) = IndexHeader::ref_from_prefix(bytes).ok()?;
    let covered = bytes.get(..std::mem::offset_of!(IndexHeader, header_crc32))?;
    if header.magic != INDEX_MAGIC || crc32(&[covered]) != header.header_crc32.get() {
        return None;
    }
    let cache_id = match header.version.get() {
        FORMAT_VERSION_V1 => NO_IDENTITY,
        FORMAT_VERSION => header.cache_id.get(),
        _ => return None,
    };
    Some(TrustedHeader {
        generation: header.generation.get(),
        uidvalidity: (header.known.get() & known::UIDVALIDITY != 0)
            .then(|| header.uidvalidity.get()),
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
