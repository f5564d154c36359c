//! Block files: an immutable run of fixed-size records, named by a 64-bit block ID.
//!
//! Layout (spec section "Block file"): a 32-byte [`BlockHeader`], then `record_count`
//! [`Record`]s of 16 bytes each, nothing after them.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::crc32;
use crate::error::{FormatError, FormatErrorKind};
use crate::identity::{cache_tag, check_identity, covered_id, id_bytes, version_for};
use crate::version::check_version;

/// Magic number at byte 0 of every block file.
pub const BLOCK_MAGIC: [u8; 8] = *b"UCBLOCK\0";
/// `Record::flags` value meaning "the FLAGS of this message were never learned".
pub const FLAGS_UNKNOWN: u32 = u32::MAX;
/// `Record::modseq` value meaning "the MODSEQ of this message was never learned".
pub const MODSEQ_UNKNOWN: u64 = 0;

/// Header of a block file, 32 bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct BlockHeader {
    /// [`BLOCK_MAGIC`].
    pub magic: [u8; 8],
    /// 2 ([`crate::FORMAT_VERSION`]) in a cache with an identity, 1 in a format-v1 cache.
    pub version: U32,
    /// Number of records that follow the header.
    pub record_count: U32,
    /// The block's ID, equal to the one in its file name: a misdirected write is caught.
    pub block_id: U64,
    /// Low 32 bits of the cache identity ([`cache_tag`]); zero in format v1 (`reserved`
    /// there). New in format v2.
    pub cache_tag: U32,
    /// CRC-32 of the cache identity (8 bytes LE, format v2 only), header bytes 0..28 and
    /// every record byte.
    pub crc32: U32,
}

/// Byte offset of [`BlockHeader::version`].
pub const BLOCK_VERSION_OFFSET: usize = std::mem::offset_of!(BlockHeader, version);
/// Byte offset of [`BlockHeader::record_count`].
pub const BLOCK_RECORD_COUNT_OFFSET: usize = std::mem::offset_of!(BlockHeader, record_count);
/// Byte offset of [`BlockHeader::block_id`].
pub const BLOCK_ID_OFFSET: usize = std::mem::offset_of!(BlockHeader, block_id);
/// Byte offset of [`BlockHeader::cache_tag`].
pub const BLOCK_CACHE_TAG_OFFSET: usize = std::mem::offset_of!(BlockHeader, cache_tag);
/// Byte offset of [`BlockHeader::crc32`].
pub const BLOCK_CRC_OFFSET: usize = std::mem::offset_of!(BlockHeader, crc32);
/// Size of a [`BlockHeader`].
pub const BLOCK_HEADER_SIZE: usize = std::mem::size_of::<BlockHeader>();

/// One message: UID, interned flag set, MODSEQ. 16 bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Record {
    /// The message UID, nonzero.
    pub uid: U32,
    /// ID of the message's flag set in the index's flag-set table, or [`FLAGS_UNKNOWN`].
    pub flags: U32,
    /// The message MODSEQ, or [`MODSEQ_UNKNOWN`].
    pub modseq: U64,
}

/// Size of a [`Record`].
pub const RECORD_SIZE: usize = std::mem::size_of::<Record>();

// The sizes and offsets of FORMAT.md section 3, checked when the crate compiles.
const _: () = {
    assert!(BLOCK_HEADER_SIZE == 32);
    assert!(BLOCK_VERSION_OFFSET == 8);
    assert!(BLOCK_RECORD_COUNT_OFFSET == 12);
    assert!(BLOCK_ID_OFFSET == 16);
    assert!(BLOCK_CACHE_TAG_OFFSET == 24);
    assert!(BLOCK_CRC_OFFSET == 28);
    assert!(RECORD_SIZE == 16);
    assert!(std::mem::offset_of!(Record, flags) == 4);
    assert!(std::mem::offset_of!(Record, modseq) == 8);
};

impl Record {
    /// A record from native values.
    pub fn new(uid: u32, flags: u32, modseq: u64) -> Self {
        Record {
            uid: U32::new(uid),
            flags: U32::new(flags),
            modseq: U64::new(modseq),
        }
    }
}

/// Encodes a complete block file of the cache `cache_id` (format v1 when it is
/// [`crate::NO_IDENTITY`]).
pub fn encode_block(block_id: u64, records: &[Record], cache_id: u64) -> Vec<u8> {
    let mut header = BlockHeader {
        magic: BLOCK_MAGIC,
        version: U32::new(version_for(cache_id)),
        record_count: U32::new(u32::try_from(records.len()).unwrap_or(u32::MAX)),
        block_id: U64::new(block_id),
        cache_tag: U32::new(cache_tag(cache_id)),
        crc32: U32::new(0),
    };
    let body = records.as_bytes();
    let covered = header
        .as_bytes()
        .get(..BLOCK_CRC_OFFSET)
        .unwrap_or_default();
    let id = id_bytes(cache_id);
    header.crc32 = U32::new(crc32(&[covered_id(&id, cache_id), covered, body]));
    let mut out = Vec::with_capacity(BLOCK_HEADER_SIZE + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks a whole block file (magic, version, ID, identity, length, checksum) against the
/// cache `cache_id` and returns its records. A block of another cache fails with
/// [`FormatErrorKind::Foreign`] (or, if its `cache_tag` collides by chance, with a bad CRC).
///
/// Record contents are not judged here: which records are live, and their order, is the
/// index's business.
pub fn parse_block(
    bytes: &[u8],
    expected_id: u64,
    cache_id: u64,
) -> Result<&[Record], FormatError> {
    let (header, body) = BlockHeader::ref_from_prefix(bytes)
        .map_err(|_| FormatError::truncated("BlockHeader", 0, BLOCK_HEADER_SIZE, bytes.len()))?;
    if header.magic != BLOCK_MAGIC {
        return Err(FormatError::new(
            FormatErrorKind::BadMagic,
            "BlockHeader",
            "magic",
            0,
            format_args!("{BLOCK_MAGIC:?}"),
            format_args!("{:?}", header.magic),
        ));
    }
    check_version(
        header.version.get(),
        "BlockHeader",
        BLOCK_VERSION_OFFSET as u64,
    )?;
    if header.block_id.get() != expected_id {
        return Err(FormatError::new(
            FormatErrorKind::Invalid,
            "BlockHeader",
            "block_id",
            BLOCK_ID_OFFSET as u64,
            format_args!("{expected_id:016x} (the file name)"),
            format_args!("{:016x}", header.block_id.get()),
        ));
    }
    check_identity(
        header.version.get(),
        header.cache_tag.get(),
        cache_id,
        "BlockHeader",
        BLOCK_CACHE_TAG_OFFSET as u64,
    )?;
    let count = header.record_count.get() as usize;
    let need = count.saturating_mul(RECORD_SIZE);
    if body.len() != need {
        return Err(FormatError::new(
            FormatErrorKind::Truncated,
            "BlockHeader",
            "record_count",
            BLOCK_RECORD_COUNT_OFFSET as u64,
            format_args!("{} bytes of records for {count} records", need),
            format_args!("{} bytes", body.len()),
        ));
    }
    let covered = bytes.get(..BLOCK_CRC_OFFSET).unwrap_or_default();
    let id = id_bytes(cache_id);
    let actual = crc32(&[covered_id(&id, cache_id), covered, body]);
    if actual != header.crc32.get() {
        return Err(FormatError::new(
            FormatErrorKind::BadChecksum,
            "BlockHeader",
            "crc32",
            BLOCK_CRC_OFFSET as u64,
            format_args!("{actual:#010x}"),
            format_args!("{:#010x}", header.crc32.get()),
        ));
    }
    <[Record]>::ref_from_bytes(body)
        .map_err(|_| FormatError::truncated("Record", BLOCK_HEADER_SIZE as u64, need, body.len()))
}

/// The identity of the v2 cache that block file `bytes` (named `expected_id`) belongs to,
/// recovered from its `cache_tag` and CRC (see FORMAT.md 8.7): for fsck when the index is
/// lost. `None` for a v1 block or one whose header does not parse.
pub fn block_identity(bytes: &[u8], expected_id: u64) -> Option<u64> {
    let (header, body) = BlockHeader::ref_from_prefix(bytes).ok()?;
    if header.magic != BLOCK_MAGIC
        || header.version.get() != crate::FORMAT_VERSION
        || header.block_id.get() != expected_id
    {
        return None;
    }
    let covered = bytes.get(..BLOCK_CRC_OFFSET)?;
    crate::identity::solve_identity(header.cache_tag.get(), header.crc32.get(), |id| {
        crc32(&[&id.to_le_bytes(), covered, body])
    })
    .filter(|id| parse_block(bytes, expected_id, *id).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity of the cache the sample block belongs to.
    const ID: u64 = 0x0123_4567_89AB_CDEF;

    fn sample() -> Vec<u8> {
        let records: Vec<Record> = (1..=5)
            .map(|u| Record::new(u * 3, 0, u64::from(u)))
            .collect();
        encode_block(0xABCD, &records, ID)
    }

    #[test]
    fn layout_matches_spec() {
        assert_eq!(BLOCK_HEADER_SIZE, 32);
        assert_eq!(RECORD_SIZE, 16);
        assert_eq!(std::mem::offset_of!(BlockHeader, version), 8);
        assert_eq!(std::mem::offset_of!(BlockHeader, record_count), 12);
        assert_eq!(std::mem::offset_of!(BlockHeader, block_id), 16);
        assert_eq!(BLOCK_CACHE_TAG_OFFSET, 24);
        assert_eq!(BLOCK_CRC_OFFSET, 28);
        assert_eq!(std::mem::offset_of!(Record, flags), 4);
        assert_eq!(std::mem::offset_of!(Record, modseq), 8);
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let records = parse_block(&bytes, 0xABCD, ID).expect("valid block");
        assert_eq!(records.len(), 5);
        assert_eq!(records[4].uid.get(), 15);
        assert_eq!(records[4].modseq.get(), 5);
    }

    #[test]
    fn rejects_wrong_magic_version_id_checksum_and_length() {
        let good = sample();
        let mut bad = good.clone();
        bad[0] ^= 1;
        assert_eq!(
            parse_block(&bad, 0xABCD, ID).unwrap_err().kind,
            FormatErrorKind::BadMagic
        );
        let mut bad = good.clone();
        bad[8] = 9; // neither 1 nor 2
        assert_eq!(
            parse_block(&bad, 0xABCD, ID).unwrap_err().kind,
            FormatErrorKind::UnknownVersion
        );
        assert_eq!(
            parse_block(&good, 0xABCE, ID).unwrap_err().field,
            "block_id"
        );
        let mut bad = good.clone();
        bad[40] ^= 0x10;
        let err = parse_block(&bad, 0xABCD, ID).unwrap_err();
        assert_eq!((err.kind, err.offset), (FormatErrorKind::BadChecksum, 28));
        assert_eq!(
            parse_block(&good[..good.len() - 1], 0xABCD, ID)
                .unwrap_err()
                .kind,
            FormatErrorKind::Truncated
        );
        assert_eq!(
            parse_block(&good[..10], 0xABCD, ID).unwrap_err().kind,
            FormatErrorKind::Truncated
        );
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let good = sample();
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    parse_block(&bad, 0xABCD, ID).is_err(),
                    "flip at {byte}:{bit} undetected"
                );
            }
        }
    }

    #[test]
    fn a_block_of_another_cache_is_foreign() {
        let good = sample();
        let err = parse_block(&good, 0xABCD, ID ^ 1).unwrap_err();
        assert_eq!(
            (err.kind, err.field, err.offset),
            (FormatErrorKind::Foreign, "cache_tag", 24)
        );
        // Same low 32 bits, other identity: the CRC covers the whole identity.
        let err = parse_block(&good, 0xABCD, ID ^ (1 << 40)).unwrap_err();
        assert_eq!(err.kind, FormatErrorKind::BadChecksum);
        // A v1 block in a v2 cache, and a v2 block in a v1 cache.
        let v1 = encode_block(0xABCD, &[Record::new(1, 0, 0)], crate::NO_IDENTITY);
        let err = parse_block(&v1, 0xABCD, ID).unwrap_err();
        assert_eq!((err.kind, err.field), (FormatErrorKind::Foreign, "version"));
        let err = parse_block(&good, 0xABCD, crate::NO_IDENTITY).unwrap_err();
        assert_eq!((err.kind, err.field), (FormatErrorKind::Foreign, "version"));
        assert!(parse_block(&v1, 0xABCD, crate::NO_IDENTITY).is_ok());
    }
}
