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

/// A slice's UIDs, as [`Slice::uids`] learned them: from the index entry alone when the
/// slice is dense, else from its block's records.
pub(crate) enum SliceUids<'s> {
    /// The slice's records have UIDs `first_uid..first_uid + len` (FORMAT.md 6.4).
    Dense { first_uid: u32, len: u32 },
    /// The records, read and checked ([`Slice::view`]).
    Read(SliceView<'s>),
}

impl SliceUids<'_> {
    /// The UID of the record at `k`, or 0 when `k` is outside the slice.
    pub(crate) fn uid(&self, k: u32) -> u32 {
        match self {
            SliceUids::Dense { first_uid, len } => {
                if k < *len {
                    first_uid + k
                } else {
                    0
                }
            }
            SliceUids::Read(view) => view.uid(k),
        }
    }

    /// Position of `uid` in the slice (`Err`: where it would go).
    pub(crate) fn position(&self, uid: u32) -> std::result::Result<u32, u32> {
        match self {
            SliceUids::Dense { first_uid, len } => position_in_extent(*first_uid, *len, uid),
            SliceUids::Read(view) => view.position(uid),
        }
    }

    /// How many of the slice's records have a UID below `uid`.
    pub(crate) fn count_below(&self, uid: u32) -> u32 {
        let (Ok(k) | Err(k)) = self.position(uid);
        k
    }
}

/// [`SliceUids::position`] of a dense slice: arithmetic on its extent.
fn position_in_extent(first_uid: u32, len: u32, uid: u32) -> std::result::Result<u32, u32> {
    match uid.checked_sub(first_uid) {
        None => Err(0),
        Some(k) if k < len => Ok(k),
        Some(_) => Err(len),
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

    /// Whether the slice is *dense*: its `len` records have the UIDs
    /// `first_uid..=last_uid`, one each. Within a slice UIDs strictly ascend (FORMAT.md 3.2),
    /// so `last_uid - first_uid + 1 == len` leaves no other choice: the index entry alone
    /// (checksummed, and checked against the block when the slice was made) says every
    /// UID and position, and finding them needs no block read (FORMAT.md 6.4).
    pub(crate) fn is_dense(&self) -> bool {
        self.last_uid >= self.first_uid
            && u64::from(self.last_uid - self.first_uid) + 1 == u64::from(self.len)
    }

    /// Where `uid` lies among the records of a dense slice (`Err`: where it would go),
    /// without reading them; `None` when the slice is not dense.
    #[inline]
    pub(crate) fn dense_position(&self, uid: u32) -> Option<std::result::Result<u32, u32>> {
        self.is_dense()
            .then(|| position_in_extent(self.first_uid, self.len, uid))
    }

    /// The slice's UIDs, for the callers that need no more of its records: a dense slice
    /// answers from its extent and reads nothing; any other reads and checks its block
    /// ([`Slice::view`]). Whoever needs FLAGS or MODSEQ reads the records with `view`.
    pub(crate) fn uids<'s>(&self, src: &'s dyn RecordSource) -> Result<SliceUids<'s>> {
        if self.is_dense() {
            return Ok(SliceUids::Dense {
                first_uid: self.first_uid,
                len: self.len,
            });
        }
        Ok(SliceUids::Read(self.view(src)?))
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
    pub(crate) fn sub(&self, uids: &SliceUids<'_>, from: u32, to: u32) -> Slice {
        Slice {
            block: self.block,
            first_record: self.first_record + from,
            len: to - from,
            seq: if self.seq == 0 { 0 } else { self.seq + from },
            first_uid: uids.uid(from),
            last_uid: uids.uid(to.saturating_sub(1)),
            // A part of a slice whose flags are all known has them all known too.
            flags_known: self.flags_known,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(first_uid: u32, last_uid: u32, len: u32) -> Slice {
        Slice {
            block: 1,
            first_record: 3,
            len,
            seq: 10,
            first_uid,
            last_uid,
            flags_known: false,
        }
    }

    #[test]
    fn a_dense_slice_answers_as_a_search_of_its_uids_would() {
        for (first, len) in [(1u32, 1u32), (5, 10), (100, 2048), (u32::MAX - 3, 4)] {
            let last = first + (len - 1);
            let s = slice(first, last, len);
            assert!(s.is_dense(), "{first}..={last}");
            let uids: Vec<u32> = (first..=last).collect();
            let dense = SliceUids::Dense {
                first_uid: first,
                len,
            };
            for probe in first.saturating_sub(2)..=last.saturating_add(2) {
                let expected = uids
                    .binary_search(&probe)
                    .map(|k| k as u32)
                    .map_err(|k| k as u32);
                assert_eq!(s.dense_position(probe), Some(expected), "UID {probe}");
                assert_eq!(dense.position(probe), expected, "UID {probe}");
                assert_eq!(
                    dense.count_below(probe),
                    uids.partition_point(|u| *u < probe) as u32
                );
            }
            for k in 0..len + 2 {
                assert_eq!(dense.uid(k), uids.get(k as usize).copied().unwrap_or(0));
            }
            // A part of a dense slice is dense, with the UIDs of its own ends.
            let part = s.sub(&dense, len / 3, len - len / 4);
            assert!(part.is_dense());
            assert_eq!(part.first_uid, first + len / 3);
            assert_eq!(part.last_uid, first + (len - len / 4 - 1));
            assert_eq!(part.seq, 10 + len / 3);
        }
    }

    #[test]
    fn a_slice_whose_uids_skip_is_not_dense() {
        for (first, last, len) in [(1, 3, 2), (5, 1_000, 10), (7, 6, 1), (0, u32::MAX, 1)] {
            let s = slice(first, last, len);
            assert!(!s.is_dense(), "{first}..={last} over {len}");
            assert_eq!(s.dense_position(first), None);
        }
    }
}
