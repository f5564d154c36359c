//! On-disk structures of a uidcache mailbox directory, and their encoding and checks.
//!
//! This crate does no I/O: it turns bytes into checked structures and back. The normative
//! description of every byte is [FORMAT.md], the format specification; the structs here
//! follow it field for field. Their sizes and offsets are checked against the spec when the
//! crate compiles (`const` assertions), and the test `spec_vectors` reads the spec's test
//! vectors and checks every one against the encoders and decoders.
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
//!
//! [FORMAT.md]: https://github.com/uidcache/uidcache/blob/main/format-spec/FORMAT.md
#![deny(missing_docs)]
#![forbid(unsafe_code)]

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
    BLOCK_CRC_OFFSET, BLOCK_HEADER_SIZE, BLOCK_ID_OFFSET, BLOCK_MAGIC, BLOCK_RECORD_COUNT_OFFSET,
    BLOCK_VERSION_OFFSET, FLAGS_UNKNOWN, MODSEQ_UNKNOWN, RECORD_SIZE,
};
pub use checksum::crc32;
pub use error::{FormatError, FormatErrorKind};
pub use identity::{cache_tag, FORMAT_VERSION_V1, NO_IDENTITY};
pub use index::{
    entry_flags, known, placed_entry_offset, unplaced_entry_offset, EncodedIndex, IndexEntry,
    IndexHeader, IndexImage, FLAGSET_FREE, INDEX_BODY_CRC_OFFSET, INDEX_BODY_LEN_OFFSET,
    INDEX_CACHE_ID_OFFSET, INDEX_ENTRY_FIRST_UID_OFFSET, INDEX_ENTRY_FLAGS_OFFSET,
    INDEX_ENTRY_LEN_OFFSET, INDEX_ENTRY_SEQ_START_OFFSET, INDEX_ENTRY_SIZE,
    INDEX_HEADER_CRC_OFFSET, INDEX_HEADER_SIZE, INDEX_KNOWN_OFFSET, INDEX_MAGIC,
    INDEX_VERSION_OFFSET, SEQ_UNPLACED,
};
pub use journal::{
    encode_frame, encode_journal_header, journal_identity, parse_journal_header, scan_journal,
    FrameHeader, FrameRef, JournalHeader, JournalScan, JournalTail, FRAME_CRC_OFFSET,
    FRAME_DURABLE, FRAME_HEADER_SIZE, FRAME_MAGIC, FRAME_PAYLOAD_LEN_OFFSET, FRAME_SEQ_OFFSET,
    JOURNAL_CACHE_TAG_OFFSET, JOURNAL_CRC_OFFSET, JOURNAL_GENERATION_OFFSET, JOURNAL_HEADER_SIZE,
    JOURNAL_MAGIC, JOURNAL_VERSION_OFFSET, MAX_FRAME_PAYLOAD,
};
pub use ops::{HeaderField, Op, OpTag};

/// The format version this code writes (for caches with an identity). It also reads
/// [`FORMAT_VERSION_V1`] caches, whose identity is [`NO_IDENTITY`].
pub const FORMAT_VERSION: u32 = 2;
