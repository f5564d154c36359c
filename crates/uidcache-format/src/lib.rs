//! On-disk structures of a uidcache mailbox directory, and their encoding and checks.
//!
//! This crate does no I/O: it turns bytes into checked structures and back. The normative
//! description of every byte is `format-spec/FORMAT.md` in the repository; the structs here
//! follow it field for field, and each module's tests check sizes and offsets against it.
//!
//! All integers are little-endian. Every file starts with an 8-byte magic number and a
//! 32-bit version ([`FORMAT_VERSION`]); every structure is covered by CRC-32 ([`crc32`]).
//! Since format v2 every file is bound to its cache's identity (the index's `cache_id`):
//! parsers take the identity they expect and fail with [`FormatErrorKind::Foreign`] on a
//! file of another cache.
//!
//! # Example
//! ```
//! use uidcache_format::{encode_block, parse_block, Record};
//! let cache_id = 0x5EED_0F_CAC4E; // the index's `cache_id`
//! let bytes = encode_block(7, &[Record::new(42, 0, 1)], cache_id);
//! let records = parse_block(&bytes, 7, cache_id).unwrap();
//! assert_eq!(records[0].uid.get(), 42);
//! ```
#![deny(missing_docs)]

mod block;
mod checksum;
mod cursor;
mod error;
mod identity;
mod index;
mod journal;
mod ops;
mod version;

pub use block::{
    block_identity, encode_block, parse_block, BlockHeader, Record, BLOCK_CACHE_TAG_OFFSET,
    BLOCK_HEADER_SIZE, BLOCK_MAGIC, FLAGS_UNKNOWN, MODSEQ_UNKNOWN, RECORD_SIZE,
};
pub use checksum::crc32;
pub use error::{FormatError, FormatErrorKind};
pub use identity::{cache_tag, FORMAT_VERSION_V1, NO_IDENTITY};
pub use index::{
    known, placed_entry_offset, IndexEntry, IndexHeader, IndexImage, FLAGSET_FREE,
    INDEX_CACHE_ID_OFFSET, INDEX_ENTRY_SIZE, INDEX_HEADER_SIZE, INDEX_MAGIC, SEQ_UNPLACED,
};
pub use journal::{
    encode_frame, encode_journal_header, journal_identity, parse_journal_header, scan_journal,
    FrameHeader, FrameRef, JournalHeader, JournalScan, JournalTail, FRAME_DURABLE,
    FRAME_HEADER_SIZE, FRAME_MAGIC, JOURNAL_CACHE_TAG_OFFSET, JOURNAL_HEADER_SIZE, JOURNAL_MAGIC,
    MAX_FRAME_PAYLOAD,
};
pub use ops::{HeaderField, Op};

/// The format version this code writes (for caches with an identity). It also reads
/// [`FORMAT_VERSION_V1`] caches, whose identity is [`NO_IDENTITY`].
pub const FORMAT_VERSION: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    /// The format v2 test vectors of FORMAT.md section 12, byte for byte.
    #[test]
    fn v2_test_vectors_match_spec() {
        let id = 0x0123_4567_89AB_CDEF;
        let hex = |s: &str| -> Vec<u8> {
            s.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).expect("hex"))
                .collect()
        };
        let block = hex("55 43 42 4c 4f 43 4b 00 02 00 00 00 01 00 00 00
                         01 00 00 00 00 00 00 00 ef cd ab 89 92 2b 90 ae
                         2a 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 00");
        assert_eq!(
            encode_block(1, &[Record::new(42, FLAGS_UNKNOWN, 0)], id),
            block
        );
        let mut index = hex("55 43 49 4e 44 45 58 00 02 00 00 00 00 00 00 00
                             00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00");
        index.extend([0; 0x30]);
        index.extend(hex("00 00 00 00 ef cd ab 89 67 45 23 01 7c 3e a7 d1"));
        let image = IndexImage {
            cache_id: id,
            next_block_id: 1,
            ..IndexImage::default()
        };
        assert_eq!(image.encode(), index);
        let mut journal = encode_journal_header(0x5A17, 3, id);
        journal.extend(encode_frame(0x5A17, id, 1, FRAME_DURABLE, &[3]));
        let expected = hex("55 43 4a 4f 55 52 4e 00 02 00 00 00 17 5a 00 00
                            03 00 00 00 00 00 00 00 ef cd ab 89 9a 07 68 e5
                            55 43 46 52 01 00 00 00 01 00 00 00 00 00 00 00
                            01 00 00 00 ef a4 fe f0 03");
        assert_eq!(journal, expected);
    }
}
