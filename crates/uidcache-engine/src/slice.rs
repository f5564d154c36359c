//! A slice: consecutive records of one block file, the unit the index is made of.

use uidcache_format::{FormatError, FormatErrorKind, Record, BLOCK_RECORD_COUNT_OFFSET};

use crate::blocks::{RecordSource, Records};
use crate::error::{Error, Result};

/// `len` records of block `block` from `first_record` on. Placed slices also carry the
/// sequence number of their first record; unplaced ones have `seq == 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice {
    pub(crate) block: u64,
    pub(crate) first_record: u32,
    pub(crate) len: u32,
    pub(crate) seq: u32,
    pub(crate) first_uid: u32,
    pub(crate) last_uid: u32,
    /// Every record of the slice has known FLAGS, in its block or in the overlay
    /// (`IndexEntry::flags`, FORMAT.md 4.2). `false` only means "not proven": it is the
    /// safe value, and any doubt leaves it there. It stays true while the slice does: block
    /// records never change, and overlay flags are never forgotten while their record is
    /// kept (`Op::SetMeta` refuses to), so only a change of the records (a learn, a
    /// rewrite) can make it false, and those compute it again.
    pub(crate) flags_known: bool,
}

/// The records of one slice, checked to lie inside their block.
pub(crate) struct SliceView<'s> {
    records: Records<'s>,
    start: usize,
    end: usize,
}

impl SliceView<'_> {
    pub(crate) fn records(&self) -> &[Record] {
        self.records.get(self.start..self.end).unwrap_or_default()
    }

    /// The UID of the record at `k`, or 0 when `k` is outside the slice.
    pub(crate) fn uid(&self, k: u32) -> u32 {
        self.records().get(k as usize).map_or(0, |r| r.uid.get())
    }

    /// Position of `uid` in the slice (`Err`: where it would go). Slices are UID-sorted.
    pub(crate) fn position(&self, uid: u32) -> std::result::Result<u32, u32> {
        crate::uid_search::position_of(self.records(), uid)
            .map(|k| k as u32)
            .map_err(|k| k as u32)
    }
}

/// The UID gap rule: UIDs rise by at least one per sequence number, so a message known at
/// `(seq, uid)` and a later one at `(later_seq, later_uid)` leave room for the messages
/// between them only when `later_uid - uid >= later_seq - seq`. `later_seq >= seq`.
pub(crate) fn uids_leave_room((seq, uid): (u32, u32), (later_seq, later_uid): (u32, u32)) -> bool {
    u64::from(later_uid) >= u64::from(uid) + u64::from(later_seq - seq)
}

impl Slice {
    /// Sequence number of the last record (placed slices; `len >= 1`).
    pub(crate) fn seq_end(&self) -> u32 {
        self.seq + self.len.saturating_sub(1)
    }

    /// Reads the slice's records through `src`.
    pub(crate) fn view<'s>(&self, src: &'s dyn RecordSource) -> Result<SliceView<'s>> {
        self.view_of(src.records(self.block)?, src)
    }

    /// The slice's records out of `records`, its block's as `src` returned them, after
    /// checking that the block holds them and that its records at the slice's ends have the
    /// slice's `first_uid` and `last_uid`: an index entry and a block that disagree (a block
    /// file replaced by another, or a damaged entry) is corruption, never an answer built on
    /// the wrong records.
    pub(crate) fn view_of<'s>(
        &self,
        records: Records<'s>,
        src: &dyn RecordSource,
    ) -> Result<SliceView<'s>> {
        let view = self.view_unchecked(records, src)?;
        for (k, expected) in [
            (0, self.first_uid),
            (self.len.saturating_sub(1), self.last_uid),
        ] {
            let found = view.uid(k);
            if found != expected {
                let record = u64::from(self.first_record) + u64::from(k);
                return Err(Error::corrupt(
                    src.block_file(self.block),
                    FormatError::new(
                        FormatErrorKind::Invalid,
                        "Record",
                        "uid",
                        uidcache_format::BLOCK_HEADER_SIZE as u64
                            + record * uidcache_format::RECORD_SIZE as u64,
                        format_args!("UID {expected} (record {record}, as the index entry says)"),
                        found,
                    ),
                ));
            }
        }
        Ok(view)
    }

    /// [`Slice::view`] with only the bounds checked, for `Learn`, which refuses (rather than
    /// reports as corruption) a slice whose ends do not match.
    pub(crate) fn view_bounds<'s>(&self, src: &'s dyn RecordSource) -> Result<SliceView<'s>> {
        self.view_unchecked(src.records(self.block)?, src)
    }

    fn view_unchecked<'s>(
        &self,
        records: Records<'s>,
        src: &dyn RecordSource,
    ) -> Result<SliceView<'s>> {
        let start = self.first_record as usize;
        let end = start + self.len as usize;
        if end > records.len() {
            return Err(Error::corrupt(
                src.block_file(self.block),
                FormatError::new(
                    FormatErrorKind::Invalid,
                    "BlockHeader",
                    "record_count",
                    BLOCK_RECORD_COUNT_OFFSET as u64,
                    format_args!("at least {end} records (an index entry uses them)"),
                    records.len(),
                ),
            ));
        }
        Ok(SliceView {
            records,
            start,
            end,
        })
    }

    /// The records `from..to` of this slice as a slice of their own.
    pub(crate) fn sub(&self, view: &SliceView<'_>, from: u32, to: u32) -> Slice {
        Slice {
            block: self.block,
            first_record: self.first_record + from,
            len: to - from,
            seq: if self.seq == 0 { 0 } else { self.seq + from },
            first_uid: view.uid(from),
            last_uid: view.uid(to.saturating_sub(1)),
            // A part of a slice whose flags are all known has them all known too.
            flags_known: self.flags_known,
        }
    }
}
