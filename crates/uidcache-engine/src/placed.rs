//! The placed slices, kept as a gap buffer with a lazily applied sequence shift, so that a
//! run of removals costs O(slices + removals) rather than O(slices) each (issue 12).
//!
//! A removal replaces one slice by zero, one or two pieces and lowers the sequence number of
//! every later slice by one. In one vector that is a move of the vector's tail and a pass
//! over it per removal: 100,000 removals (a VANISHED (EARLIER) of 1% of a 10M mailbox) took
//! 9 to 16 s in `mixed_day`. Here the slices before the gap (`left`) carry their sequence
//! numbers; those after it (`right`, stored last first) carry theirs plus `lag`, the
//! removals made before them since they moved there. A change at slice `i` moves the gap to
//! `i` (O(distance), each slice moved once) and is then O(1) at the gap, and lowering every
//! later slice is one addition to `lag`. Removals in ascending order (a VANISHED set, an
//! expunge range, journal replay of either) move the gap across the slices at most once.
//!
//! This is chosen over a bulk path that applies a run of ops in one pass because nothing
//! changes above it: a transaction and journal replay still apply one op at a time through
//! `State::apply` (state.rs), with the same checks and the same results, and callers that
//! remove one UID at a time get the speed-up without batching. The price: a single change
//! far from the gap moves it there, and an append then moves it back to the end, where a
//! vector moved its tail once.
//!
//! Reads by position (`get`, `len`) see through the gap at O(1), and `partition_point` at
//! O(log distance from the gap). Readers that need every slice as one `&[Slice]` (views, checkpoints,
//! compaction) go through `Deref`, which collects the slices once per change; the read
//! index is built from that. Any change drops both, so no stale copy can be read.

use std::ops::{Deref, Range};
use std::sync::OnceLock;

use crate::seqindex::SeqIndex;
use crate::slice::Slice;

/// The placed slices (ascending, disjoint sequence ranges) with their lazily built
/// [`SeqIndex`]. See the module docs.
#[derive(Default)]
pub(crate) struct Placed {
    /// The slices before the gap, in order, with their sequence numbers.
    left: Vec<Slice>,
    /// The slices after the gap, last first, each `seq` being `lag` above its own
    /// (wrapping: only the difference matters).
    right: Vec<Slice>,
    /// Removals before the slices of `right` not yet subtracted from their `seq`.
    lag: u32,
    /// All slices in order, collected for `Deref` while `right` is not empty.
    flat: OnceLock<Vec<Slice>>,
    index: OnceLock<SeqIndex>,
}

impl Placed {
    /// The read index, built now if no read built it since the last change. For reads
    /// through a `View`: code that changes the state does not build it.
    pub(crate) fn index(&self) -> &SeqIndex {
        self.index.get_or_init(|| SeqIndex::build(self))
    }

    /// The read index, if a read built it since the last change.
    #[inline]
    pub(crate) fn built_index(&self) -> Option<&SeqIndex> {
        self.index.get()
    }

    /// Whether placed slice `i` has every record's FLAGS known: its own bit, or a read's
    /// proof since the last change.
    pub(crate) fn flags_known(&self, i: usize) -> bool {
        self.get(i).is_some_and(|s| s.flags_known)
            || self.built_index().is_some_and(|x| x.flags_proved(i))
    }

    /// Drops the read index and the collected copy, after keeping the index's FLAGS proofs
    /// in the slices they were made of (a change about to happen must not lose them, and
    /// must not let them name other slices). O(slices), once per index that holds a proof.
    fn drop_derived(&mut self) {
        self.flat.take();
        let Some(index) = self.index.take() else {
            return;
        };
        if !index.any_flags_proved() {
            return;
        }
        let split = self.left.len();
        for (i, s) in self.left.iter_mut().enumerate() {
            s.flags_known |= index.flags_proved(i);
        }
        let r = self.right.len();
        for (k, s) in self.right.iter_mut().enumerate() {
            s.flags_known |= index.flags_proved(split + r - 1 - k);
        }
    }

    /// Number of slices.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.left.len() + self.right.len()
    }

    /// A slice of `right` as it stands (its `seq` with the lag taken off).
    #[inline]
    fn settled(&self, mut s: Slice) -> Slice {
        s.seq = s.seq.wrapping_sub(self.lag);
        s
    }

    /// Slice `i`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<Slice> {
        match i.checked_sub(self.left.len()) {
            None => self.left.get(i).copied(),
            Some(j) => {
                let k = self.right.len().checked_sub(j + 1)?;
                self.right.get(k).map(|s| self.settled(*s))
            }
        }
    }

    /// The last slice.
    pub(crate) fn last(&self) -> Option<Slice> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// The number of leading slices for which `pred` holds (`pred` holds for a prefix), as
    /// `<[Slice]>::partition_point` says, without collecting the slices.
    ///
    /// The search gallops outwards from the gap, O(log distance): a run of removals in
    /// order looks up the slice next to the one it just changed, and a binary search of
    /// tens of thousands of slices misses the cache on most of its steps (a quarter of a
    /// 10M VANISHED's time, three lookups per UID, before this).
    pub(crate) fn partition_point(&self, mut pred: impl FnMut(&Slice) -> bool) -> usize {
        let left = &self.left;
        if let Some(mut hi) = left.len().checked_sub(1).filter(|&i| {
            // `pred` fails at the last slice before the gap: the answer is before it.
            left.get(i).is_some_and(|s| !pred(s))
        }) {
            let mut step = 1;
            let lo = loop {
                match hi.checked_sub(step) {
                    Some(i) if left.get(i).is_some_and(|s| !pred(s)) => {
                        hi = i;
                        step *= 2;
                    }
                    Some(i) => break i + 1,
                    None => break 0,
                }
            };
            return lo + left.get(lo..hi).unwrap_or_default().partition_point(pred);
        }
        // The answer is at the gap or after it. `right` holds those slices last first: the
        // `j`-th after the gap is `right[r - 1 - j]`.
        let r = self.right.len();
        let holds = |pred: &mut dyn FnMut(&Slice) -> bool, j: usize| {
            self.right
                .get(r - 1 - j)
                .is_some_and(|s| pred(&self.settled(*s)))
        };
        let (mut lo, mut step) = (0, 1);
        let hi = loop {
            let j = lo + step - 1;
            if j >= r {
                break r;
            }
            if !holds(&mut pred, j) {
                break j;
            }
            lo = j + 1;
            step *= 2;
        };
        // `pred` holds after the gap for `lo..` and fails at `hi` (or `hi` is the end); in
        // `right[r - hi..r - lo]` (reversed) it fails on a prefix.
        let between = self.right.get(r - hi..r - lo).unwrap_or_default();
        let failing = between.partition_point(|s| !pred(&self.settled(*s)));
        left.len() + lo + (between.len() - failing)
    }

    /// Moves the gap to just before slice `at` (or the end): O(distance).
    fn gap_to(&mut self, at: usize) {
        self.drop_derived();
        let lag = self.lag;
        // One `extend` of a `drain` per move rather than a pop and a push per slice: a
        // single expunge at a random place and the append after it each move the gap across
        // a third of the slices on average, and this loop is most of their CPU time.
        let l = self.left.len();
        if l > at {
            let moved = self.left.drain(at..).rev().map(|mut s| {
                s.seq = s.seq.wrapping_add(lag);
                s
            });
            self.right.extend(moved);
        } else if l < at {
            let r = self.right.len();
            let from = r - (at - l).min(r);
            let moved = self.right.drain(from..).rev().map(|mut s| {
                s.seq = s.seq.wrapping_sub(lag);
                s
            });
            self.left.extend(moved);
        }
        if self.right.is_empty() {
            self.lag = 0;
        }
    }

    /// Removes every slice.
    pub(crate) fn clear(&mut self) {
        self.gap_to(0);
        self.right.clear();
        self.lag = 0;
    }

    /// Inserts `s` as slice `at`.
    pub(crate) fn insert(&mut self, at: usize, s: Slice) {
        self.gap_to(at);
        self.left.push(s);
    }

    /// Removes slice `at` and returns it.
    pub(crate) fn remove(&mut self, at: usize) -> Option<Slice> {
        self.gap_to(at);
        let s = self.right.pop()?;
        let s = self.settled(s);
        if self.right.is_empty() {
            self.lag = 0;
        }
        Some(s)
    }

    /// Replaces slice `at` with `pieces` (none, one or more); the caller keeps the order.
    pub(crate) fn replace(&mut self, at: usize, pieces: impl IntoIterator<Item = Slice>) {
        if self.remove(at).is_some() {
            self.left.extend(pieces);
        }
    }

    /// Removes slices `range` and returns them in order.
    pub(crate) fn drain(&mut self, range: Range<usize>) -> Vec<Slice> {
        self.gap_to(range.end);
        let from = range.start.min(self.left.len());
        self.left.split_off(from)
    }

    /// Lowers the sequence number of slice `from` and every later one by one.
    pub(crate) fn lower_seqs_from(&mut self, from: usize) {
        self.gap_to(from);
        if !self.right.is_empty() {
            self.lag = self.lag.wrapping_add(1);
        }
    }
}

impl From<Vec<Slice>> for Placed {
    fn from(slices: Vec<Slice>) -> Placed {
        Placed {
            left: slices,
            ..Placed::default()
        }
    }
}

impl Deref for Placed {
    type Target = [Slice];
    /// All slices in order: the left part as it is when the gap is at the end (after
    /// appends and after removals that reached the last slice), else a copy collected once
    /// per change.
    #[inline]
    fn deref(&self) -> &[Slice] {
        if self.right.is_empty() {
            return &self.left;
        }
        self.flat.get_or_init(|| {
            let mut all = Vec::with_capacity(self.len());
            all.extend_from_slice(&self.left);
            all.extend(self.right.iter().rev().map(|s| self.settled(*s)));
            all
        })
    }
}

impl Clone for Placed {
    /// The copy starts without an index (it is rebuilt on demand), and keeps its proofs.
    fn clone(&self) -> Placed {
        let mut slices = self.deref().to_vec();
        if let Some(index) = self.index.get() {
            index.fold_flags_proved(&mut slices);
        }
        Placed::from(slices)
    }
}

impl std::fmt::Debug for Placed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.deref().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn slice(seq: u32, len: u32) -> Slice {
        Slice {
            block: 1,
            first_record: 0,
            len,
            seq,
            first_uid: seq,
            last_uid: seq.wrapping_add(len - 1),
            flags_known: false,
        }
    }

    /// One change, as `State` makes them; positions are taken modulo the length.
    #[derive(Debug, Clone)]
    enum Change {
        Insert(usize, u32),
        Remove(usize),
        Replace(usize, u8),
        Drain(usize, usize),
        Lower(usize),
        Read,
        Clear,
    }

    fn change() -> impl Strategy<Value = Change> {
        let at = 0..64usize;
        prop_oneof![
            (at.clone(), 1..1000u32).prop_map(|(a, s)| Change::Insert(a, s)),
            at.clone().prop_map(Change::Remove),
            (at.clone(), 0..3u8).prop_map(|(a, n)| Change::Replace(a, n)),
            (at.clone(), 0..5usize).prop_map(|(a, n)| Change::Drain(a, n)),
            at.clone().prop_map(Change::Lower),
            at.prop_map(Change::Lower),
            Just(Change::Read),
            Just(Change::Clear),
        ]
    }

    /// Every way of reading the slices agrees with the plain vector.
    fn check(placed: &Placed, model: &[Slice]) {
        assert_eq!(placed.len(), model.len());
        assert_eq!(&placed[..], model);
        for i in 0..=model.len() {
            assert_eq!(placed.get(i), model.get(i).copied(), "slice {i}");
        }
        assert_eq!(placed.last(), model.last().copied());
        for key in 0..1100u32 {
            assert_eq!(
                placed.partition_point(|s| s.seq < key),
                model.partition_point(|s| s.seq < key),
                "key {key}"
            );
        }
    }

    proptest! {
        /// The gap buffer reads as the `Vec<Slice>` it replaced after any run of changes
        /// (the sequence numbers need not stay ordered for that), and once they are ordered
        /// again its searches agree with the vector's.
        #[test]
        fn the_gap_buffer_reads_as_the_vector_it_replaces(
            start in proptest::collection::vec(1..1000u32, 0..40),
            changes in proptest::collection::vec(change(), 0..80),
            cut in 0..64usize,
        ) {
            let mut sorted = start;
            sorted.sort_unstable();
            let mut model: Vec<Slice> = sorted.iter().map(|&s| slice(s, 1)).collect();
            let mut placed = Placed::from(model.clone());
            for c in changes {
                let n = model.len();
                match c {
                    Change::Insert(a, s) => {
                        let a = a % (n + 1);
                        model.insert(a, slice(s, 2));
                        placed.insert(a, slice(s, 2));
                    }
                    Change::Remove(a) if n > 0 => {
                        let a = a % n;
                        let gone = model.remove(a);
                        prop_assert_eq!(placed.remove(a), Some(gone));
                    }
                    Change::Replace(a, k) if n > 0 => {
                        let a = a % n;
                        let s = model[a];
                        let pieces: Vec<Slice> =
                            (0..u32::from(k)).map(|p| slice(s.seq.wrapping_add(p), 1)).collect();
                        model.splice(a..=a, pieces.iter().copied());
                        placed.replace(a, pieces);
                    }
                    Change::Drain(a, len) => {
                        let a = a % (n + 1);
                        let b = (a + len).min(n);
                        let gone: Vec<Slice> = model.drain(a..b).collect();
                        prop_assert_eq!(placed.drain(a..b), gone);
                    }
                    Change::Lower(a) => {
                        let a = a % (n + 1);
                        for s in model.get_mut(a..).unwrap_or_default() {
                            s.seq = s.seq.wrapping_sub(1);
                        }
                        placed.lower_seqs_from(a);
                    }
                    Change::Read => {
                        // A read in between (collects `flat`), which the next change drops.
                        prop_assert_eq!(&placed[..], &model[..]);
                    }
                    Change::Clear => {
                        model.clear();
                        placed.clear();
                    }
                    _ => {}
                }
                // Through the gap, without collecting.
                prop_assert_eq!(placed.len(), model.len());
                for i in 0..=model.len() {
                    prop_assert_eq!(placed.get(i), model.get(i).copied());
                }
            }
            prop_assert_eq!(&placed[..], &model[..]);
            // With the sequence numbers in order again, searches agree too.
            model.sort_by_key(|s| s.seq);
            // The gap anywhere with a lag: the slices after it stored one too high, then
            // lowered; searches gallop from there both ways.
            let mid = cut % (model.len() + 1);
            let mut shifted = model.clone();
            for s in shifted.get_mut(mid..).unwrap_or_default() {
                s.seq = s.seq.wrapping_add(1);
            }
            let mut placed = Placed::from(shifted);
            placed.lower_seqs_from(mid);
            check(&placed, &model);
        }
    }

    #[test]
    fn searches_see_through_the_gap() {
        // Ten slices of two, then removals in ascending order that leave the gap in the
        // middle with a lag, as a VANISHED run does.
        let mut model: Vec<Slice> = (0..10).map(|k| slice(1 + 2 * k, 2)).collect();
        let mut placed = Placed::from(model.clone());
        for at in [2usize, 5, 7] {
            model[at].len -= 1;
            let s = model[at];
            placed.replace(at, [s]);
            for later in &mut model[at + 1..] {
                later.seq -= 1;
            }
            placed.lower_seqs_from(at + 1);
            check(&placed, &model);
        }
        assert!(!placed.right.is_empty(), "the gap is inside");
        assert_eq!(placed.lag, 3);
        placed.gap_to(3);
        check(&placed, &model);
        placed.gap_to(placed.len());
        assert_eq!(placed.lag, 0, "no lag once the gap is at the end");
        check(&placed, &model);
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

    #[test]
    fn flag_proofs_survive_a_change_and_a_clone_only_for_their_slices() {
        let mut placed = Placed::from(vec![slice(1, 10), slice(11, 10), slice(21, 5)]);
        placed.index().prove_flags_known(1);
        assert!(!placed.flags_known(0) && placed.flags_known(1) && !placed.flags_known(2));
        assert!(placed.clone().get(1).is_some_and(|s| s.flags_known));
        placed.remove(0);
        assert!(placed.built_index().is_none());
        assert!(placed.flags_known(0), "the proven slice kept its proof");
        assert!(!placed.flags_known(1));
        // A proof made against the new slices points at the new positions.
        placed.index().prove_flags_known(1);
        placed.insert(0, slice(1, 1));
        let known: Vec<bool> = (0..3).map(|i| placed.flags_known(i)).collect();
        assert_eq!(known, [false, true, true]);
    }
}
