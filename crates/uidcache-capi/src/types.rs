//! The plain-data structs and constants C passes in and gets back.
//!
//! Inputs use `uint8_t` for yes/no fields (any nonzero value is yes), so that no bit
//! pattern C can write is invalid here; outputs use `bool`.

use uidcache::{Message, UidPosition, Update};

use crate::boundary;
use crate::status::Fail;

/// One message as the cache knows it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UidcacheMessage {
    /// The UID.
    pub uid: u32,
    /// The flag set (pass it to `uidcache_flag_names`); meaningful when `has_flags`.
    pub flag_set: u32,
    /// The MODSEQ; meaningful when `has_modseq`.
    pub modseq: u64,
    /// Whether FLAGS were ever learned.
    pub has_flags: bool,
    /// Whether the MODSEQ was ever learned.
    pub has_modseq: bool,
}

impl From<Message> for UidcacheMessage {
    #[inline]
    fn from(m: Message) -> Self {
        UidcacheMessage {
            uid: m.uid,
            flag_set: m.flags.map_or(0, |f| f.0),
            modseq: m.modseq.unwrap_or(0),
            has_flags: m.flags.is_some(),
            has_modseq: m.modseq.is_some(),
        }
    }
}

impl UidcacheMessage {
    /// Back to the engine's message (for `has_flag`).
    pub(crate) fn to_engine(self) -> Message {
        Message {
            uid: self.uid,
            flags: self.has_flags.then_some(uidcache::FlagSetId(self.flag_set)),
            modseq: self.has_modseq.then_some(self.modseq),
        }
    }
}

/// A message with its sequence number (0 for an unplaced message: known by UID only).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UidcacheRow {
    /// The sequence number, or 0 for an unplaced message.
    pub seq: u32,
    /// The message.
    pub message: UidcacheMessage,
}

/// The mailbox's counters; each `has_*` says whether the value beside it is known.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UidcacheCounters {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT.
    pub uidnext: u32,
    /// The message count (EXISTS).
    pub exists: u32,
    /// HIGHESTMODSEQ.
    pub highestmodseq: u64,
    /// Records the cache holds, placed and unplaced.
    pub record_count: u64,
    /// Records kept by UID without a position.
    pub unplaced_count: u64,
    /// Whether `uidvalidity` is known.
    pub has_uidvalidity: bool,
    /// Whether `uidnext` is known.
    pub has_uidnext: bool,
    /// Whether `exists` is known.
    pub has_exists: bool,
    /// Whether `highestmodseq` is known.
    pub has_highestmodseq: bool,
}

/// `uidcache_position.kind`: the UID is at `seq`.
pub const UIDCACHE_POSITION_PLACED: u32 = 1;
/// `uidcache_position.kind`: not known; if the message exists it lies in
/// `hole_first..=hole_last`.
pub const UIDCACHE_POSITION_IN_HOLE: u32 = 2;
/// `uidcache_position.kind`: known as an unplaced record; it may lie in the hole
/// `hole_first..=hole_last` (both 0 when no hole can hold it).
pub const UIDCACHE_POSITION_UNPLACED: u32 = 3;
/// `uidcache_position.kind`: what the cache knows proves no message has this UID.
pub const UIDCACHE_POSITION_ABSENT: u32 = 4;

/// Where a UID stands (`uidcache_position_of_uid`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UidcachePosition {
    /// One of `UIDCACHE_POSITION_*`.
    pub kind: u32,
    /// The sequence number, for `UIDCACHE_POSITION_PLACED`; else 0.
    pub seq: u32,
    /// First sequence number of the hole, or 0.
    pub hole_first: u32,
    /// Last sequence number of the hole, or 0.
    pub hole_last: u32,
}

impl From<UidPosition> for UidcachePosition {
    fn from(p: UidPosition) -> Self {
        let (kind, seq, (hole_first, hole_last)) = match p {
            UidPosition::Placed(seq) => (UIDCACHE_POSITION_PLACED, seq, (0, 0)),
            UidPosition::InHole { first, last } => (UIDCACHE_POSITION_IN_HOLE, 0, (first, last)),
            UidPosition::Unplaced { hole } => {
                (UIDCACHE_POSITION_UNPLACED, 0, hole.unwrap_or((0, 0)))
            }
            UidPosition::Absent => (UIDCACHE_POSITION_ABSENT, 0, (0, 0)),
        };
        UidcachePosition {
            kind,
            seq,
            hole_first,
            hole_last,
        }
    }
}

/// A byte string: `len` bytes at `ptr` (NULL allowed when `len` is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UidcacheBytes {
    /// The bytes.
    pub ptr: *const u8,
    /// How many.
    pub len: usize,
}

/// Flags and MODSEQ to learn or set. A field whose `set_*` is 0 leaves the stored value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UidcacheUpdate {
    /// The complete FLAGS: `flag_count` names (bytes as received; `\Recent` is dropped).
    pub flags: *const UidcacheBytes,
    /// How many names `flags` holds (0: no flags, when `set_flags`).
    pub flag_count: usize,
    /// The MODSEQ, when `set_modseq`.
    pub modseq: u64,
    /// Nonzero: store `flags`.
    pub set_flags: u8,
    /// Nonzero: store `modseq`.
    pub set_modseq: u8,
}

/// The names of an update, read from C memory.
pub(crate) struct Names<'a> {
    names: Vec<&'a [u8]>,
    set_flags: bool,
    modseq: Option<u64>,
}

impl<'a> Names<'a> {
    /// Reads `update` (NULL: change nothing).
    pub(crate) fn read(update: *const UidcacheUpdate) -> Result<Names<'a>, Fail> {
        let Some(u) = boundary::opt_ref(update, "update")? else {
            return Ok(Names {
                names: Vec::new(),
                set_flags: false,
                modseq: None,
            });
        };
        let mut names = Vec::new();
        if u.set_flags != 0 {
            for (k, b) in boundary::slice(u.flags, u.flag_count, "update->flags")?
                .iter()
                .enumerate()
            {
                names.push(boundary::slice(
                    b.ptr,
                    b.len,
                    &format!("update->flags[{k}]"),
                )?);
            }
        }
        Ok(Names {
            names,
            set_flags: u.set_flags != 0,
            modseq: (u.set_modseq != 0).then_some(u.modseq),
        })
    }

    /// The engine's update, borrowing the names.
    pub(crate) fn update(&self) -> Update<'_> {
        Update {
            flags: self.set_flags.then_some(self.names.as_slice()),
            modseq: self.modseq,
        }
    }
}

/// An inclusive range of UIDs.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidcacheUidRange {
    /// The first UID.
    pub first: u32,
    /// The last UID (not below `first`).
    pub last: u32,
}

/// Reads `count` UID ranges; an empty range (`last < first`) is an argument error.
pub(crate) fn uid_ranges(
    p: *const UidcacheUidRange,
    count: usize,
    what: &str,
) -> Result<Vec<std::ops::RangeInclusive<u32>>, Fail> {
    boundary::slice(p, count, what)?
        .iter()
        .enumerate()
        .map(|(k, r)| {
            if r.last < r.first {
                Err(Fail::argument(format!(
                    "{what}[{k}]: last {} is below first {}",
                    r.last, r.first
                )))
            } else {
                Ok(r.first..=r.last)
            }
        })
        .collect()
}

/// `uidcache_select.fields`: `uidvalidity` is set (`[UIDVALIDITY n]`).
pub const UIDCACHE_SELECT_UIDVALIDITY: u32 = 1;
/// `uidcache_select.fields`: `exists` is set (`* n EXISTS`).
pub const UIDCACHE_SELECT_EXISTS: u32 = 2;
/// `uidcache_select.fields`: `uidnext` is set (`[UIDNEXT n]`).
pub const UIDCACHE_SELECT_UIDNEXT: u32 = 4;
/// `uidcache_select.fields`: the SELECT carried the cache's QRESYNC parameter; `vanished`
/// holds the `VANISHED (EARLIER)` ranges (maybe none). Without it the SELECT is a plain one,
/// which proves no position.
pub const UIDCACHE_SELECT_QRESYNC: u32 = 8;

/// What a SELECT (or EXAMINE) reported, for `uidcache_txn_record_select`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UidcacheSelect {
    /// Which fields are set: `UIDCACHE_SELECT_*` bits.
    pub fields: u32,
    /// `[UIDVALIDITY n]`.
    pub uidvalidity: u32,
    /// `* n EXISTS`.
    pub exists: u32,
    /// `[UIDNEXT n]`.
    pub uidnext: u32,
    /// The `VANISHED (EARLIER)` ranges (with `UIDCACHE_SELECT_QRESYNC`).
    pub vanished: *const UidcacheUidRange,
    /// How many ranges `vanished` holds.
    pub vanished_count: usize,
}

/// What `uidcache_txn_record_select` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UidcacheSelectOutcome {
    /// Sequence numbers `1..=kept` stayed placed; every later record became unplaced.
    pub kept: u32,
    /// The UIDVALIDITY differed: every record and HIGHESTMODSEQ were dropped.
    pub cleared: bool,
    /// Records stayed whose flags the SELECT proved nothing about: do not store the
    /// server's HIGHESTMODSEQ before fetching the flags changed since the cached one.
    pub unproven_flags: bool,
}

/// What `uidcache_txn_remove_uids` removed.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UidcacheRemoved {
    /// Placed records removed (later messages moved down).
    pub placed: u64,
    /// Unknown positions removed from holes, for UIDs that had to lie in one.
    pub from_holes: u64,
    /// Unplaced records removed (the count did not change for them).
    pub unplaced: u64,
}

/// `uidcache_segment_fn`'s kind: every sequence number of the run is known.
pub const UIDCACHE_SEGMENT_KNOWN: u32 = 1;
/// `uidcache_segment_fn`'s kind: no sequence number of the run is known.
pub const UIDCACHE_SEGMENT_HOLE: u32 = 2;
