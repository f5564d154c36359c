//! The placed slices, and their read index: from a sequence number to its slice in O(1),
//! and each slice's records as a pinned pointer resolved once, instead of a binary search, a
//! locked map lookup and two reference-count updates on every read.
//!
//! The index is a cache of the slices, built by the first read after a change. [`Placed`]
//! owns both, and every `&mut` access to the slices drops the index (`DerefMut`), so no code
//! path can change the slices and leave a stale index behind.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use uidcache_format::Record;

use crate::blocks::{MappedBlock, Records, MAPPED_CACHE_LIMIT};
use crate::mmap::{PinnedRecords, PinnedSlices};
use crate::slice::Slice;

/// Buckets per placed slice, about (see `SeqIndex::build`): 8 to 16 of them, 12 bytes each.
const BUCKETS_PER_SLICE: usize = 8;
/// Past this many slices (a badly fragmented layout, until compaction), fewer buckets per
/// slice, so that the index stays within a few times the size of the slices themselves.
const MANY_SLICES: usize = 1 << 16;

/// How many slices one index pins at most (each keeps its block mapped): the block store
/// bounds its own mappings (the kernel limits them per process), and these come on top.
const REMEMBERED_LIMIT: usize = MAPPED_CACHE_LIMIT / 2;

/// The sequence range of one placed slice.
struct Hot {
    seq: u32,
    /// The slice's last sequence number.
    end: u32,
}

/// See the module docs.
pub(crate) struct SeqIndex {
    /// Sequence numbers per bucket, as a power of two.
    shift: u32,
    /// `first[b]`: the index of the first placed slice whose last sequence number is at least
    /// `(b << shift) + 1`, for every bucket and one past the last.
    first: Vec<u32>,
    /// One per placed slice, in the same order, then a sentinel past every sequence number
    /// (so that the slice after a bucket's first candidate always exists).
    hot: Vec<Hot>,
    /// The slices' records once reads resolved their blocks, and the buckets inside them.
    pinned: PinnedSlices,
    remembered: AtomicUsize,
}

impl SeqIndex {
    fn build(placed: &[Slice]) -> SeqIndex {
        let exists = placed.last().map_or(0, Slice::seq_end) as usize;
        // About eight buckets per slice: most buckets then lie inside one slice, and a
        // lookup takes its bucket's first candidate or the next one, without a search.
        let per_slice = if placed.len() > MANY_SLICES {
            1
        } else {
            BUCKETS_PER_SLICE
        };
        let per_bucket = (exists / (placed.len().max(1) * per_slice)).max(1);
        let shift = per_bucket.ilog2();
        let buckets = (exists >> shift) + 1;
        let mut first = Vec::with_capacity(buckets + 1);
        let mut i = 0usize;
        for b in 0..=buckets as u64 {
            let start = (b << shift) + 1;
            while placed
                .get(i)
                .is_some_and(|s| u64::from(s.seq_end()) < start)
            {
                i += 1;
            }
            first.push(i as u32);
        }
        SeqIndex {
            shift,
            first,
            hot: placed
                .iter()
                .map(|s| Hot {
                    seq: s.seq,
                    end: s.seq_end(),
                })
                .chain([Hot {
                    seq: u32::MAX,
                    end: u32::MAX,
                }])
                .collect(),
            pinned: PinnedSlices::new(placed.len(), shift, buckets),
            remembered: AtomicUsize::new(0),
        }
    }

    /// `Ok(i)` when placed slice `i` holds `seq`, `Err(i)` when `seq` lies in the hole before
    /// slice `i` (or after the last one), as a binary search of the slices would say.
    #[inline(always)]
    pub(crate) fn find(&self, seq: u32) -> std::result::Result<usize, usize> {
        let slices = self.hot.len() - 1;
        let b = (seq.saturating_sub(1) >> self.shift) as usize;
        let Some(&lo) = self.first.get(b) else {
            // Past the last bucket: past the last slice.
            return Err(slices);
        };
        let lo = lo as usize;
        // The bucket's first candidate, or the next one when `seq` lies past its end (the
        // sentinel has no end).
        let mut i = lo + usize::from(self.hot.get(lo).is_some_and(|h| h.end < seq));
        let mut at = self.hot.get(i);
        if at.is_some_and(|h| h.end < seq) {
            i = self.search_bucket(b, lo, seq);
            at = self.hot.get(i);
        }
        match at {
            Some(h) if h.seq <= seq && i < slices => Ok(i),
            _ => Err(i.min(slices)),
        }
    }

    /// `find` in a bucket that holds several (short) slices: a search of its candidates.
    /// Kept out of line so that the common case stays short.
    #[inline(never)]
    fn search_bucket(&self, b: usize, lo: usize, seq: u32) -> usize {
        let hi = self
            .first
            .get(b + 1)
            .map_or(self.hot.len(), |&h| (h as usize + 1).min(self.hot.len()));
        let candidates = self.hot.get(lo..hi).unwrap_or_default();
        lo + candidates.partition_point(|h| h.end < seq)
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
        let h = self.hot.get(i)?;
        self.pinned.slice(i)?.get(seq.wrapping_sub(h.seq) as usize)
    }

    /// Remembers the records of placed slice `i`, which is `slice`, out of `records`, its
    /// block's. Blocks of an open transaction (borrowed records) are not remembered: they
    /// are not published yet. A block too short for the slice is not remembered either;
    /// damage is left to the caller's own read, which reports it.
    pub(crate) fn remember(&self, i: usize, slice: &Slice, records: &Records<'_>) {
        if self.pinned.slice(i).is_some()
            || self.remembered.load(Ordering::Relaxed) >= REMEMBERED_LIMIT
        {
            return;
        }
        let block = match records {
            Records::Mapped(m) => PinnedRecords::new(Arc::clone(m), MappedBlock::records),
            Records::Inline(r) => PinnedRecords::new(Arc::clone(r), Vec::as_slice),
            // A block's first read is a copy; the next one maps it and is remembered.
            Records::Borrowed(_) | Records::Copied(_) => return,
        };
        let Some(records) = block.narrow(slice.first_record as usize, slice.len as usize) else {
            return;
        };
        if self.pinned.pin(i, slice.seq, records) {
            self.remembered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The placed slices (ascending, disjoint sequence ranges) with their lazily built
/// [`SeqIndex`]. Reads go through `Deref`; any `&mut` access drops the index.
#[derive(Default)]
pub(crate) struct Placed {
    slices: Vec<Slice>,
    index: OnceLock<SeqIndex>,
}

impl Placed {
    /// The read index, built now if no read built it since the last change. For reads
    /// through a `View`: code that changes the state does not build it.
    pub(crate) fn index(&self) -> &SeqIndex {
        self.index.get_or_init(|| SeqIndex::build(&self.slices))
    }

    /// The read index, if a read built it since the last change.
    #[inline]
    pub(crate) fn built_index(&self) -> Option<&SeqIndex> {
        self.index.get()
    }
}

impl From<Vec<Slice>> for Placed {
    fn from(slices: Vec<Slice>) -> Placed {
        Placed {
            slices,
            index: OnceLock::new(),
        }
    }
}

impl Deref for Placed {
    type Target = Vec<Slice>;
    #[inline]
    fn deref(&self) -> &Vec<Slice> {
        &self.slices
    }
}

impl DerefMut for Placed {
    /// Any change to the slices goes through here, and drops the index built from them.
    fn deref_mut(&mut self) -> &mut Vec<Slice> {
        self.index.take();
        &mut self.slices
    }
}

impl Clone for Placed {
    /// The copy starts without an index (it is rebuilt on demand).
    fn clone(&self) -> Placed {
        Placed::from(self.slices.clone())
    }
}

impl std::fmt::Debug for Placed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.slices.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(seq: u32, len: u32) -> Slice {
        Slice {
            block: 1,
            first_record: 0,
            len,
            seq,
            first_uid: seq,
            last_uid: seq + len - 1,
        }
    }

    fn search(placed: &[Slice], seq: u32) -> std::result::Result<usize, usize> {
        let i = placed.partition_point(|s| s.seq_end() < seq);
        match placed.get(i) {
            Some(s) if s.seq <= seq => Ok(i),
            _ => Err(i),
        }
    }

    #[test]
    fn find_agrees_with_a_search_of_all_slices() {
        // Holes, one-record slices, long slices, and a crowded stretch.
        let mut layouts = vec![vec![], vec![slice(5, 1)], vec![slice(1, 1000)]];
        let mut mixed = vec![slice(3, 5), slice(10, 1), slice(11, 1), slice(12, 40)];
        for k in 0..30 {
            mixed.push(slice(60 + 2 * k, 1));
        }
        mixed.push(slice(200, 100));
        layouts.push(mixed);
        let mut crowded: Vec<Slice> = (0..64).map(|k| slice(k + 1, 1)).collect();
        crowded.push(slice(65, 5000));
        layouts.push(crowded);
        for placed in layouts {
            let index = SeqIndex::build(&placed);
            for seq in 0..=placed.last().map_or(10, |s| s.seq_end() + 10) {
                assert_eq!(index.find(seq), search(&placed, seq), "seq {seq}");
            }
        }
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
            });
            seq += len + len % 3;
            first_record += len;
        }
        let index = SeqIndex::build(&placed);
        for seq in 0..seq + 5 {
            assert_eq!(index.record_at(seq), None, "nothing pinned yet");
        }
        for (i, s) in placed.iter().enumerate() {
            index.remember(i, s, &records);
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

    #[test]
    fn a_change_drops_the_index() {
        let mut placed = Placed::from(vec![slice(1, 10), slice(11, 10)]);
        assert!(placed.built_index().is_none());
        assert_eq!(placed.index().find(12), Ok(1));
        assert!(placed.built_index().is_some());
        placed.remove(0);
        assert!(placed.built_index().is_none());
        assert_eq!(placed.index().find(12), Ok(0));
        assert!(placed.clone().built_index().is_none());
    }
}
