//! The placed slices, and their read index: from a sequence number to its slice in O(1),
//! and each slice's records as a pinned pointer resolved once, instead of a binary search, a
//! locked map lookup and two reference-count updates on every read. The other way too: from
//! a UID to its slice by the slices' UID extents in O(1), then to its record by the slice's
//! in-memory UID index (`uid_search.rs`), mostly without reading the records (issue 12).
//!
//! The index is a cache of the slices, built by the first read after a change.
//! [`crate::placed::Placed`] owns both, and every change to the slices drops the index, so no
//! code path can change the slices and leave a stale index behind.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use uidcache_format::Record;

use crate::blocks::{MappedBlock, Records, MAPPED_CACHE_LIMIT};
use crate::mmap::{PinnedRecords, PinnedSlices};
use crate::ranges::{RangeTable, Span};
use crate::slice::Slice;
use crate::uid_search::UidIndex;

/// Buckets per placed slice, about (see `SeqIndex::build`): 8 to 16 of them, 12 bytes each.
const BUCKETS_PER_SLICE: usize = 8;
/// Past this many slices (a badly fragmented layout, until compaction), fewer buckets per
/// slice, so that the index stays within a few times the size of the slices themselves.
const MANY_SLICES: usize = 1 << 16;

/// How many slices one index pins at most (each keeps its block mapped): the block store
/// bounds its own mappings (the kernel limits them per process), and these come on top.
const REMEMBERED_LIMIT: usize = MAPPED_CACHE_LIMIT / 2;

/// The placed slices' sequence ranges.
fn seq_spans(placed: &[Slice]) -> Vec<Span> {
    placed
        .iter()
        .map(|s| Span {
            first: s.seq,
            last: s.seq_end(),
        })
        .collect()
}

/// See the module docs.
pub(crate) struct SeqIndex {
    /// The placed slices' sequence ranges, in the same order as the slices.
    seqs: RangeTable,
    /// The placed slices' UID extents, in the same order: UID → slice without a search.
    uids: RangeTable,
    /// The slices' records once reads resolved their blocks, and the buckets inside them.
    pinned: PinnedSlices,
    /// Per placed slice, its records by UID, built at the first UID lookup once pinned.
    by_uid: Vec<OnceLock<UidIndex>>,
    remembered: AtomicUsize,
    /// Per placed slice, whether a read found every record's FLAGS known (the unknown-flags
    /// scan): kept here, where any change to the slices drops it with the rest of the index,
    /// so that it is only ever true of the slices it was read from. [`Placed`] folds it into
    /// the slices' own bits before a change.
    flags_proved: Vec<AtomicBool>,
    any_flags_proved: AtomicBool,
}

impl SeqIndex {
    pub(crate) fn build(placed: &[Slice]) -> SeqIndex {
        // About eight buckets per slice: most buckets then lie inside one slice, and a
        // lookup takes its bucket's first candidate or the next one, without a search.
        let per_slice = if placed.len() > MANY_SLICES {
            1
        } else {
            BUCKETS_PER_SLICE
        };
        // Sequence buckets start at 1, so that bucket `b` is `(seq - 1) >> shift`, which is
        // what the pinned buckets use.
        let seqs = RangeTable::build(&seq_spans(placed), 1, per_slice);
        let uid_spans: Vec<Span> = placed
            .iter()
            .map(|s| Span {
                first: s.first_uid,
                last: s.last_uid,
            })
            .collect();
        let base = placed.first().map_or(0, |s| s.first_uid);
        // UIDs need no bucket per record run, only few slices per bucket: half as many.
        let uids = RangeTable::build(&uid_spans, base, per_slice.div_ceil(2));
        SeqIndex {
            pinned: PinnedSlices::new(placed.len(), seqs.shift(), seqs.buckets()),
            seqs,
            uids,
            by_uid: placed.iter().map(|_| OnceLock::new()).collect(),
            remembered: AtomicUsize::new(0),
            flags_proved: placed.iter().map(|_| AtomicBool::new(false)).collect(),
            any_flags_proved: AtomicBool::new(false),
        }
    }

    /// Records that a read of placed slice `i` found every record's FLAGS known.
    pub(crate) fn prove_flags_known(&self, i: usize) {
        if let Some(bit) = self.flags_proved.get(i) {
            bit.store(true, Ordering::Relaxed);
            self.any_flags_proved.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a read proved placed slice `i`'s FLAGS all known.
    pub(crate) fn flags_proved(&self, i: usize) -> bool {
        self.flags_proved
            .get(i)
            .is_some_and(|b| b.load(Ordering::Relaxed))
    }

    /// Whether a read proved any slice's FLAGS all known.
    pub(crate) fn any_flags_proved(&self) -> bool {
        self.any_flags_proved.load(Ordering::Relaxed)
    }

    /// Sets the bit of every slice a read proved (`slices` are the ones the index was
    /// built from). O(slices), once per index that holds a proof.
    pub(crate) fn fold_flags_proved(&self, slices: &mut [Slice]) {
        if !self.any_flags_proved() {
            return;
        }
        for (s, bit) in slices.iter_mut().zip(&self.flags_proved) {
            s.flags_known |= bit.load(Ordering::Relaxed);
        }
    }

    /// `Ok(i)` when placed slice `i` holds `seq`, `Err(i)` when `seq` lies in the hole before
    /// slice `i` (or after the last one), as a binary search of the slices would say.
    #[inline(always)]
    pub(crate) fn find(&self, seq: u32) -> std::result::Result<usize, usize> {
        self.seqs.find(seq)
    }

    /// `Ok(i)` when `uid` lies within placed slice `i`'s UID extent, `Err(i)` when it lies
    /// between the extents of slices `i - 1` and `i` (or past the last one).
    #[inline(always)]
    pub(crate) fn find_uid(&self, uid: u32) -> std::result::Result<usize, usize> {
        self.uids.find(uid)
    }

    /// Where `uid` lies among placed slice `i`'s records (as a binary search would say),
    /// once a read remembered them: `None` sends the caller to the block.
    #[inline]
    pub(crate) fn uid_position(&self, i: usize, uid: u32) -> Option<Result<usize, usize>> {
        let records = self.records(i)?;
        // Built at the slice's first UID lookup, not when it is pinned: reads by sequence
        // number alone never pay for it.
        let by_uid = self.by_uid.get(i)?.get_or_init(|| UidIndex::new(records));
        Some(by_uid.position(records, uid))
    }

    /// The records of placed slice `i`, once a read remembered them.
    #[inline]
    pub(crate) fn records(&self, i: usize) -> Option<&[Record]> {
        self.pinned.slice(i)
    }

    /// The record at `seq` when its bucket lies inside one pinned slice (most do): one
    /// pointer, then the record. `None` sends the caller to `record_at`.
    #[inline(always)]
    pub(crate) fn bucket_record(&self, seq: u32) -> Option<&Record> {
        self.pinned.record(seq.wrapping_sub(1) as usize)
    }

    /// The record at `seq` when the index can answer alone: `None` for a hole, or a slice
    /// whose block no read resolved yet. The caller then takes the general path.
    pub(crate) fn record_at(&self, seq: u32) -> Option<&Record> {
        match self.bucket_record(seq) {
            Some(r) => Some(r),
            None => self.record_in_slice(seq),
        }
    }

    /// `record_at` through `find`, for buckets that straddle slices.
    #[inline(never)]
    fn record_in_slice(&self, seq: u32) -> Option<&Record> {
        let i = self.find(seq).ok()?;
        let first = self.seqs.span(i)?.first;
        self.pinned.slice(i)?.get(seq.wrapping_sub(first) as usize)
    }

    /// Remembers the records of placed slice `i`, which is `slice`, out of `records`, its
    /// block's. Blocks of an open transaction (borrowed records) are not remembered: they
    /// are not published yet. A block too short for the slice is not remembered either;
    /// damage is left to the caller's own read, which reports it.
    ///
    /// Returns whether the records were a copy that this index would have remembered: the
    /// caller then asks the store to map the block at its next read, which is remembered
    /// (a pinned copy would hold 32 KiB of heap, a mapping only the pages read).
    #[must_use]
    pub(crate) fn remember(&self, i: usize, slice: &Slice, records: &Records<'_>) -> bool {
        if self.pinned.slice(i).is_some()
            || self.remembered.load(Ordering::Relaxed) >= REMEMBERED_LIMIT
        {
            return false;
        }
        let block = match records {
            Records::Mapped(m) => PinnedRecords::new(Arc::clone(m), MappedBlock::records),
            Records::Inline(r) => PinnedRecords::new(Arc::clone(r), Vec::as_slice),
            Records::Borrowed(_) => return false,
            Records::Copied(_) => return true,
        };
        let Some(records) = block.narrow(slice.first_record as usize, slice.len as usize) else {
            return false;
        };
        if self.pinned.pin(i, slice.seq, records) {
            self.remembered.fetch_add(1, Ordering::Relaxed);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary search of all the slices' sequence ranges (`SeqIndex::find` is the
    /// `RangeTable`'s, tested in `ranges.rs`; here it serves the pinned buckets' test).
    fn search(placed: &[Slice], seq: u32) -> std::result::Result<usize, usize> {
        crate::ranges::tests::search(&seq_spans(placed), seq)
    }

    #[test]
    fn pinned_buckets_answer_as_the_slices_do() {
        // One block of 1,000 records (UID = 10 × position), cut into slices of odd lengths
        // with holes between them, so that buckets straddle slice ends and holes.
        let block: Vec<Record> = (0..1000u32)
            .map(|k| Record::new(10 * k + 10, 0, 0))
            .collect();
        let records = Records::Inline(Arc::new(block));
        let mut placed = Vec::new();
        let (mut seq, mut first_record) = (1u32, 0u32);
        for len in [1u32, 2, 37, 100, 3, 250, 64, 128, 7, 300] {
            let first_uid = 10 * first_record + 10;
            placed.push(Slice {
                block: 9,
                first_record,
                len,
                seq,
                first_uid,
                last_uid: first_uid + 10 * (len - 1),
                flags_known: false,
            });
            seq += len + len % 3;
            first_record += len;
        }
        let index = SeqIndex::build(&placed);
        for seq in 0..seq + 5 {
            assert_eq!(index.record_at(seq), None, "nothing pinned yet");
        }
        for (i, s) in placed.iter().enumerate() {
            assert!(!index.remember(i, s, &records));
        }
        for seq in 0..seq + 5 {
            let expected = match search(&placed, seq) {
                Ok(i) => placed
                    .get(i)
                    .map(|s| Record::new(10 * (s.first_record + seq - s.seq) + 10, 0, 0)),
                Err(_) => None,
            };
            assert_eq!(index.record_at(seq).copied(), expected, "seq {seq}");
        }
    }
}
