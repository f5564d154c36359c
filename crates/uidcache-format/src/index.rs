//! The index file: a checkpoint of the whole mailbox state except record bodies.
//!
//! Layout (spec section "Index file"): a 96-byte [`IndexHeader`], then the body: placed
//! [`IndexEntry`]s, unplaced [`IndexEntry`]s, overlay [`Record`]s, the atom table and the
//! flag-set table, in that order and nothing after.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::block::Record;
use crate::checksum::crc32;
use crate::cursor::Cursor;
use crate::error::{FormatError, FormatErrorKind};
use crate::identity::{version_for, FORMAT_VERSION_V1, NO_IDENTITY};
use crate::version::check_version;

/// Magic number at byte 0 of the index file.
pub const INDEX_MAGIC: [u8; 8] = *b"UCINDEX\0";
/// The `count` of a flag-set table entry that is a *free* slot (new in format v2): no set
/// has this ID any more, and no atom IDs follow. Checkpoints free the sets no record uses
/// (FORMAT.md 4.7) without renumbering the others, which immutable blocks refer to.
pub const FLAGSET_FREE: u32 = u32::MAX;
/// `IndexEntry::seq_start` of an unplaced entry.
pub const SEQ_UNPLACED: u32 = u32::MAX;

/// Bits of [`IndexEntry::flags`] (FORMAT.md 4.2). Zero, the value every writer before them
/// wrote, claims nothing.
pub mod entry_flags {
    /// Every record of the slice has known FLAGS: in its block, or in an overlay record of
    /// the same index. A hint that saves reading the records; a reader that ignores it reads
    /// the same state.
    pub const FLAGS_KNOWN: u32 = 1;
    /// Every bit defined so far; any other bit is refused.
    pub const ALL: u32 = FLAGS_KNOWN;
}

/// Bits of [`IndexHeader::known`]: which header values are known.
pub mod known {
    /// UIDVALIDITY is known.
    pub const UIDVALIDITY: u32 = 1;
    /// UIDNEXT is known.
    pub const UIDNEXT: u32 = 2;
    /// HIGHESTMODSEQ is known.
    pub const HIGHESTMODSEQ: u32 = 4;
    /// The message count (EXISTS) is known.
    pub const EXISTS: u32 = 8;
    /// Every bit that format version 1 defines.
    pub const ALL: u32 = 15;
}

/// Header of the index file, 96 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IndexHeader {
    /// [`INDEX_MAGIC`].
    pub magic: [u8; 8],
    /// 2 ([`crate::FORMAT_VERSION`]), or 1 for a format-v1 cache (no identity).
    pub version: U32,
    /// Bit set of [`known`] values.
    pub known: U32,
    /// Checkpoint number; the journal whose generation equals it continues this index.
    pub generation: U64,
    /// Lowest block ID never used by a committed change.
    pub next_block_id: U64,
    /// UIDVALIDITY (meaningful if known).
    pub uidvalidity: U32,
    /// UIDNEXT (meaningful if known).
    pub uidnext: U32,
    /// HIGHESTMODSEQ (meaningful if known).
    pub highestmodseq: U64,
    /// Message count (meaningful if known).
    pub exists: U32,
    /// Number of placed entries.
    pub placed_count: U32,
    /// Number of unplaced entries.
    pub unplaced_count: U32,
    /// Number of overlay records.
    pub overlay_count: U32,
    /// Number of atoms.
    pub atom_count: U32,
    /// Number of flag sets.
    pub flagset_count: U32,
    /// Length of the body in bytes: the file is exactly header plus body.
    pub body_len: U64,
    /// CRC-32 of the body.
    pub body_crc32: U32,
    /// The cache identity: random, nonzero, chosen when the cache was created (or upgraded
    /// from format v1). Zero (`reserved`, unchecked) in format v1. New in format v2.
    pub cache_id: U64,
    /// CRC-32 of header bytes 0..92.
    pub header_crc32: U32,
}

/// Size of an [`IndexHeader`].
pub const INDEX_HEADER_SIZE: usize = std::mem::size_of::<IndexHeader>();
/// Offset of [`IndexHeader::version`].
pub const INDEX_VERSION_OFFSET: usize = std::mem::offset_of!(IndexHeader, version);
/// Offset of [`IndexHeader::known`].
pub const INDEX_KNOWN_OFFSET: usize = std::mem::offset_of!(IndexHeader, known);
/// Offset of [`IndexHeader::body_len`].
pub const INDEX_BODY_LEN_OFFSET: usize = std::mem::offset_of!(IndexHeader, body_len);
/// Offset of [`IndexHeader::body_crc32`].
pub const INDEX_BODY_CRC_OFFSET: usize = std::mem::offset_of!(IndexHeader, body_crc32);
/// Offset of [`IndexHeader::cache_id`].
pub const INDEX_CACHE_ID_OFFSET: usize = std::mem::offset_of!(IndexHeader, cache_id);
/// Offset of [`IndexHeader::header_crc32`].
pub const INDEX_HEADER_CRC_OFFSET: usize = std::mem::offset_of!(IndexHeader, header_crc32);

/// One slice of a block file: `len` consecutive records from `first_record` on. 32 bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct IndexEntry {
    /// The block file holding the records.
    pub block_id: U64,
    /// Sequence number of the first record, or [`SEQ_UNPLACED`].
    pub seq_start: U32,
    /// Number of records, at least 1.
    pub len: U32,
    /// Position of the first record within the block file.
    pub first_record: U32,
    /// UID of the first record.
    pub first_uid: U32,
    /// UID of the last record.
    pub last_uid: U32,
    /// Bit set of [`entry_flags`]; zero claims nothing (`reserved` before the bit was
    /// defined, FORMAT.md 4.2).
    pub flags: U32,
}

/// Size of an [`IndexEntry`].
pub const INDEX_ENTRY_SIZE: usize = std::mem::size_of::<IndexEntry>();
/// Offset of [`IndexEntry::seq_start`] within an entry.
pub const INDEX_ENTRY_SEQ_START_OFFSET: usize = std::mem::offset_of!(IndexEntry, seq_start);
/// Offset of [`IndexEntry::len`] within an entry.
pub const INDEX_ENTRY_LEN_OFFSET: usize = std::mem::offset_of!(IndexEntry, len);
/// Offset of [`IndexEntry::first_uid`] within an entry.
pub const INDEX_ENTRY_FIRST_UID_OFFSET: usize = std::mem::offset_of!(IndexEntry, first_uid);
/// Offset of [`IndexEntry::flags`] within an entry.
pub const INDEX_ENTRY_FLAGS_OFFSET: usize = std::mem::offset_of!(IndexEntry, flags);

// The sizes and offsets of FORMAT.md section 4, checked when the crate compiles.
const _: () = {
    assert!(INDEX_HEADER_SIZE == 96);
    assert!(INDEX_VERSION_OFFSET == 8);
    assert!(INDEX_KNOWN_OFFSET == 12);
    assert!(INDEX_BODY_LEN_OFFSET == 72);
    assert!(INDEX_BODY_CRC_OFFSET == 80);
    assert!(INDEX_CACHE_ID_OFFSET == 84);
    assert!(INDEX_HEADER_CRC_OFFSET == 92);
    assert!(INDEX_ENTRY_SIZE == 32);
    assert!(INDEX_ENTRY_SEQ_START_OFFSET == 8);
    assert!(INDEX_ENTRY_LEN_OFFSET == 12);
    assert!(std::mem::offset_of!(IndexEntry, first_record) == 16);
    assert!(INDEX_ENTRY_FIRST_UID_OFFSET == 20);
    assert!(std::mem::offset_of!(IndexEntry, last_uid) == 24);
    assert!(INDEX_ENTRY_FLAGS_OFFSET == 28);
};

/// The decoded index file, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexImage {
    /// The cache identity; [`NO_IDENTITY`] for a format-v1 cache, which is then encoded as
    /// format v1.
    pub cache_id: u64,
    /// Bit set of [`known`] values.
    pub known: u32,
    /// Checkpoint number.
    pub generation: u64,
    /// Lowest block ID never used.
    pub next_block_id: u64,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT.
    pub uidnext: u32,
    /// HIGHESTMODSEQ.
    pub highestmodseq: u64,
    /// Message count.
    pub exists: u32,
    /// Placed entries, ascending `seq_start`.
    pub placed: Vec<IndexEntry>,
    /// Unplaced entries, ascending `first_uid`.
    pub unplaced: Vec<IndexEntry>,
    /// Flag/MODSEQ changes not yet folded into blocks, ascending UID.
    pub overlay: Vec<Record>,
    /// Flag names (atoms), indexed by atom ID.
    pub atoms: Vec<Vec<u8>>,
    /// Flag sets: sorted atom IDs, indexed by flag-set ID; `None` for a free slot
    /// ([`FLAGSET_FREE`]).
    pub flagsets: Vec<Option<Vec<u32>>>,
}

fn count_u32(n: usize) -> U32 {
    U32::new(u32::try_from(n).unwrap_or(u32::MAX))
}

/// File offset of placed entry `i`.
pub fn placed_entry_offset(i: usize) -> u64 {
    (INDEX_HEADER_SIZE + i * INDEX_ENTRY_SIZE) as u64
}

/// File offset of unplaced entry `j` of an index with `placed` placed entries: the
/// unplaced section follows the placed one.
pub fn unplaced_entry_offset(placed: usize, j: usize) -> u64 {
    placed_entry_offset(placed + j)
}

/// An encoded index file in the pieces it is made of, borrowed from its [`IndexImage`]
/// where they lie in memory already: [`EncodedIndex::parts`], written one after another,
/// are the file. At 10M messages the entries are megabytes, and copying them into one
/// buffer (fresh pages to fault in, then the copy) cost a checkpoint about 10 ms.
#[derive(Debug)]
pub struct EncodedIndex<'a> {
    header: IndexHeader,
    entries: [&'a [u8]; 3],
    tables: Vec<u8>,
}

impl EncodedIndex<'_> {
    /// The file's bytes in order: header, placed entries, unplaced entries, overlay
    /// records, atom and flag-set tables.
    pub fn parts(&self) -> [&[u8]; 5] {
        let [placed, unplaced, overlay] = self.entries;
        [
            self.header.as_bytes(),
            placed,
            unplaced,
            overlay,
            &self.tables,
        ]
    }

    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        self.parts().iter().map(|p| p.len()).sum()
    }

    /// Whether the file is empty (never: the header is always there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl IndexImage {
    /// Encodes the complete index file.
    pub fn encode(&self) -> Vec<u8> {
        let encoded = self.encode_parts();
        let mut out = Vec::with_capacity(encoded.len());
        for part in encoded.parts() {
            out.extend_from_slice(part);
        }
        out
    }

    /// Encodes the index file as [`EncodedIndex`] pieces, without copying the entries.
    pub fn encode_parts(&self) -> EncodedIndex<'_> {
        let mut tables = Vec::new();
        for atom in &self.atoms {
            tables.extend_from_slice(&count_u32(atom.len()).get().to_le_bytes());
            tables.extend_from_slice(atom);
        }
        for set in &self.flagsets {
            let Some(set) = set else {
                tables.extend_from_slice(&FLAGSET_FREE.to_le_bytes());
                continue;
            };
            tables.extend_from_slice(&count_u32(set.len()).get().to_le_bytes());
            for id in set {
                tables.extend_from_slice(&id.to_le_bytes());
            }
        }
        let entries = [
            self.placed.as_bytes(),
            self.unplaced.as_bytes(),
            self.overlay.as_bytes(),
        ];
        let [placed, unplaced, overlay] = entries;
        let body = [placed, unplaced, overlay, tables.as_slice()];
        let body_len: usize = body.iter().map(|p| p.len()).sum();
        let mut header = IndexHeader {
            magic: INDEX_MAGIC,
            version: U32::new(version_for(self.cache_id)),
            known: U32::new(self.known),
            generation: U64::new(self.generation),
            next_block_id: U64::new(self.next_block_id),
            uidvalidity: U32::new(self.uidvalidity),
            uidnext: U32::new(self.uidnext),
            highestmodseq: U64::new(self.highestmodseq),
            exists: U32::new(self.exists),
            placed_count: count_u32(self.placed.len()),
            unplaced_count: count_u32(self.unplaced.len()),
            overlay_count: count_u32(self.overlay.len()),
            atom_count: count_u32(self.atoms.len()),
            flagset_count: count_u32(self.flagsets.len()),
            body_len: U64::new(body_len as u64),
            body_crc32: U32::new(crc32(&body)),
            cache_id: U64::new(self.cache_id),
            header_crc32: U32::new(0),
        };
        let covered = header
            .as_bytes()
            .get(..INDEX_HEADER_CRC_OFFSET)
            .unwrap_or_default();
        header.header_crc32 = U32::new(crc32(&[covered]));
        EncodedIndex {
            header,
            entries,
            tables,
        }
    }

    /// Decodes and checks an index file: magic, version, both checksums, section lengths.
    ///
    /// The meaning of the entries (order, overlap) is checked by the engine, which knows the
    /// rules of the state they describe.
    pub fn decode(bytes: &[u8]) -> Result<IndexImage, FormatError> {
        let (header, body) = IndexHeader::ref_from_prefix(bytes).map_err(|_| {
            FormatError::truncated("IndexHeader", 0, INDEX_HEADER_SIZE, bytes.len())
        })?;
        if header.magic != INDEX_MAGIC {
            return Err(FormatError::new(
                FormatErrorKind::BadMagic,
                "IndexHeader",
                "magic",
                0,
                format_args!("{INDEX_MAGIC:?}"),
                format_args!("{:?}", header.magic),
            ));
        }
        let covered = bytes.get(..INDEX_HEADER_CRC_OFFSET).unwrap_or_default();
        let actual = crc32(&[covered]);
        if actual != header.header_crc32.get() {
            return Err(FormatError::new(
                FormatErrorKind::BadChecksum,
                "IndexHeader",
                "header_crc32",
                INDEX_HEADER_CRC_OFFSET as u64,
                format_args!("{actual:#010x}"),
                format_args!("{:#010x}", header.header_crc32.get()),
            ));
        }
        check_version(
            header.version.get(),
            "IndexHeader",
            INDEX_VERSION_OFFSET as u64,
        )?;
        // v1 did not check its reserved bytes; v2 gives them a meaning that must be there.
        let cache_id = if header.version.get() == FORMAT_VERSION_V1 {
            NO_IDENTITY
        } else {
            header.cache_id.get()
        };
        if header.version.get() != FORMAT_VERSION_V1 && cache_id == NO_IDENTITY {
            return Err(FormatError::new(
                FormatErrorKind::Invalid,
                "IndexHeader",
                "cache_id",
                INDEX_CACHE_ID_OFFSET as u64,
                "a nonzero identity (format v2)",
                0,
            ));
        }
        let known = header.known.get();
        if known & !known::ALL != 0 {
            return Err(FormatError::new(
                FormatErrorKind::Invalid,
                "IndexHeader",
                "known",
                INDEX_KNOWN_OFFSET as u64,
                "bits 0..4 only",
                format_args!("{known:#x}"),
            ));
        }
        if body.len() as u64 != header.body_len.get() {
            return Err(FormatError::new(
                FormatErrorKind::Truncated,
                "IndexHeader",
                "body_len",
                INDEX_BODY_LEN_OFFSET as u64,
                format_args!("{} body bytes", header.body_len.get()),
                format_args!("{} body bytes", body.len()),
            ));
        }
        let actual = crc32(&[body]);
        if actual != header.body_crc32.get() {
            return Err(FormatError::new(
                FormatErrorKind::BadChecksum,
                "IndexHeader",
                "body_crc32",
                INDEX_BODY_CRC_OFFSET as u64,
                format_args!("{actual:#010x}"),
                format_args!("{:#010x}", header.body_crc32.get()),
            ));
        }
        let mut cur = Cursor::new(body, INDEX_HEADER_SIZE as u64, "IndexBody");
        let placed = read_entries(&mut cur, header.placed_count.get())?;
        let unplaced = read_entries(&mut cur, header.unplaced_count.get())?;
        let overlay_bytes = take_n(
            &mut cur,
            header.overlay_count.get(),
            crate::block::RECORD_SIZE,
        )?;
        let overlay = <[Record]>::ref_from_bytes(overlay_bytes)
            .map_err(|_| FormatError::truncated("Overlay", cur.offset(), 0, 0))?
            .to_vec();
        let mut atoms = Vec::new();
        for _ in 0..header.atom_count.get() {
            let len = cur.u32()? as usize;
            atoms.push(cur.take(len)?.to_vec());
        }
        let mut flagsets = Vec::new();
        for _ in 0..header.flagset_count.get() {
            let n = cur.u32()?;
            if n == FLAGSET_FREE {
                flagsets.push(None);
                continue;
            }
            let ids = take_n(&mut cur, n, 4)?;
            flagsets.push(Some(
                ids.chunks_exact(4)
                    .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
                    .collect(),
            ));
        }
        if !cur.is_empty() {
            return Err(FormatError::new(
                FormatErrorKind::Invalid,
                "IndexBody",
                "end",
                cur.offset(),
                "end of file after the flag-set table",
                "trailing bytes",
            ));
        }
        Ok(IndexImage {
            cache_id,
            known,
            generation: header.generation.get(),
            next_block_id: header.next_block_id.get(),
            uidvalidity: header.uidvalidity.get(),
            uidnext: header.uidnext.get(),
            highestmodseq: header.highestmodseq.get(),
            exists: header.exists.get(),
            placed,
            unplaced,
            overlay,
            atoms,
            flagsets,
        })
    }
}

fn take_n<'a>(cur: &mut Cursor<'a>, n: u32, size: usize) -> Result<&'a [u8], FormatError> {
    let len = (n as usize).saturating_mul(size);
    cur.take(len)
}

fn read_entries(cur: &mut Cursor<'_>, n: u32) -> Result<Vec<IndexEntry>, FormatError> {
    let at = cur.offset();
    let bytes = take_n(cur, n, INDEX_ENTRY_SIZE)?;
    let entries = <[IndexEntry]>::ref_from_bytes(bytes)
        .map_err(|_| FormatError::truncated("IndexEntry", at, 0, 0))?;
    // A bit this code does not know may claim something about the records that it cannot
    // keep true: refused, as an unknown `known` bit of the header is.
    if let Some((i, e)) = entries
        .iter()
        .enumerate()
        .find(|(_, e)| e.flags.get() & !entry_flags::ALL != 0)
    {
        return Err(FormatError::new(
            FormatErrorKind::Invalid,
            "IndexEntry",
            "flags",
            at + (i * INDEX_ENTRY_SIZE + INDEX_ENTRY_FLAGS_OFFSET) as u64,
            "bit 0 only",
            format_args!("{:#x}", e.flags.get()),
        ));
    }
    Ok(entries.to_vec())
}

impl IndexEntry {
    /// An entry from native values.
    pub fn new(
        block_id: u64,
        seq_start: u32,
        len: u32,
        first_record: u32,
        first_uid: u32,
        last_uid: u32,
    ) -> Self {
        IndexEntry {
            block_id: U64::new(block_id),
            seq_start: U32::new(seq_start),
            len: U32::new(len),
            first_record: U32::new(first_record),
            first_uid: U32::new(first_uid),
            last_uid: U32::new(last_uid),
            flags: U32::new(0),
        }
    }

    /// The entry with [`entry_flags::FLAGS_KNOWN`] set to `known`.
    #[must_use]
    pub fn with_flags_known(mut self, known: bool) -> Self {
        let rest = self.flags.get() & !entry_flags::FLAGS_KNOWN;
        let bit = if known { entry_flags::FLAGS_KNOWN } else { 0 };
        self.flags = U32::new(rest | bit);
        self
    }

    /// Whether the entry claims that every record of its slice has known FLAGS.
    pub fn flags_known(&self) -> bool {
        self.flags.get() & entry_flags::FLAGS_KNOWN != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IndexImage {
        IndexImage {
            cache_id: 0x0123_4567_89AB_CDEF,
            known: known::UIDVALIDITY | known::EXISTS,
            generation: 7,
            next_block_id: 12,
            uidvalidity: 99,
            uidnext: 0,
            highestmodseq: 0,
            exists: 40,
            placed: vec![
                IndexEntry::new(3, 1, 10, 0, 1, 10).with_flags_known(true),
                IndexEntry::new(4, 20, 5, 2, 30, 34),
            ],
            unplaced: vec![IndexEntry::new(4, SEQ_UNPLACED, 1, 0, 50, 50)],
            overlay: vec![Record::new(2, 1, 77)],
            atoms: vec![b"\\Seen".to_vec(), b"$Junk".to_vec()],
            flagsets: vec![Some(vec![]), None, Some(vec![0, 1])],
        }
    }

    #[test]
    fn layout_matches_spec() {
        assert_eq!(INDEX_HEADER_SIZE, 96);
        assert_eq!(INDEX_ENTRY_SIZE, 32);
        assert_eq!(std::mem::offset_of!(IndexHeader, known), 12);
        assert_eq!(std::mem::offset_of!(IndexHeader, generation), 16);
        assert_eq!(std::mem::offset_of!(IndexHeader, next_block_id), 24);
        assert_eq!(std::mem::offset_of!(IndexHeader, uidvalidity), 32);
        assert_eq!(std::mem::offset_of!(IndexHeader, uidnext), 36);
        assert_eq!(std::mem::offset_of!(IndexHeader, highestmodseq), 40);
        assert_eq!(std::mem::offset_of!(IndexHeader, exists), 48);
        assert_eq!(std::mem::offset_of!(IndexHeader, placed_count), 52);
        assert_eq!(std::mem::offset_of!(IndexHeader, flagset_count), 68);
        assert_eq!(std::mem::offset_of!(IndexHeader, body_len), 72);
        assert_eq!(std::mem::offset_of!(IndexHeader, body_crc32), 80);
        assert_eq!(INDEX_CACHE_ID_OFFSET, 84);
        assert_eq!(INDEX_HEADER_CRC_OFFSET, 92);
        assert_eq!(std::mem::offset_of!(IndexEntry, seq_start), 8);
        assert_eq!(std::mem::offset_of!(IndexEntry, len), 12);
        assert_eq!(std::mem::offset_of!(IndexEntry, first_record), 16);
        assert_eq!(std::mem::offset_of!(IndexEntry, first_uid), 20);
        assert_eq!(std::mem::offset_of!(IndexEntry, last_uid), 24);
        assert_eq!(INDEX_ENTRY_FLAGS_OFFSET, 28);
    }

    #[test]
    fn round_trip() {
        let image = sample();
        assert_eq!(IndexImage::decode(&image.encode()).expect("valid"), image);
    }

    #[test]
    fn rejects_damage() {
        let good = sample().encode();
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(
            IndexImage::decode(&bad).unwrap_err().kind,
            FormatErrorKind::BadMagic
        );
        for cut in 0..good.len() {
            assert!(
                IndexImage::decode(&good[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
        for byte in 0..good.len() {
            let mut bad = good.clone();
            bad[byte] ^= 0x40;
            assert!(IndexImage::decode(&bad).is_err(), "flip at {byte} accepted");
        }
    }

    #[test]
    fn v1_index_has_no_identity_and_v2_needs_one() {
        let v1 = IndexImage {
            cache_id: NO_IDENTITY,
            ..sample()
        };
        let bytes = v1.encode();
        assert_eq!(bytes[8], 1);
        assert_eq!(IndexImage::decode(&bytes).expect("v1 reads"), v1);
        let mut v2_without = bytes.clone();
        v2_without[8] = 2;
        let covered = v2_without[..INDEX_HEADER_CRC_OFFSET].to_vec();
        v2_without[92..96].copy_from_slice(&crc32(&[&covered]).to_le_bytes());
        let err = IndexImage::decode(&v2_without).unwrap_err();
        assert_eq!((err.field, err.offset), ("cache_id", 84));
    }

    /// Re-seals an encoded index after a test changed its body.
    fn reseal(bytes: &mut [u8]) {
        let body_crc = crc32(&[&bytes[INDEX_HEADER_SIZE..]]);
        bytes[INDEX_BODY_CRC_OFFSET..INDEX_BODY_CRC_OFFSET + 4]
            .copy_from_slice(&body_crc.to_le_bytes());
        let covered = bytes[..INDEX_HEADER_CRC_OFFSET].to_vec();
        bytes[INDEX_HEADER_CRC_OFFSET..INDEX_HEADER_SIZE]
            .copy_from_slice(&crc32(&[&covered]).to_le_bytes());
    }

    #[test]
    fn flags_known_bit_round_trips_at_its_offset() {
        let image = sample();
        let bytes = image.encode();
        let word = |i: usize| {
            let at = placed_entry_offset(i) as usize + INDEX_ENTRY_FLAGS_OFFSET;
            u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
        };
        assert_eq!((word(0), word(1)), (entry_flags::FLAGS_KNOWN, 0));
        let back = IndexImage::decode(&bytes).expect("valid");
        assert!(back.placed[0].flags_known());
        assert!(!back.placed[1].flags_known());
        assert!(!back.placed[0].with_flags_known(false).flags_known());
        assert_eq!(back, image);
    }

    #[test]
    fn refuses_undefined_entry_flag_bits() {
        let good = sample().encode();
        // Every undefined bit, in a placed and in an unplaced entry, CRCs made valid again.
        for (entry, bit) in [(0usize, 1u32), (1, 31), (2, 4)] {
            let mut bad = good.clone();
            let at = placed_entry_offset(entry) as usize + INDEX_ENTRY_FLAGS_OFFSET;
            let word = u32::from_le_bytes(bad[at..at + 4].try_into().expect("4 bytes"));
            bad[at..at + 4].copy_from_slice(&(word | 1 << bit).to_le_bytes());
            reseal(&mut bad);
            let err = IndexImage::decode(&bad).unwrap_err();
            assert_eq!(
                (err.kind, err.structure, err.field, err.offset),
                (FormatErrorKind::Invalid, "IndexEntry", "flags", at as u64),
                "bit {bit} of entry {entry}"
            );
        }
        // Bit 0 alone is valid in an unplaced entry too.
        let mut ok = good.clone();
        let at = placed_entry_offset(2) as usize + INDEX_ENTRY_FLAGS_OFFSET;
        ok[at] = 1;
        reseal(&mut ok);
        assert!(IndexImage::decode(&ok).expect("valid").unplaced[0].flags_known());
    }

    #[test]
    fn version_rules() {
        let mut image = sample().encode();
        image[8] = 3;
        let covered = image[..INDEX_HEADER_CRC_OFFSET].to_vec();
        image[92..96].copy_from_slice(&crc32(&[&covered]).to_le_bytes());
        assert_eq!(
            IndexImage::decode(&image).unwrap_err().kind,
            FormatErrorKind::UnknownVersion
        );
    }
}
