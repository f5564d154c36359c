//! The placed slices, kept in short runs with lazily applied sequence shifts, so that one
//! change costs O(run + runs/3) instead of O(slices), and a sorted batch of changes
//! O(runs + changes × run) (issue 12).
//!
//! A removal replaces one slice by zero, one or two pieces and lowers the sequence number of
//! every later slice by one. In one vector that is a move of the vector's tail and a pass
//! over it per removal: 100,000 removals (a VANISHED (EARLIER) of 1% of a 10M mailbox) took
//! 9 to 16 s in `mixed_day`. A gap buffer over the slices made sorted batches cheap, but a
//! single expunge at a random place moved the gap across a third of the slices (10,000 to
//! 17,000 entries at 1M messages): a third of `expunge_storm_nosync`'s CPU time.
//!
//! Here the slices are cut into runs of at most `max_run` (64) slices, each run a vector of
//! its own with a `Head`: the index of its first slice and its `shift`, the amount by which
//! its stored `seq`s lie above the true ones. A change inside a run moves at most the run's
//! tail; lowering every later slice is a decrement of that run's tail and one more `shift`
//! for every later run. The heads keep that last step lazy too, as the gap buffer did for
//! slices: heads before `gap` are exact, those from `gap` on lack `pending`, and a change
//! at run `c` moves `gap` to `c + 1` by settling the heads in between (O(distance) in runs,
//! 16 bytes each). A run that grows past `max_run` is split in two; one that falls below a
//! quarter of it joins a neighbour that has room, so runs stay between a few and `max_run`
//! slices and the heads number about slices / 40.
//!
//! Reads by position (`get`, `len`) find their run from a finger (the run last used) or by a
//! binary search of the heads, and `partition_point` gallops from the finger over the runs'
//! last slices and inside the run, O(log distance): a run of removals in order looks up the
//! slice next to the one it just changed. Readers that need every slice as one `&[Slice]`
//! (views, checkpoints, compaction steps) go through `Deref`, which collects the slices once
//! per change (the gap buffer could lend its left part when the gap was at the end; a copy
//! of 15,000 slices is about 0.5 MB, small beside a step's own passes over them); the read
//! index is built from that, and `get` and `partition_point` read that copy while it exists.
//! Any change drops both, so no stale copy can be read. Lookups collect the copy too, once
//! those since the last change number a quarter of the slices: a flag storm's 100,000
//! change only the overlay, and search the copy at a third of the cost, while an expunge
//! storm's few per change never collect (copying every slice per commit is what the runs
//! were made to avoid).

use std::ops::{Deref, Range};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::seqindex::SeqIndex;
use crate::slice::Slice;

/// Slices per run at most, by default. A change moves up to a run within it and settles
/// up to a third of the heads: at 1M messages (10,000–17,000 slices, 250–450 runs) about
/// 30 slices and 100 heads instead of 5,000 slices. 64 rather than 128: a sorted batch
/// (a VANISHED set) moves half a run per removal, where the gap buffer moved nothing, and at
/// 128 that made a 1M VANISHED commit 1–1.5 ms slower; at 64 the difference is within the
/// noise of the measurement (BENCHMARKS.md, "Expunge storms: the gap move").
const MAX_RUN: usize = 64;

/// Slices per lookup through the runs, since the last change, at which a lookup collects
/// the slices for the next ones: a search of the collected copy costs 18 ns where the runs
/// cost 51 (500 slices) or 39 ns against 94 (15,000), and collecting costs 1.4 ns a slice,
/// so lookups that run to a quarter of the slices pay for it (a flag storm's 100,000, after
/// 125 at 1M messages), and a copy dropped at once costs at most 5.6 ns per lookup before
/// it. An expunge storm makes a few lookups per change and never collects.
const SLICES_PER_LOOKUP: usize = 4;

/// Where a run starts and how far its stored sequence numbers lie above the true ones
/// (both wrapping: heads from the gap on are stored without `pending`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Head {
    start: usize,
    shift: u32,
}

impl Head {
    fn plus(self, d: Head) -> Head {
        Head {
            start: self.start.wrapping_add(d.start),
            shift: self.shift.wrapping_add(d.shift),
        }
    }

    fn minus(self, d: Head) -> Head {
        Head {
            start: self.start.wrapping_sub(d.start),
            shift: self.shift.wrapping_sub(d.shift),
        }
    }
}

/// The placed slices (ascending, disjoint sequence ranges) with their lazily built
/// [`SeqIndex`]. See the module docs.
pub(crate) struct Placed {
    /// The slices in order, in runs of 1 to `max_run` (no empty run).
    runs: Vec<Vec<Slice>>,
    /// One per run; exact before `gap`, `pending` short of it from `gap` on.
    heads: Vec<Head>,
    /// Each run's last slice as stored, in one array: a search probes a run by its last
    /// slice, and reading it through the run's own allocation missed the cache once more
    /// per probe.
    lasts: Vec<Slice>,
    gap: usize,
    /// What the heads from `gap` on lack: removals and insertions before them (as a
    /// wrapping change of `start`) and sequence numbers lowered before them (`shift`).
    pending: Head,
    len: usize,
    max_run: usize,
    /// The run of the last lookup, and the place in it: where the next one starts (hints,
    /// any value is safe).
    finger: AtomicUsize,
    finger_at: AtomicUsize,
    /// Lookups through the runs since the last change (see [`SLICES_PER_LOOKUP`]).
    lookups: AtomicUsize,
    /// Heads settled and slices moved or renumbered, to test the bound per change.
    #[cfg(test)]
    work: usize,
    /// All slices in order, collected for `Deref`.
    flat: OnceLock<Vec<Slice>>,
    index: OnceLock<SeqIndex>,
}

impl Default for Placed {
    fn default() -> Placed {
        Placed::with_max_run(Vec::new(), MAX_RUN)
    }
}

impl Placed {
    /// `slices` in runs of at most `max_run` (at least 4), half full.
    fn with_max_run(slices: Vec<Slice>, max_run: usize) -> Placed {
        let max_run = max_run.max(4);
        let (mut runs, mut heads) = (Vec::new(), Vec::new());
        let len = slices.len();
        for (k, run) in slices.chunks(max_run / 2).enumerate() {
            runs.push(run.to_vec());
            heads.push(Head {
                start: k * (max_run / 2),
                shift: 0,
            });
        }
        Placed {
            gap: runs.len(),
            lasts: runs
                .iter()
                .filter_map(|r: &Vec<Slice>| r.last().copied())
                .collect(),
            runs,
            heads,
            pending: Head::default(),
            len,
            max_run,
            finger: AtomicUsize::new(0),
            finger_at: AtomicUsize::new(0),
            lookups: AtomicUsize::new(0),
            #[cfg(test)]
            work: 0,
            flat: OnceLock::new(),
            index: OnceLock::new(),
        }
    }

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
        *self.lookups.get_mut() = 0;
        let Some(index) = self.index.take() else {
            return;
        };
        if !index.any_flags_proved() {
            return;
        }
        for (i, s) in self.runs.iter_mut().flatten().enumerate() {
            s.flags_known |= index.flags_proved(i);
        }
    }

    /// Number of slices.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Run `c`'s head as it stands.
    #[inline]
    fn head(&self, c: usize) -> Head {
        let h = self.heads.get(c).copied().unwrap_or_default();
        if c < self.gap {
            h
        } else {
            h.plus(self.pending)
        }
    }

    /// Slice `s` of a run whose head is `h`, as it stands.
    #[inline]
    fn settled(h: Head, mut s: Slice) -> Slice {
        s.seq = s.seq.wrapping_sub(h.shift);
        s
    }

    /// The run holding slice `i` (`i < len`) and `i`'s place in it.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        let holds = |c: usize| {
            let start = self.head(c).start;
            let n = self.runs.get(c).map_or(0, Vec::len);
            (i >= start && i - start < n).then_some(i - start)
        };
        let f = self.finger.load(Ordering::Relaxed);
        for c in [f, f + 1] {
            if let Some(at) = holds(c) {
                self.finger.store(c, Ordering::Relaxed);
                return Some((c, at));
            }
        }
        // The number of runs starting at or before `i`, the exact heads first.
        let gap = self.gap.min(self.heads.len());
        let (exact, lagging) = self.heads.split_at(gap);
        let mut c = exact.partition_point(|h| h.start <= i);
        if c == gap {
            c += lagging.partition_point(|h| h.plus(self.pending).start <= i);
        }
        let c = c.checked_sub(1)?;
        let at = holds(c)?;
        self.finger.store(c, Ordering::Relaxed);
        Some((c, at))
    }

    /// Slice `i`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<Slice> {
        // Reads through a built index have the slices collected already.
        if let Some(all) = self.flat.get() {
            return all.get(i).copied();
        }
        let (c, at) = self.locate(i)?;
        let s = *self.runs.get(c)?.get(at)?;
        Some(Placed::settled(self.head(c), s))
    }

    /// The last slice.
    pub(crate) fn last(&self) -> Option<Slice> {
        let c = self.runs.len().checked_sub(1)?;
        let s = *self.runs.get(c)?.last()?;
        Some(Placed::settled(self.head(c), s))
    }

    /// The number of leading slices for which `pred` holds (`pred` holds for a prefix), as
    /// `<[Slice]>::partition_point` says.
    ///
    /// The search gallops over the runs from the finger, O(log distance): a run of removals
    /// in order looks up the slice next to the one it just changed, and a binary search of
    /// tens of thousands of slices misses the cache on most of its steps (a quarter of a
    /// 10M VANISHED's time, three lookups per UID, before the gap buffer did this). Many
    /// lookups without a change between them (a flag storm's, which change only the
    /// overlay) search the collected copy instead, collected by one of them when there is
    /// none (see [`SLICES_PER_LOOKUP`]; BENCHMARKS.md, "Durable flag storms after placed
    /// runs").
    pub(crate) fn partition_point(&self, pred: impl FnMut(&Slice) -> bool) -> usize {
        if let Some(all) = self.flat.get() {
            return all.partition_point(pred);
        }
        // A plain load and store, not an atomic add: a count that a reader on another
        // thread loses only collects later.
        let lookups = self.lookups.load(Ordering::Relaxed) + 1;
        if lookups.saturating_mul(SLICES_PER_LOOKUP) >= self.len && self.len > 0 {
            return self.deref().partition_point(pred);
        }
        self.lookups.store(lookups, Ordering::Relaxed);
        self.search_runs(pred)
    }

    /// `partition_point` through the runs.
    fn search_runs(&self, mut pred: impl FnMut(&Slice) -> bool) -> usize {
        let runs = self.runs.len();
        let finger = self.finger.load(Ordering::Relaxed);
        // The first run whose last slice fails `pred`.
        let c = first_failing(runs, finger, |c| {
            self.lasts
                .get(c)
                .is_some_and(|s| !pred(&Placed::settled(self.head(c), *s)))
        });
        let Some(run) = self.runs.get(c) else {
            return self.len;
        };
        // Inside it, from where the last search in it ended.
        let hint = if c == finger {
            self.finger_at.load(Ordering::Relaxed)
        } else {
            run.len() / 2
        };
        let h = self.head(c);
        let at = first_failing(run.len(), hint, |k| {
            run.get(k).is_some_and(|s| !pred(&Placed::settled(h, *s)))
        });
        self.finger.store(c, Ordering::Relaxed);
        self.finger_at.store(at, Ordering::Relaxed);
        h.start + at
    }

    /// Makes the heads before `g` exact (and those from it on lag by `pending`):
    /// O(distance from the old gap).
    fn settle_to(&mut self, g: usize) {
        let g = g.min(self.heads.len());
        let pending = self.pending;
        if g > self.gap {
            for h in self.heads.get_mut(self.gap..g).unwrap_or_default() {
                *h = h.plus(pending);
            }
        } else {
            for h in self.heads.get_mut(g..self.gap).unwrap_or_default() {
                *h = h.minus(pending);
            }
        }
        #[cfg(test)]
        {
            self.work += g.abs_diff(self.gap);
        }
        self.gap = g;
        if g == self.heads.len() {
            self.pending = Head::default();
        }
    }

    /// Copies run `c`'s last slice into `lasts` after a change to the run.
    fn refresh_last(&mut self, c: usize) {
        if let (Some(last), Some(s)) = (
            self.lasts.get_mut(c),
            self.runs.get(c).and_then(|r| r.last()),
        ) {
            *last = *s;
        }
    }

    /// Records `added` slices in place of `removed` inside run `c` (the gap at `c + 1`).
    fn resized(&mut self, added: usize, removed: usize) {
        self.len = self.len + added - removed;
        self.pending.start = self.pending.start.wrapping_add(added).wrapping_sub(removed);
        if self.gap == self.heads.len() {
            self.pending = Head::default();
        }
    }

    /// Removes run `c` (before the gap, empty or merged into a neighbour).
    fn remove_run(&mut self, c: usize) {
        if c < self.runs.len() {
            self.runs.remove(c);
            self.heads.remove(c);
            self.lasts.remove(c);
            self.gap -= 1;
            if self.gap == self.heads.len() {
                self.pending = Head::default();
            }
        }
    }

    /// Splits run `c` (before the gap) until no piece is longer than `max_run`.
    fn split(&mut self, mut c: usize) {
        let half = self.max_run / 2;
        while self.runs.get(c).is_some_and(|r| r.len() > self.max_run) {
            let Some(run) = self.runs.get_mut(c) else {
                return;
            };
            let tail = run.split_off(half);
            #[cfg(test)]
            {
                self.work += tail.len();
            }
            let h = self.heads.get(c).copied().unwrap_or_default();
            if let Some(last) = tail.last() {
                self.lasts.insert(c + 1, *last);
            }
            self.runs.insert(c + 1, tail);
            self.refresh_last(c);
            self.heads.insert(
                c + 1,
                Head {
                    start: h.start + half,
                    shift: h.shift,
                },
            );
            self.gap += 1;
            c += 1;
        }
    }

    /// Joins run `c` (before the gap) to a neighbour if it fell below a quarter of
    /// `max_run` and one has room (three quarters), or drops it if it is empty.
    fn tidy(&mut self, c: usize) {
        let Some(n) = self.runs.get(c).map(Vec::len) else {
            return;
        };
        if n >= self.max_run / 4 {
            return;
        }
        let room = self.max_run * 3 / 4;
        let fits = |r: Option<&Vec<Slice>>| r.is_some_and(|r| r.len() + n <= room);
        if c > 0 && fits(self.runs.get(c - 1)) {
            self.merge(c - 1);
        } else if fits(self.runs.get(c + 1)) {
            self.settle_to(c + 2);
            self.merge(c);
        } else if n == 0 {
            self.remove_run(c);
        }
    }

    /// Appends run `c + 1` to run `c` (both before the gap), renumbered to `c`'s shift.
    fn merge(&mut self, c: usize) {
        let (Some(a), Some(b)) = (self.heads.get(c).copied(), self.heads.get(c + 1).copied())
        else {
            return;
        };
        let moved = self.runs.get_mut(c + 1).map(std::mem::take);
        if let (Some(run), Some(moved)) = (self.runs.get_mut(c), moved) {
            #[cfg(test)]
            {
                self.work += moved.len();
            }
            run.extend(moved.into_iter().map(|mut s| {
                s.seq = s.seq.wrapping_sub(b.shift).wrapping_add(a.shift);
                s
            }));
        }
        self.refresh_last(c);
        self.remove_run(c + 1);
    }

    /// Removes every slice.
    pub(crate) fn clear(&mut self) {
        self.drop_derived();
        self.runs.clear();
        self.heads.clear();
        self.lasts.clear();
        self.gap = 0;
        self.pending = Head::default();
        self.len = 0;
    }

    /// Inserts `s` as slice `at`.
    pub(crate) fn insert(&mut self, at: usize, s: Slice) {
        self.drop_derived();
        let at = at.min(self.len);
        // Slice `at`'s run, or the last run for the end.
        let (c, k) = match at.checked_sub(1).filter(|_| at == self.len) {
            Some(last) => self.locate(last).map(|(c, k)| (c, k + 1)),
            None => self.locate(at),
        }
        .unwrap_or((0, 0));
        if self.runs.is_empty() {
            self.runs.push(Vec::new());
            self.heads.push(Head::default());
            self.lasts.push(s);
            self.gap = 0;
        }
        self.settle_to(c + 1);
        let shift = self.heads.get(c).map_or(0, |h| h.shift);
        if let Some(run) = self.runs.get_mut(c) {
            #[cfg(test)]
            {
                self.work += run.len() - k;
            }
            run.insert(
                k,
                Slice {
                    seq: s.seq.wrapping_add(shift),
                    ..s
                },
            );
        }
        self.refresh_last(c);
        self.resized(1, 0);
        self.split(c);
    }

    /// Removes slice `at` and returns it.
    pub(crate) fn remove(&mut self, at: usize) -> Option<Slice> {
        let mut gone = None;
        self.replace_with(at, std::iter::empty(), |s| gone = Some(s));
        gone
    }

    /// Replaces slice `at` with `pieces` (none, one or more); the caller keeps the order.
    pub(crate) fn replace(&mut self, at: usize, pieces: impl IntoIterator<Item = Slice>) {
        self.replace_with(at, pieces, |_| ());
    }

    /// `replace`, handing the replaced slice to `gone`.
    fn replace_with(
        &mut self,
        at: usize,
        pieces: impl IntoIterator<Item = Slice>,
        gone: impl FnOnce(Slice),
    ) {
        let Some((c, k)) = self.locate(at) else {
            return;
        };
        self.drop_derived();
        self.settle_to(c + 1);
        let h = self.heads.get(c).copied().unwrap_or_default();
        let Some(run) = self.runs.get_mut(c) else {
            return;
        };
        let before = run.len();
        let mut pieces = pieces.into_iter().map(|mut s| {
            s.seq = s.seq.wrapping_add(h.shift);
            s
        });
        // The first piece takes the old slice's place and the others (one at most, from
        // `State`) are inserted after it: cheaper than a `splice` for so few.
        let old = match pieces.next() {
            Some(first) => run.get_mut(k).map(|s| std::mem::replace(s, first)),
            None => (k < run.len()).then(|| run.remove(k)),
        };
        for (p, s) in pieces.enumerate() {
            run.insert(k + 1 + p, s);
        }
        if let Some(old) = old {
            gone(Placed::settled(h, old));
        }
        let after = run.len();
        #[cfg(test)]
        {
            self.work += after - k;
        }
        self.refresh_last(c);
        self.resized(after, before);
        self.split(c);
        self.tidy(c);
    }

    /// Removes slices `range` and returns them in order.
    pub(crate) fn drain(&mut self, range: Range<usize>) -> Vec<Slice> {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let (Some((c0, k0)), Some((c1, k1))) = (
            self.locate(start).filter(|_| start < end),
            end.checked_sub(1).and_then(|last| self.locate(last)),
        ) else {
            return Vec::new();
        };
        self.drop_derived();
        self.settle_to(c1 + 1);
        let mut out = Vec::with_capacity(end - start);
        let head = |p: &Placed, c: usize| p.heads.get(c).copied().unwrap_or_default();
        let settle = |h: Head| move |s: Slice| Placed::settled(h, s);
        let h0 = head(self, c0);
        if c0 == c1 {
            if let Some(run) = self.runs.get_mut(c0) {
                out.extend(run.drain(k0..=k1).map(settle(h0)));
            }
        } else {
            for c in c0..=c1 {
                let h = head(self, c);
                let Some(run) = self.runs.get_mut(c) else {
                    continue;
                };
                let cut = if c == c0 {
                    k0..run.len()
                } else if c == c1 {
                    0..k1 + 1
                } else {
                    0..run.len()
                };
                out.extend(run.drain(cut).map(settle(h)));
            }
            // The runs in between are empty; the last one now starts after run `c0`'s rest.
            let rest = self.runs.get(c0).map_or(0, Vec::len);
            if let Some(h) = self.heads.get_mut(c1) {
                h.start = h0.start + rest;
            }
            self.refresh_last(c1);
            self.runs.drain(c0 + 1..c1);
            self.heads.drain(c0 + 1..c1);
            self.lasts.drain(c0 + 1..c1);
            self.gap -= c1 - c0 - 1;
        }
        #[cfg(test)]
        {
            self.work += out.len();
        }
        self.refresh_last(c0);
        self.resized(0, out.len());
        if c0 != c1 {
            self.tidy(c0 + 1);
        }
        self.tidy(c0);
        out
    }

    /// Lowers the sequence number of slice `from` and every later one by one.
    pub(crate) fn lower_seqs_from(&mut self, from: usize) {
        let Some((c, k)) = self.locate(from) else {
            return;
        };
        self.drop_derived();
        if k == 0 {
            // The whole run lowers: one more shift for it too.
            self.settle_to(c);
        } else {
            self.settle_to(c + 1);
            if let Some(run) = self.runs.get_mut(c) {
                #[cfg(test)]
                {
                    self.work += run.len() - k;
                }
                for s in run.get_mut(k..).unwrap_or_default() {
                    s.seq = s.seq.wrapping_sub(1);
                }
            }
            self.refresh_last(c);
        }
        if self.gap < self.heads.len() {
            self.pending.shift = self.pending.shift.wrapping_add(1);
        }
    }
}

/// The first `i` in `0..n` for which `fails` holds (`n` if none), `fails` being false on a
/// prefix: galloping out from `hint`, O(log distance).
fn first_failing(n: usize, hint: usize, mut fails: impl FnMut(usize) -> bool) -> usize {
    let Some(last) = n.checked_sub(1) else {
        return 0;
    };
    let f = hint.min(last);
    // The answer lies in `lo..=hi`.
    let (mut lo, mut hi);
    let mut step = 1;
    if fails(f) {
        hi = f;
        lo = loop {
            match f.checked_sub(step) {
                Some(i) if fails(i) => {
                    hi = i;
                    step *= 2;
                }
                Some(i) => break i + 1,
                None => break 0,
            }
        };
    } else {
        lo = f + 1;
        hi = loop {
            let i = f + step;
            if i >= n {
                break n;
            }
            if fails(i) {
                break i;
            }
            lo = i + 1;
            step *= 2;
        };
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

impl From<Vec<Slice>> for Placed {
    fn from(slices: Vec<Slice>) -> Placed {
        Placed::with_max_run(slices, MAX_RUN)
    }
}

impl Deref for Placed {
    type Target = [Slice];
    /// All slices in order, collected once per change.
    #[inline]
    fn deref(&self) -> &[Slice] {
        if self.len == 0 {
            return &[];
        }
        self.flat.get_or_init(|| {
            let mut all = Vec::with_capacity(self.len);
            for (c, run) in self.runs.iter().enumerate() {
                let h = self.head(c);
                all.extend(run.iter().map(|s| Placed::settled(h, *s)));
            }
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
        Placed::with_max_run(slices, self.max_run)
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
        let at = 0..256usize;
        prop_oneof![
            (at.clone(), 1..1000u32).prop_map(|(a, s)| Change::Insert(a, s)),
            at.clone().prop_map(Change::Remove),
            (at.clone(), 0..4u8).prop_map(|(a, n)| Change::Replace(a, n)),
            (at.clone(), 0..40usize).prop_map(|(a, n)| Change::Drain(a, n)),
            at.clone().prop_map(Change::Lower),
            at.prop_map(Change::Lower),
            Just(Change::Read),
            Just(Change::Clear),
        ]
    }

    /// The runs hold every slice, none empty or longer than `max_run`, and each head
    /// (through the gap) starts where the runs before it end.
    fn check_runs(placed: &Placed) {
        assert_eq!(placed.runs.len(), placed.heads.len());
        assert_eq!(placed.runs.len(), placed.lasts.len());
        assert!(placed.gap <= placed.heads.len());
        let mut start = 0;
        for (c, run) in placed.runs.iter().enumerate() {
            assert!(!run.is_empty() && run.len() <= placed.max_run, "run {c}");
            assert_eq!(run.last(), placed.lasts.get(c), "run {c}'s last slice");
            assert_eq!(placed.head(c).start, start, "run {c}");
            start += run.len();
        }
        assert_eq!(start, placed.len());
    }

    /// Every way of reading the slices agrees with the plain vector: through the runs (if
    /// no read collected them already), then through the collected copy (which this leaves
    /// behind, for the next change to drop).
    fn check(placed: &Placed, model: &[Slice]) {
        check_runs(placed);
        assert_eq!(placed.len(), model.len());
        let collected = placed.flat.get().is_some();
        check_reads(placed, model, !collected);
        assert_eq!(
            placed.flat.get().is_some(),
            collected,
            "a read collected the slices"
        );
        assert_eq!(&placed[..], model);
        check_reads(placed, model, false);
    }

    /// `get`, `last` and `partition_point` agree with the plain vector's; `through_runs`
    /// searches the runs whatever the count of lookups.
    fn check_reads(placed: &Placed, model: &[Slice], through_runs: bool) {
        for i in 0..=model.len() {
            assert_eq!(placed.get(i), model.get(i).copied(), "slice {i}");
        }
        assert_eq!(placed.last(), model.last().copied());
        // Keys up, then down: the search gallops from wherever the last one left off.
        let top = model
            .last()
            .map_or(0, |s| s.seq.wrapping_add(s.len))
            .min(1 << 20)
            + 2;
        let step = (top / 1_100).max(1) as usize;
        for key in (0..top).step_by(step).chain((0..top).step_by(step).rev()) {
            let found = if through_runs {
                placed.search_runs(|s| s.seq < key)
            } else {
                placed.partition_point(|s| s.seq < key)
            };
            assert_eq!(found, model.partition_point(|s| s.seq < key), "key {key}");
        }
    }

    /// `expunge` of slice `at`'s first record, as `State` makes it: the slice shrinks (or
    /// goes), and every later slice moves down by one. Keeps the order of `seq`.
    fn expunge_first(placed: &mut Placed, model: &mut Vec<Slice>, at: usize) {
        let s = model[at];
        let pieces: Vec<Slice> = (s.len > 1)
            .then(|| Slice {
                len: s.len - 1,
                first_uid: s.first_uid + 1,
                ..s
            })
            .into_iter()
            .collect();
        let kept = pieces.len();
        model.splice(at..=at, pieces.iter().copied());
        for later in model.get_mut(at + kept..).unwrap_or_default() {
            later.seq -= 1;
        }
        placed.replace(at, pieces);
        placed.lower_seqs_from(at + kept);
    }

    proptest! {
        /// The runs read as the `Vec<Slice>` they replaced after any run of changes (the
        /// sequence numbers need not stay ordered for that), with runs of 4 to 11 slices
        /// so that changes split, join and drop runs; and after changes that keep the
        /// sequence numbers ordered, searches agree with the vector's.
        #[test]
        fn the_runs_read_as_the_vector_they_replace(
            start in proptest::collection::vec(1..1000u32, 0..200),
            changes in proptest::collection::vec(change(), 0..120),
            expunges in proptest::collection::vec(0..256usize, 0..60),
            max_run in 4..12usize,
            cut in 0..256usize,
        ) {
            let mut sorted = start;
            sorted.sort_unstable();
            let mut model: Vec<Slice> = sorted.iter().map(|&s| slice(s, 1)).collect();
            let mut placed = Placed::with_max_run(model.clone(), max_run);
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
                // Through the runs, without collecting.
                check_runs(&placed);
                prop_assert_eq!(placed.len(), model.len());
                for i in 0..=model.len() {
                    prop_assert_eq!(placed.get(i), model.get(i).copied());
                }
            }
            prop_assert_eq!(&placed[..], &model[..]);
            // Ordered again: slices of three, two apart, then expunges at random places
            // that leave lazy shifts behind; searches gallop through them both ways.
            let mut model: Vec<Slice> = (0..model.len() as u32).map(|k| slice(1 + 3 * k, 3)).collect();
            let mut placed = Placed::with_max_run(model.clone(), max_run);
            for at in expunges {
                if !model.is_empty() {
                    let at = at % model.len();
                    expunge_first(&mut placed, &mut model, at);
                }
            }
            check(&placed, &model);
            // And a change right after a search (the finger anywhere).
            if !model.is_empty() {
                let at = cut % model.len();
                let _ = placed.get(cut % model.len());
                expunge_first(&mut placed, &mut model, at);
                check(&placed, &model);
            }
        }
    }

    /// The LCG of the tests that need many positions, not a proptest's few.
    fn positions(seed: u64) -> impl FnMut(usize) -> usize {
        let mut x = seed;
        move |n| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) as usize) % n.max(1)
        }
    }

    #[test]
    fn an_expunge_touches_a_run_and_some_heads_not_a_third_of_the_slices() {
        // 20,000 slices (more than `expunge_storm_nosync` leaves at 1M messages), 3,000
        // expunges at random places: the gap buffer moved a third of the slices for each
        // (about 6,700); the runs move at most two runs' worth plus the heads between two
        // changes.
        let mut model: Vec<Slice> = (0..20_000u32).map(|k| slice(1 + 3 * k, 3)).collect();
        let mut placed = Placed::from(model.clone());
        let mut at = positions(7);
        let (mut total, mut most) = (0, 0);
        for _ in 0..3_000 {
            let before = placed.work;
            let i = at(model.len());
            expunge_first(&mut placed, &mut model, i);
            let work = placed.work - before;
            total += work;
            most = most.max(work);
        }
        let bound = 2 * MAX_RUN + placed.runs.len();
        assert!(most <= bound, "{most} > {bound}");
        assert!(total / 3_000 <= 400, "mean {}", total / 3_000);
        check(&placed, &model);
    }

    #[test]
    fn removals_in_order_settle_each_head_once() {
        // Every 7th slice's first record, in ascending order, as a VANISHED set removes
        // them: the heads are settled once in all, each removal moves within its run.
        let mut model: Vec<Slice> = (0..20_000u32).map(|k| slice(1 + 3 * k, 3)).collect();
        let mut placed = Placed::from(model.clone());
        let runs = placed.runs.len();
        let before = placed.work;
        let mut removals = 0;
        for at in (0..model.len()).step_by(7) {
            expunge_first(&mut placed, &mut model, at);
            removals += 1;
        }
        let work = placed.work - before;
        let bound = runs + removals * MAX_RUN;
        assert!(work <= bound, "{work} > {bound}");
        check(&placed, &model);
    }

    #[test]
    fn runs_split_and_join_as_slices_come_and_go() {
        // Appends one at a time, then removals of most of them from the front.
        let mut model = Vec::new();
        let mut placed = Placed::default();
        for k in 0..1_000u32 {
            model.push(slice(1 + 2 * k, 2));
            placed.insert(placed.len(), slice(1 + 2 * k, 2));
        }
        check(&placed, &model);
        assert!(placed.runs.len() >= 1_000 / MAX_RUN);
        let mut at = positions(11);
        while model.len() > 10 {
            let i = at(model.len());
            let gone = model.remove(i);
            assert_eq!(placed.remove(i), Some(gone));
            check_runs(&placed);
        }
        check(&placed, &model);
        assert_eq!(placed.runs.len(), 1, "the few left share one run");
    }

    #[test]
    fn a_search_after_a_change_does_not_read_the_copy_collected_before_it() {
        // A flag storm's lookups read the collected copy; a search after any kind of change
        // must read the runs again. Slices of one, two apart, so that each change below
        // keeps the sequence numbers ascending.
        let mut model: Vec<Slice> = (0..500u32).map(|k| slice(10 + 2 * k, 1)).collect();
        let mut placed = Placed::from(model.clone());
        for round in 0..6 {
            let at = [0, 137, 300, 499 - 10 * round, 64, 250][round];
            let keys: Vec<u32> = [at.saturating_sub(1), at, at + 1]
                .iter()
                .filter_map(|&i| model.get(i))
                .flat_map(|s| [s.seq, s.seq + 1])
                .collect();
            let search = |p: &Placed, m: &[Slice]| {
                for &k in &keys {
                    let found = p.partition_point(|s| s.seq < k);
                    assert_eq!(
                        found,
                        m.partition_point(|s| s.seq < k),
                        "key {k}, round {round}"
                    );
                }
            };
            assert_eq!(&placed[..], &model[..]);
            search(&placed, &model);
            match round {
                0 => {
                    let s = model.remove(at);
                    assert_eq!(placed.remove(at), Some(s));
                }
                1 => {
                    let s = Slice {
                        len: 1,
                        ..model[at]
                    };
                    model.insert(at, s);
                    placed.insert(at, s);
                }
                2 | 3 => {
                    for s in &mut model[at..] {
                        s.seq -= 1;
                    }
                    placed.lower_seqs_from(at);
                }
                4 => {
                    let gone: Vec<Slice> = model.drain(at..at + 70).collect();
                    assert_eq!(placed.drain(at..at + 70), gone);
                }
                _ => {
                    let piece = Slice {
                        seq: model[at].seq + 1,
                        ..model[at]
                    };
                    model[at] = piece;
                    placed.replace(at, [piece]);
                }
            }
            assert!(placed.flat.get().is_none(), "round {round}");
            search(&placed, &model);
        }
        check(&placed, &model);
    }

    #[test]
    fn lookups_collect_the_slices_once_they_pay_for_the_copy_not_between_changes() {
        let mut model: Vec<Slice> = (0..2_000u32).map(|k| slice(1 + 3 * k, 3)).collect();
        let mut placed = Placed::from(model.clone());
        let mut at = positions(5);
        let mut lookup = |p: &Placed, m: &[Slice]| {
            let key = 1 + at(3 * m.len()) as u32;
            let found = p.partition_point(|s| s.seq_end() < key);
            assert_eq!(found, m.partition_point(|s| s.seq_end() < key), "key {key}");
        };
        let mut draw = positions(6);
        // An expunge storm: three lookups per change, 6,000 in all, never collect.
        for _ in 0..2_000 {
            for _ in 0..3 {
                lookup(&placed, &model);
                assert!(placed.flat.get().is_none());
            }
            let i = draw(model.len());
            expunge_first(&mut placed, &mut model, i);
        }
        // A flag storm: lookups and no change; a quarter of the slices' worth collects.
        let quarter = placed.len().div_ceil(SLICES_PER_LOOKUP);
        for _ in 1..quarter {
            lookup(&placed, &model);
        }
        assert!(placed.flat.get().is_none());
        lookup(&placed, &model);
        assert!(
            placed.flat.get().is_some(),
            "collected after {quarter} lookups"
        );
        assert_eq!(&placed[..], &model[..]);
        for _ in 0..1_000 {
            lookup(&placed, &model);
        }
        // And a change starts the count over.
        expunge_first(&mut placed, &mut model, 0);
        let quarter = placed.len().div_ceil(SLICES_PER_LOOKUP);
        for _ in 1..quarter {
            lookup(&placed, &model);
        }
        assert!(placed.flat.get().is_none());
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
