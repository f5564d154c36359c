//! The journal file: a 32-byte [`JournalHeader`], then frames, one per commit.
//!
//! A frame is a 24-byte [`FrameHeader`] followed by `payload_len` bytes of ops. Recovery
//! policy ([`scan_journal`]): the first frame that is incomplete or fails its checks ends the
//! journal (a torn tail) unless a valid *durable* frame with a higher sequence number follows
//! it; a durable commit was fsynced after everything before it, so damage in front of it is
//! corruption, never a torn write.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum::crc32;
use crate::error::{FormatError, FormatErrorKind};
use crate::identity::{cache_tag, check_identity, covered_id, id_bytes, version_for};
use crate::version::check_version;

/// Magic number at byte 0 of the journal file.
pub const JOURNAL_MAGIC: [u8; 8] = *b"UCJOURN\0";
/// Magic number at byte 0 of every frame.
pub const FRAME_MAGIC: [u8; 4] = *b"UCFR";
/// Largest payload a frame may carry; a larger length field is damage, not a frame.
pub const MAX_FRAME_PAYLOAD: u32 = 1 << 30;
/// [`FrameHeader::flags`] bit: the commit was fsynced before it returned.
pub const FRAME_DURABLE: u32 = 1;

/// Header of the journal file, 32 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct JournalHeader {
    /// [`JOURNAL_MAGIC`].
    pub magic: [u8; 8],
    /// 2 ([`crate::FORMAT_VERSION`]) in a cache with an identity, 1 in a format-v1 cache.
    pub version: U32,
    /// Random per journal; mixed into every frame checksum so frames of an older journal
    /// (or all-zero bytes) never validate in this one.
    pub salt: U32,
    /// Equals the index generation this journal continues.
    pub generation: U64,
    /// Low 32 bits of the cache identity ([`cache_tag`]); zero in format v1 (`reserved`
    /// there). New in format v2.
    pub cache_tag: U32,
    /// CRC-32 of bytes 0..28.
    pub crc32: U32,
}

/// Size of a [`JournalHeader`].
pub const JOURNAL_HEADER_SIZE: usize = std::mem::size_of::<JournalHeader>();

/// Header of one frame, 24 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct FrameHeader {
    /// [`FRAME_MAGIC`].
    pub magic: [u8; 4],
    /// Payload length, 1..=[`MAX_FRAME_PAYLOAD`].
    pub payload_len: U32,
    /// 1 for the first frame of a journal, then one more per frame.
    pub frame_seq: U64,
    /// Bit set: [`FRAME_DURABLE`].
    pub flags: U32,
    /// CRC-32 of the salt (4 bytes LE), the cache identity (8 bytes LE, format v2 only),
    /// frame header bytes 0..20, and the payload.
    pub crc32: U32,
}

/// Size of a [`FrameHeader`].
pub const FRAME_HEADER_SIZE: usize = std::mem::size_of::<FrameHeader>();
/// Byte offset of [`FrameHeader::payload_len`].
pub const FRAME_PAYLOAD_LEN_OFFSET: usize = std::mem::offset_of!(FrameHeader, payload_len);
/// Byte offset of [`FrameHeader::frame_seq`].
pub const FRAME_SEQ_OFFSET: usize = std::mem::offset_of!(FrameHeader, frame_seq);
/// Byte offset of [`FrameHeader::crc32`].
pub const FRAME_CRC_OFFSET: usize = std::mem::offset_of!(FrameHeader, crc32);
/// Byte offset of [`JournalHeader::version`].
pub const JOURNAL_VERSION_OFFSET: usize = std::mem::offset_of!(JournalHeader, version);
/// Byte offset of [`JournalHeader::generation`].
pub const JOURNAL_GENERATION_OFFSET: usize = std::mem::offset_of!(JournalHeader, generation);
/// Byte offset of [`JournalHeader::cache_tag`].
pub const JOURNAL_CACHE_TAG_OFFSET: usize = std::mem::offset_of!(JournalHeader, cache_tag);
/// Byte offset of [`JournalHeader::crc32`].
pub const JOURNAL_CRC_OFFSET: usize = std::mem::offset_of!(JournalHeader, crc32);

// The sizes and offsets of FORMAT.md section 5, checked when the crate compiles.
const _: () = {
    assert!(JOURNAL_HEADER_SIZE == 32);
    assert!(JOURNAL_VERSION_OFFSET == 8);
    assert!(std::mem::offset_of!(JournalHeader, salt) == 12);
    assert!(JOURNAL_GENERATION_OFFSET == 16);
    assert!(JOURNAL_CACHE_TAG_OFFSET == 24);
    assert!(JOURNAL_CRC_OFFSET == 28);
    assert!(FRAME_HEADER_SIZE == 24);
    assert!(FRAME_PAYLOAD_LEN_OFFSET == 4);
    assert!(FRAME_SEQ_OFFSET == 8);
    assert!(std::mem::offset_of!(FrameHeader, flags) == 16);
    assert!(FRAME_CRC_OFFSET == 20);
};

/// Encodes a journal header of the cache `cache_id` (format v1 when it is
/// [`crate::NO_IDENTITY`]).
pub fn encode_journal_header(salt: u32, generation: u64, cache_id: u64) -> Vec<u8> {
    let mut header = JournalHeader {
        magic: JOURNAL_MAGIC,
        version: U32::new(version_for(cache_id)),
        salt: U32::new(salt),
        generation: U64::new(generation),
        cache_tag: U32::new(cache_tag(cache_id)),
        crc32: U32::new(0),
    };
    header.crc32 = U32::new(crc32(&[header
        .as_bytes()
        .get(..JOURNAL_CRC_OFFSET)
        .unwrap_or_default()]));
    header.as_bytes().to_vec()
}

/// Checks a journal header against the cache `cache_id`; returns `(salt, generation)`. A
/// journal of another cache fails with [`FormatErrorKind::Foreign`].
pub fn parse_journal_header(bytes: &[u8], cache_id: u64) -> Result<(u32, u64), FormatError> {
    let (header, _) = JournalHeader::ref_from_prefix(bytes).map_err(|_| {
        FormatError::truncated("JournalHeader", 0, JOURNAL_HEADER_SIZE, bytes.len())
    })?;
    if header.magic != JOURNAL_MAGIC {
        return Err(FormatError::new(
            FormatErrorKind::BadMagic,
            "JournalHeader",
            "magic",
            0,
            format_args!("{JOURNAL_MAGIC:?}"),
            format_args!("{:?}", header.magic),
        ));
    }
    let actual = crc32(&[bytes.get(..JOURNAL_CRC_OFFSET).unwrap_or_default()]);
    if actual != header.crc32.get() {
        return Err(FormatError::new(
            FormatErrorKind::BadChecksum,
            "JournalHeader",
            "crc32",
            JOURNAL_CRC_OFFSET as u64,
            format_args!("{actual:#010x}"),
            format_args!("{:#010x}", header.crc32.get()),
        ));
    }
    check_version(
        header.version.get(),
        "JournalHeader",
        JOURNAL_VERSION_OFFSET as u64,
    )?;
    check_identity(
        header.version.get(),
        header.cache_tag.get(),
        cache_id,
        "JournalHeader",
        JOURNAL_CACHE_TAG_OFFSET as u64,
    )?;
    Ok((header.salt.get(), header.generation.get()))
}

/// Encodes one frame of the journal with `salt` in the cache `cache_id`.
pub fn encode_frame(
    salt: u32,
    cache_id: u64,
    frame_seq: u64,
    flags: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut header = FrameHeader {
        magic: FRAME_MAGIC,
        payload_len: U32::new(u32::try_from(payload.len()).unwrap_or(u32::MAX)),
        frame_seq: U64::new(frame_seq),
        flags: U32::new(flags),
        crc32: U32::new(0),
    };
    let covered = header
        .as_bytes()
        .get(..FRAME_CRC_OFFSET)
        .unwrap_or_default();
    let id = id_bytes(cache_id);
    header.crc32 = U32::new(crc32(&[
        &salt.to_le_bytes(),
        covered_id(&id, cache_id),
        covered,
        payload,
    ]));
    let mut out = Vec::with_capacity(FRAME_HEADER_SIZE + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// The identity of the v2 cache that the journal `bytes` belongs to, recovered from its
/// `cache_tag` and its first frame's CRC (FORMAT.md 8.7): for fsck when the index is lost.
/// `None` for a v1 journal, or one without a complete first frame.
pub fn journal_identity(bytes: &[u8]) -> Option<u64> {
    let (header, rest) = JournalHeader::ref_from_prefix(bytes).ok()?;
    if header.magic != JOURNAL_MAGIC || header.version.get() != crate::FORMAT_VERSION {
        return None;
    }
    let (frame, after) = FrameHeader::ref_from_prefix(rest).ok()?;
    let payload = after.get(..frame.payload_len.get() as usize)?;
    let covered = rest.get(..FRAME_CRC_OFFSET)?;
    let salt = header.salt.get().to_le_bytes();
    crate::identity::solve_identity(header.cache_tag.get(), frame.crc32.get(), |id| {
        crc32(&[&salt, &id.to_le_bytes(), covered, payload])
    })
    .filter(|id| parse_journal_header(bytes, *id).is_ok())
}

/// A frame that passed its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// File offset of the frame header.
    pub offset: u64,
    /// Its sequence number.
    pub frame_seq: u64,
    /// Its flags.
    pub flags: u32,
    /// Its payload.
    pub payload: &'a [u8],
    /// File offset of the payload.
    pub payload_offset: u64,
}

impl FrameRef<'_> {
    /// Offset just past this frame.
    pub fn end(&self) -> u64 {
        self.payload_offset + self.payload.len() as u64
    }
}

/// Checks the frame at `offset` of the whole journal `bytes`.
fn frame_at(
    bytes: &[u8],
    offset: u64,
    (salt, cache_id): (u32, u64),
    expected_seq: u64,
) -> Result<FrameRef<'_>, FormatError> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let rest = bytes.get(start..).unwrap_or_default();
    let (header, after) = FrameHeader::ref_from_prefix(rest).map_err(|_| {
        FormatError::truncated("FrameHeader", offset, FRAME_HEADER_SIZE, rest.len())
    })?;
    let invalid = |field, at: u64, expected: String, found: String| {
        FormatError::new(
            FormatErrorKind::Invalid,
            "FrameHeader",
            field,
            offset + at,
            expected,
            found,
        )
    };
    if header.magic != FRAME_MAGIC {
        return Err(FormatError::new(
            FormatErrorKind::BadMagic,
            "FrameHeader",
            "magic",
            offset,
            format_args!("{FRAME_MAGIC:?}"),
            format_args!("{:?}", header.magic),
        ));
    }
    let len = header.payload_len.get();
    if len == 0 || len > MAX_FRAME_PAYLOAD {
        return Err(invalid(
            "payload_len",
            FRAME_PAYLOAD_LEN_OFFSET as u64,
            format!("1..={MAX_FRAME_PAYLOAD}"),
            len.to_string(),
        ));
    }
    let payload = after.get(..len as usize).ok_or_else(|| {
        FormatError::truncated(
            "JournalFrame",
            offset,
            FRAME_HEADER_SIZE + len as usize,
            rest.len(),
        )
    })?;
    let covered = rest.get(..FRAME_CRC_OFFSET).unwrap_or_default();
    let id = id_bytes(cache_id);
    let actual = crc32(&[
        &salt.to_le_bytes(),
        covered_id(&id, cache_id),
        covered,
        payload,
    ]);
    if actual != header.crc32.get() {
        return Err(FormatError::new(
            FormatErrorKind::BadChecksum,
            "FrameHeader",
            "crc32",
            offset + FRAME_CRC_OFFSET as u64,
            format_args!("{actual:#010x}"),
            format_args!("{:#010x}", header.crc32.get()),
        ));
    }
    if header.frame_seq.get() != expected_seq {
        return Err(invalid(
            "frame_seq",
            FRAME_SEQ_OFFSET as u64,
            expected_seq.to_string(),
            header.frame_seq.get().to_string(),
        ));
    }
    Ok(FrameRef {
        offset,
        frame_seq: expected_seq,
        flags: header.flags.get(),
        payload,
        payload_offset: offset + FRAME_HEADER_SIZE as u64,
    })
}

/// How a journal ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalTail {
    /// The last frame ends exactly at the end of the file.
    Clean,
    /// Bytes after the last valid frame do not form a frame: an interrupted append, or
    /// non-durable commits lost in a crash. They are dropped.
    Torn {
        /// Why the first dropped byte is not a frame.
        reason: FormatError,
        /// How many bytes are dropped.
        dropped_bytes: u64,
    },
}

/// The outcome of reading a journal.
#[derive(Debug, Clone)]
pub struct JournalScan<'a> {
    /// Salt of the journal.
    pub salt: u32,
    /// Generation of the journal.
    pub generation: u64,
    /// The valid frames, in order.
    pub frames: Vec<FrameRef<'a>>,
    /// Offset just past the last valid frame: where the next frame goes.
    pub end: u64,
    /// How the journal ended.
    pub tail: JournalTail,
}

/// Reads a whole journal of the cache `cache_id` and applies the recovery policy in the
/// module docs.
pub fn scan_journal(bytes: &[u8], cache_id: u64) -> Result<JournalScan<'_>, FormatError> {
    let (salt, generation) = parse_journal_header(bytes, cache_id)?;
    let key = (salt, cache_id);
    let mut frames: Vec<FrameRef<'_>> = Vec::new();
    let mut offset = JOURNAL_HEADER_SIZE as u64;
    let total = bytes.len() as u64;
    loop {
        if offset == total {
            return Ok(JournalScan {
                salt,
                generation,
                frames,
                end: offset,
                tail: JournalTail::Clean,
            });
        }
        let expected = frames.last().map_or(1, |f| f.frame_seq + 1);
        match frame_at(bytes, offset, key, expected) {
            Ok(frame) => {
                offset = frame.end();
                frames.push(frame);
            }
            Err(reason) => {
                if let Some(later) = later_durable_frame(bytes, offset, key, expected) {
                    return Err(FormatError::new(
                        FormatErrorKind::Invalid,
                        "JournalFrame",
                        "frame",
                        offset,
                        format_args!(
                            "frame {expected}, since durable frame {} follows at byte {}",
                            later.0, later.1
                        ),
                        format_args!("damage: {reason}"),
                    ));
                }
                return Ok(JournalScan {
                    salt,
                    generation,
                    frames,
                    end: offset,
                    tail: JournalTail::Torn {
                        reason,
                        dropped_bytes: total - offset,
                    },
                });
            }
        }
    }
}

/// Looks for a valid durable frame with a sequence number above `expected - 1` after `from`.
fn later_durable_frame(
    bytes: &[u8],
    from: u64,
    key: (u32, u64),
    expected: u64,
) -> Option<(u64, u64)> {
    let start = usize::try_from(from).ok()?;
    let mut pos = start + 1;
    while let Some(found) = bytes.get(pos..).and_then(|rest| find(rest, &FRAME_MAGIC)) {
        let at = (pos + found) as u64;
        let seq = bytes
            .get(pos + found + 8..pos + found + 16)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
            .unwrap_or(0);
        if seq >= expected {
            if let Ok(frame) = frame_at(bytes, at, key, seq) {
                if frame.flags & FRAME_DURABLE != 0 {
                    return Some((seq, at));
                }
            }
        }
        pos += found + 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: u64 = 0x0123_4567_89AB_CDEF;

    fn journal(frames: &[(u32, &[u8])]) -> Vec<u8> {
        let mut bytes = encode_journal_header(0x5A17, 3, ID);
        for (i, (flags, payload)) in frames.iter().enumerate() {
            bytes.extend(encode_frame(0x5A17, ID, i as u64 + 1, *flags, payload));
        }
        bytes
    }

    #[test]
    fn layout_matches_spec() {
        assert_eq!(JOURNAL_HEADER_SIZE, 32);
        assert_eq!(FRAME_HEADER_SIZE, 24);
        assert_eq!(std::mem::offset_of!(JournalHeader, salt), 12);
        assert_eq!(std::mem::offset_of!(JournalHeader, generation), 16);
        assert_eq!(JOURNAL_CACHE_TAG_OFFSET, 24);
        assert_eq!(std::mem::offset_of!(FrameHeader, payload_len), 4);
        assert_eq!(std::mem::offset_of!(FrameHeader, frame_seq), 8);
        assert_eq!(std::mem::offset_of!(FrameHeader, flags), 16);
        assert_eq!(FRAME_CRC_OFFSET, 20);
    }

    #[test]
    fn clean_journal_round_trips() {
        let bytes = journal(&[(1, b"abc"), (0, b"de")]);
        let scan = scan_journal(&bytes, ID).expect("valid");
        assert_eq!((scan.salt, scan.generation), (0x5A17, 3));
        assert_eq!(scan.frames.len(), 2);
        assert_eq!(scan.frames[1].payload, b"de");
        assert_eq!(scan.end, bytes.len() as u64);
        assert_eq!(scan.tail, JournalTail::Clean);
    }

    #[test]
    fn every_truncation_is_a_torn_tail_keeping_whole_frames() {
        let bytes = journal(&[(1, b"abc"), (1, b"defgh")]);
        let first_end = (JOURNAL_HEADER_SIZE + FRAME_HEADER_SIZE + 3) as u64;
        for cut in JOURNAL_HEADER_SIZE..bytes.len() {
            let scan = scan_journal(&bytes[..cut], ID).expect("torn tail is not an error");
            let whole = if cut as u64 >= first_end { 1 } else { 0 };
            assert_eq!(scan.frames.len(), whole, "cut {cut}");
            let on_boundary = cut == JOURNAL_HEADER_SIZE || cut as u64 == first_end;
            assert_eq!(on_boundary, scan.tail == JournalTail::Clean, "cut {cut}");
        }
    }

    #[test]
    fn zero_filled_tail_is_torn_not_a_frame() {
        let mut bytes = journal(&[(1, b"abc")]);
        bytes.extend(std::iter::repeat_n(0u8, 4096));
        let scan = scan_journal(&bytes, ID).expect("valid");
        assert_eq!(scan.frames.len(), 1);
        assert!(matches!(
            scan.tail,
            JournalTail::Torn {
                dropped_bytes: 4096,
                ..
            }
        ));
    }

    #[test]
    fn damage_before_a_durable_frame_is_corruption() {
        let mut bytes = journal(&[(1, b"abc"), (1, b"defgh")]);
        bytes[JOURNAL_HEADER_SIZE + FRAME_HEADER_SIZE] ^= 1;
        let err = scan_journal(&bytes, ID).unwrap_err();
        assert_eq!(err.offset, JOURNAL_HEADER_SIZE as u64);
    }

    #[test]
    fn damage_before_only_non_durable_frames_is_a_torn_tail() {
        let mut bytes = journal(&[(0, b"abc"), (0, b"defgh")]);
        bytes[JOURNAL_HEADER_SIZE + FRAME_HEADER_SIZE] ^= 1;
        let scan = scan_journal(&bytes, ID).expect("lost non-durable commits are allowed");
        assert!(scan.frames.is_empty());
    }

    #[test]
    fn frames_of_another_salt_do_not_validate() {
        let mut bytes = encode_journal_header(1, 3, ID);
        bytes.extend(encode_frame(2, ID, 1, 1, b"abc"));
        assert!(scan_journal(&bytes, ID).expect("torn").frames.is_empty());
    }

    #[test]
    fn a_journal_of_another_cache_is_foreign() {
        let bytes = journal(&[(1, b"abc")]);
        let err = scan_journal(&bytes, ID ^ 1).unwrap_err();
        assert_eq!(
            (err.kind, err.field, err.offset),
            (FormatErrorKind::Foreign, "cache_tag", 24)
        );
        // A colliding tag still keeps the frames out: their CRC covers the whole identity.
        let scan = scan_journal(&bytes, ID ^ (1 << 40)).expect("header fits");
        assert!(scan.frames.is_empty());
        let err = scan_journal(&bytes, crate::NO_IDENTITY).unwrap_err();
        assert_eq!((err.kind, err.field), (FormatErrorKind::Foreign, "version"));
        let v1 = encode_journal_header(7, 0, crate::NO_IDENTITY);
        assert_eq!(v1[8], 1);
        let err = scan_journal(&v1, ID).unwrap_err();
        assert_eq!((err.kind, err.field), (FormatErrorKind::Foreign, "version"));
        assert!(scan_journal(&v1, crate::NO_IDENTITY).is_ok());
    }
}
