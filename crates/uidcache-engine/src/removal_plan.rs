//! A removal set (a `VANISHED`) decided against the state before any of it applies, then
//! applied in one pass over the placed slices when it is large (issue 12).
//!
//! **Deciding first.** Whether a UID the cache does not hold is absent, or must take a
//! position of a hole, depends on the UIDs around it: one between two records of a slice
//! is absent, one between two slices with a hole between them may be the hole's. Deciding
//! that one UID at a time, after the set's earlier UIDs were removed, made the result depend
//! on the order of a set that the cache's knowledge contradicts (UIDs it proves were never
//! there): with records 300 and 305 in one slice after a hole, `VANISHED 300:310` removed
//! 300 first, after which 301–304 lay before the slice's new first record and took four
//! positions of the hole, although every message there has a UID below 300; listed the
//! other way round, they took none. So every UID of the set is classed against the state as
//! it was (placed record, position of a hole, absent) before anything changes, and the
//! removals are applied from the highest sequence number down, so that each one's
//! position, found before the set, is still its position when it is removed.
//!
//! **One pass.** One removal at a time costs a search for the UID's slice, a read of its
//! block, a split of it in its run of [`Placed`] and a lazy shift of the later slices: about
//! 0.5 µs beyond the block read. A large set meets the slices in order, so its slices are
//! found from their UID extents, their blocks read once each in block order, and one pass
//! rebuilds the placed slices with the pieces between the removed records, every sequence
//! number lowered by the removals before it. That pass is O(slices), so it is taken only
//! when the set removes at least an eighth as many records as there are slices.
//!
//! The journal gets the ops that the one-at-a-time application pushes (a `RemoveUid` per
//! record, an `Expunge` per hole position, a `SetExists` for a hole at the end), in the
//! same descending order, and a replay applies them one by one: the pass must leave exactly
//! the state those ops leave. It does, because removing a placed record only cuts its slice
//! around it (`State::expunge` splits, never merges) and lowers later sequence numbers by
//! one, so the pieces of a slice are the runs between its removed positions whatever the
//! order of the cuts. Unplaced records (whose removal prunes and shifts by other rules)
//! leave the set to the one-UID-at-a-time loop of `remove.rs`.

use std::ops::RangeInclusive;

use crate::blocks::{RecordSource, Records, WithPending};
use crate::error::{ErrorKind, InvalidOp, Invariant, Result};
use crate::placed::Placed;
use crate::remove::MAX_HOLE_REMOVALS;
use crate::slice::{Slice, SliceUids};
use crate::state::State;
use uidcache_format::Record;

/// Fewest removed records for the one-pass application: below it the pass's copy of the
/// slices would be most of the work.
const MIN_BATCH: usize = 32;

/// Slices per removed record above which the pass is not taken: it must stay within a
/// constant factor of the work the set itself names.
const SLICES_PER_REMOVAL: usize = 8;

/// Overlay entries per hit below which the overlay is walked once instead of searched
/// once per hit: a removal by key costs about 140 ns at 190,000 entries, a walk about 2 ns
/// an entry (`overlay.rs`).
const OVERLAY_WALK_PER_HIT: usize = 64;

/// A placed record that the set removes: position `k` of placed slice `slice`, at `seq`,
/// with the UIDs beside it in the slice (0 at its ends), which are the new pieces' extents:
/// the pass that cuts the slices then reads no block again. `record` is the block's record
/// when the walk read it (not for a dense slice), for the change tracker, which would
/// otherwise look each one up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) slice: usize,
    pub(crate) k: u32,
    pub(crate) seq: u32,
    pub(crate) uid: u32,
    pub(crate) uid_before: u32,
    pub(crate) uid_after: u32,
    pub(crate) record: Option<Record>,
}

/// Positions of the hole `first_seq..` that UIDs of the set take, one each (at most the
/// hole's size): every message whose UID lies where the hole's do may be one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HoleTake {
    pub(crate) first_seq: u32,
    pub(crate) count: u32,
    /// The hole ends the mailbox: it shrinks in one `SetExists`, whatever its size.
    pub(crate) trailing: bool,
}

/// What a removal set does to the state, found before any of it applies.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Ascending.
    pub(crate) hits: Vec<Hit>,
    /// Ascending; none inside another.
    pub(crate) holes: Vec<HoleTake>,
    /// Apply in one pass ([`State::apply_plan`]) rather than one op at a time.
    pub(crate) one_pass: bool,
}

/// A slice that a range's UID extent overlaps: the walk's unit of work, found from the
/// index entries alone.
#[derive(Debug, Clone, Copy)]
struct Probe {
    slice: usize,
    first_uid: u32,
    last_uid: u32,
}

/// `ranges` sorted by start, overlapping and touching ones joined, UID 0 left out: a set
/// of UIDs, whatever order the server listed them in.
pub(crate) fn normalized(ranges: &[RangeInclusive<u32>]) -> Vec<(u32, u32)> {
    let mut sorted: Vec<(u32, u32)> = ranges
        .iter()
        .map(|r| ((*r.start()).max(1), *r.end()))
        .filter(|(a, b)| a <= b)
        .collect();
    sorted.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(sorted.len());
    for (a, b) in sorted {
        match out.last_mut() {
            Some(last) if u64::from(a) <= u64::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The sequence numbers of the hole between placed slice `j - 1` and slice `j` (`j` may be
/// 0 or the count of slices: before the first, after the last), if there is one.
fn hole_before(placed: &Placed, j: usize, exists: u32) -> Option<(u32, u32)> {
    let lo = j
        .checked_sub(1)
        .and_then(|p| placed.get(p))
        .map_or(1, |p| u64::from(p.seq_end()) + 1);
    let hi = placed
        .get(j)
        .map_or(u64::from(exists), |s| u64::from(s.seq).saturating_sub(1));
    (lo <= hi).then_some((lo as u32, hi as u32))
}

/// The plan of `ranges` over `state`, or `None` where it does not apply (the message count
/// unknown, or unplaced records): then the caller removes one UID at a time.
pub(crate) fn plan(
    state: &State,
    src: &WithPending<'_>,
    ranges: &[RangeInclusive<u32>],
) -> Result<Option<Plan>> {
    let Some(exists) = state.header.exists else {
        return Ok(None);
    };
    if !state.unplaced.is_empty() {
        return Ok(None);
    }
    #[cfg(test)]
    if tests::UNPLANNED.with(std::cell::Cell::get) {
        return Ok(None);
    }
    let (probes, holes) = probes(&state.placed, exists, ranges)?;
    let hits = hits(&state.placed, src, &probes)?;
    let one_pass = hits.len() >= MIN_BATCH
        && hits.len().saturating_mul(SLICES_PER_REMOVAL) >= state.placed.len();
    #[cfg(test)]
    let one_pass = one_pass && !tests::STEPWISE.with(std::cell::Cell::get);
    #[cfg(test)]
    if one_pass {
        tests::ONE_PASS.with(|b| b.set(b.get() + 1));
    }
    Ok(Some(Plan {
        hits,
        holes,
        one_pass,
    }))
}

/// The probes of `ranges` (in sequence order, and within a slice in UID order) and the hole
/// positions they take, from the index entries alone.
fn probes(
    placed: &Placed,
    exists: u32,
    ranges: &[RangeInclusive<u32>],
) -> Result<(Vec<Probe>, Vec<HoleTake>)> {
    let mut probes = Vec::with_capacity(ranges.len());
    // Per hole (the slice after it): the set's UIDs that lie where its UIDs do.
    let mut in_holes: Vec<(usize, u64)> = Vec::new();
    for (a, b) in normalized(ranges) {
        // Ranges ascend, so this never goes back before the last range's slices.
        let mut j = placed.partition_point(|s| s.last_uid < a);
        loop {
            // The UIDs of the range between slice j - 1 and slice j: absent without a hole
            // there, the hole's with one.
            let after_prev = j
                .checked_sub(1)
                .and_then(|p| placed.get(p))
                .map_or(1, |p| u64::from(p.last_uid) + 1);
            let next = placed.get(j);
            let before_next = next.map_or(u64::from(u32::MAX), |s| {
                u64::from(s.first_uid).saturating_sub(1)
            });
            let (lo, hi) = (u64::from(a).max(after_prev), u64::from(b).min(before_next));
            if lo <= hi && hole_before(placed, j, exists).is_some() {
                match in_holes.last_mut() {
                    Some((h, n)) if *h == j => *n += hi - lo + 1,
                    _ => in_holes.push((j, hi - lo + 1)),
                }
            }
            let Some(s) = next.filter(|s| s.first_uid <= b) else {
                break;
            };
            probes.push(Probe {
                slice: j,
                first_uid: a.max(s.first_uid),
                last_uid: b.min(s.last_uid),
            });
            if s.last_uid >= b {
                break;
            }
            j += 1;
        }
    }
    let mut holes = Vec::with_capacity(in_holes.len());
    let mut inside = 0u64;
    for (j, uids) in in_holes {
        let Some((first, last)) = hole_before(placed, j, exists) else {
            continue;
        };
        let count = uids.min(u64::from(last - first) + 1) as u32;
        let trailing = last == exists && j >= placed.len();
        if !trailing {
            inside += u64::from(count);
        }
        holes.push(HoleTake {
            first_seq: first,
            count,
            trailing,
        });
    }
    if inside > MAX_HOLE_REMOVALS {
        return Err(InvalidOp::TooManyHoleRemovals {
            count: inside,
            limit: MAX_HOLE_REMOVALS,
        }
        .into());
    }
    Ok((probes, holes))
}

/// Fewest distinct blocks per reading thread: below it a thread's start (tens of µs) is
/// a good part of what it would save.
const BLOCKS_PER_THREAD: usize = 64;

/// Most threads that read a plan's blocks: a 1% VANISHED over 10M messages reads 5,000
/// blocks (150 MiB) after a reopen, and the read and its CRC are nearly all of it.
const MAX_READ_THREADS: usize = 4;

/// The placed records the probes name, in sequence order. The probes' slices are read in
/// block order, each block once: after a day of changes the slices in sequence order come
/// from blocks far apart, and reading them in that order read a block again once its copy
/// had left the last few reads' (`RECENT_COPIES`), as a mapping. With many blocks, the
/// reads are shared among a few threads (the store is shared; each block is still read
/// once, by one of them).
fn hits(placed: &Placed, src: &WithPending<'_>, probes: &[Probe]) -> Result<Vec<Hit>> {
    let slices: Vec<Slice> = probes
        .iter()
        .map(|p| placed.get(p.slice).ok_or_else(|| misplaced(p.slice, 0, 0)))
        .collect::<Result<_>>()?;
    let block_of = |p: &usize| slices.get(*p).map_or(0, |s| s.block);
    let mut order: Vec<usize> = (0..probes.len()).collect();
    order.sort_by_key(block_of);
    let blocks = order.chunk_by(|a, b| block_of(a) == block_of(b)).count();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_READ_THREADS)
        .min(blocks / BLOCKS_PER_THREAD)
        .max(1);
    // Cut the block order into `threads` parts at block boundaries.
    let mut parts: Vec<&[usize]> = Vec::with_capacity(threads);
    let mut rest = order.as_slice();
    for t in (1..=threads).rev() {
        let mut at = rest.len() / t;
        while at > 0 && at < rest.len() {
            match (rest.get(at - 1), rest.get(at)) {
                (Some(a), Some(b)) if block_of(a) == block_of(b) => at += 1,
                _ => break,
            }
        }
        let (part, tail) = rest.split_at(at.min(rest.len()));
        parts.push(part);
        rest = tail;
    }
    let read = |part: &[usize]| read_hits(part, probes, &slices, src);
    let found: Vec<Result<Vec<(usize, Hit)>>> = match parts.split_first() {
        Some((first, others)) if !others.is_empty() => std::thread::scope(|scope| {
            // A thread that cannot be started leaves its part to this one.
            let running: Vec<_> = others
                .iter()
                .map(|part| {
                    std::thread::Builder::new()
                        .name("uidcache-read".into())
                        .spawn_scoped(scope, move || read(part))
                        .map_err(|_| part)
                })
                .collect();
            let mut found = vec![read(first)];
            for handle in running {
                found.push(match handle {
                    Ok(handle) => handle.join().unwrap_or_else(|_| {
                        Err(ErrorKind::Invariant(Invariant::ReaderThreadFailed).into())
                    }),
                    Err(part) => read(part),
                });
            }
            found
        }),
        _ => vec![read(&order)],
    };
    let mut all = Vec::new();
    for part in found {
        all.extend(part?);
    }
    Ok(in_probe_order(all, probes.len()))
}

/// The hits of the probes `part` (in block order), each block read once.
fn read_hits(
    part: &[usize],
    probes: &[Probe],
    slices: &[Slice],
    src: &WithPending<'_>,
) -> Result<Vec<(usize, Hit)>> {
    let mut found = Vec::with_capacity(part.len());
    let mut block: Option<(u64, Records<'_>)> = None;
    for &p in part {
        let (Some(probe), Some(s)) = (probes.get(p), slices.get(p)) else {
            continue;
        };
        let uids = if s.is_dense() {
            s.uids(src)?
        } else {
            let records = match &block {
                Some((id, records)) if *id == s.block => records.clone(),
                _ => {
                    let records = src.records(s.block)?;
                    block = Some((s.block, records.clone()));
                    records
                }
            };
            SliceUids::Read(s.view_of(records, src)?)
        };
        let record = |k: u32| match &uids {
            SliceUids::Read(view) => view.records().get(k as usize).copied(),
            SliceUids::Dense { .. } => None,
        };
        let from = uids.count_below(probe.first_uid);
        let to = probe
            .last_uid
            .checked_add(1)
            .map_or(s.len, |c| uids.count_below(c));
        for k in from..to {
            found.push((
                p,
                Hit {
                    slice: probe.slice,
                    k,
                    seq: s.seq + k,
                    uid: uids.uid(k),
                    uid_before: k.checked_sub(1).map_or(0, |b| uids.uid(b)),
                    uid_after: uids.uid(k + 1),
                    record: record(k),
                },
            ));
        }
    }
    Ok(found)
}

/// `found` (hits tagged with their probe, each probe's in ascending position) in probe
/// order: a counting sort, O(hits + probes).
fn in_probe_order(found: Vec<(usize, Hit)>, probes: usize) -> Vec<Hit> {
    let mut starts = vec![0usize; probes + 1];
    for (p, _) in &found {
        if let Some(n) = starts.get_mut(p + 1) {
            *n += 1;
        }
    }
    for i in 1..starts.len() {
        let before = starts.get(i - 1).copied().unwrap_or(0);
        if let Some(n) = starts.get_mut(i) {
            *n += before;
        }
    }
    let mut out: Vec<Option<Hit>> = vec![None; found.len()];
    for (p, hit) in found {
        if let Some(at) = starts.get_mut(p) {
            if let Some(slot) = out.get_mut(*at) {
                *slot = Some(hit);
            }
            *at += 1;
        }
    }
    out.into_iter().flatten().collect()
}

/// One step of a plan, in the order the ops are pushed and replayed: the highest sequence
/// number first, so that each step's position, found before the plan, still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// `RemoveUid` of a placed record.
    Record(Hit),
    /// `Expunge` of the hole's first position, `count` times, or one `SetExists` lowering
    /// the count by `count` for a hole at the end.
    Hole(HoleTake),
}

impl Plan {
    /// The plan's steps, highest sequence number first.
    pub(crate) fn steps(&self) -> impl Iterator<Item = Step> + '_ {
        let mut hits = self.hits.iter().rev().peekable();
        let mut holes = self.holes.iter().rev().peekable();
        std::iter::from_fn(move || {
            let hole_first = match (hits.peek(), holes.peek()) {
                (Some(h), Some(t)) => t.first_seq > h.seq,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if hole_first {
                holes.next().map(|t| Step::Hole(*t))
            } else {
                hits.next().map(|h| Step::Record(*h))
            }
        })
    }

    /// Positions the plan takes out of holes.
    pub(crate) fn hole_positions(&self) -> u64 {
        self.holes.iter().map(|t| u64::from(t.count)).sum()
    }
}

impl State {
    /// Applies a plan in one pass, with the effect of its steps one at a time: every slice
    /// is copied once, a slice with removed records as the pieces between them, every
    /// sequence number lowered by the records and hole positions removed before it.
    /// Nothing changes on an error.
    pub(crate) fn apply_plan(&mut self, plan: &Plan) -> Result<()> {
        let exists = self.exists();
        let gone = plan.hits.len() as u64 + plan.hole_positions();
        let ordered = plan.hits.is_sorted_by_key(|h| (h.slice, h.k))
            && plan.holes.is_sorted_by_key(|t| t.first_seq);
        let (Some(count), true) = (u32::try_from(gone).ok().filter(|n| *n <= exists), ordered)
        else {
            return Err(plan
                .hits
                .first()
                .map_or_else(|| misplaced(0, 0, 0), |h| misplaced(h.slice, h.k, h.uid)));
        };
        let slices: &[Slice] = &self.placed;
        let mut out = Vec::with_capacity(slices.len() + plan.hits.len());
        let mut hits = plan.hits.iter().peekable();
        let mut holes = plan.holes.iter().peekable();
        let mut shift = 0u32;
        for (j, s) in slices.iter().enumerate() {
            while let Some(t) = holes.next_if(|t| t.first_seq < s.seq) {
                shift += t.count;
            }
            let seq = s.seq - shift;
            if hits.peek().is_none_or(|h| h.slice != j) {
                out.push(Slice { seq, ..*s });
                continue;
            }
            // The piece from `from` on starts at UID `first`; `cut` records went before it.
            let (mut from, mut first, mut cut) = (0u32, s.first_uid, 0u32);
            let piece = |from: u32, to: u32, first_uid: u32, last_uid: u32, cut: u32| Slice {
                first_record: s.first_record + from,
                len: to - from,
                seq: seq + from - cut,
                first_uid,
                last_uid,
                ..*s
            };
            while let Some(h) = hits.next_if(|h| h.slice == j) {
                if h.k < from || h.k >= s.len {
                    return Err(misplaced(h.slice, h.k, h.uid));
                }
                if h.k > from {
                    out.push(piece(from, h.k, first, h.uid_before, cut));
                }
                cut += 1;
                from = h.k + 1;
                first = h.uid_after;
            }
            if from < s.len {
                out.push(piece(from, s.len, first, s.last_uid, cut));
            }
            shift += cut;
        }
        if let Some(h) = hits.next() {
            return Err(misplaced(h.slice, h.k, h.uid));
        }
        self.placed = Placed::from(out);
        // The hits ascend by UID (placed slices do). Against a large overlay, one removal
        // per hit costs more than one walk over the overlay beside the hits.
        if self.overlay.len() / OVERLAY_WALK_PER_HIT <= plan.hits.len() {
            let mut gone = plan.hits.iter().map(|h| h.uid).peekable();
            self.overlay.retain(|uid, _| {
                while gone.next_if(|g| g < uid).is_some() {}
                gone.peek() != Some(uid)
            });
        } else {
            for h in &plan.hits {
                self.overlay.remove(&h.uid);
            }
        }
        self.header.exists = Some(exists - count);
        Ok(())
    }
}

/// A hit that names no placed record: the plan and the state disagree, a bug.
fn misplaced(slice: usize, position: u32, uid: u32) -> crate::error::Error {
    ErrorKind::Invariant(Invariant::RemovalMisplaced {
        slice,
        position,
        uid,
    })
    .into()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::ops::RangeInclusive;
    use std::path::Path;

    use proptest::prelude::*;

    use crate::{Cache, Durability, OpenOptions, Update};

    thread_local! {
        /// Set: `remove_uids` takes the one-UID-at-a-time loop (the code before plans).
        pub(super) static UNPLANNED: Cell<bool> = const { Cell::new(false) };
        /// Set: a plan is applied one op at a time even when one pass would be taken.
        pub(super) static STEPWISE: Cell<bool> = const { Cell::new(false) };
        /// Plans applied in one pass on this thread.
        pub(super) static ONE_PASS: Cell<u64> = const { Cell::new(0) };
    }

    fn options() -> OpenOptions {
        // No checkpoint: the reopen replays the removal's frame op by op.
        OpenOptions::new()
            .create(true)
            .checkpoint_on_drop(false)
            .auto_compact(false)
            .journal_limit(1 << 40)
            .durability(Durability::NoSync)
    }

    /// `n` messages with UID gaps, cut into slices by expunges, with overlay entries, and
    /// `holes` forgotten records (positions whose UID is unknown). The same `seed` builds
    /// the same cache.
    fn build(dir: &Path, seed: u64, n: u32, holes: u32) -> Cache {
        let mut rng = seed | 1;
        let mut next = move |below: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % below.max(1)
        };
        let mut cache = Cache::open_with(dir, options()).unwrap();
        let mut uid = 0u32;
        let uids: Vec<u32> = (0..n)
            .map(|_| {
                uid += 1 + next(3) as u32;
                uid
            })
            .collect();
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(n).unwrap();
        for (k, chunk) in uids.chunks(700).enumerate() {
            tx.learn_range(1 + 700 * k as u32, chunk).unwrap();
        }
        tx.commit().unwrap();
        let mut tx = cache.transaction().unwrap();
        for _ in 0..n / 25 {
            let exists = u64::from(tx.view().exists().unwrap());
            tx.expunge(1 + next(exists) as u32).unwrap();
        }
        for _ in 0..n / 50 {
            let exists = u64::from(tx.view().exists().unwrap());
            let update = Update {
                flags: None,
                modseq: Some(1 + next(1000)),
            };
            tx.update_seq(1 + next(exists) as u32, update).unwrap();
        }
        for _ in 0..holes {
            let u = uids[next(uids.len() as u64) as usize];
            tx.forget_uid(u).unwrap();
        }
        tx.commit().unwrap();
        cache
    }

    /// Everything the state holds, to compare two states for equality.
    type Snapshot = (Vec<crate::slice::Slice>, Vec<(u32, u32, u64)>, Option<u32>);

    fn snapshot(cache: &Cache) -> Snapshot {
        let st = &cache.state;
        let overlay = st
            .overlay
            .iter()
            .map(|(u, m)| (*u, m.flags, m.modseq))
            .collect();
        (st.placed.to_vec(), overlay, st.header.exists)
    }

    /// The mailbox by sequence number: a UID, or `None` for a position of a hole.
    fn positions(cache: &Cache) -> Vec<Option<u32>> {
        let v = cache.view();
        (1..=v.exists().unwrap())
            .map(|s| v.message_at(s).unwrap().map(|m| m.uid))
            .collect()
    }

    /// What a removal of `ranges` must leave: known UIDs in the set go; a run of hole
    /// positions between known UIDs `lo` and `hi` loses one position per UID of the set
    /// strictly between them, at most its length.
    fn model(
        before: &[Option<u32>],
        ranges: &[RangeInclusive<u32>],
    ) -> (Vec<Option<u32>>, u64, u64) {
        let named = |u: u64| {
            ranges
                .iter()
                .any(|r| u64::from(*r.start()).max(1) <= u && u <= u64::from(*r.end()))
        };
        let in_set = |lo: u64, hi: u64| -> u64 {
            // UIDs of the set in lo + 1 ..= hi - 1, from the ranges joined.
            let mut spans: Vec<(u64, u64)> = ranges
                .iter()
                .map(|r| {
                    (
                        u64::from(*r.start()).max(lo + 1).max(1),
                        u64::from(*r.end()).min(hi - 1),
                    )
                })
                .filter(|(a, b)| a <= b)
                .collect();
            spans.sort_unstable();
            let (mut total, mut upto) = (0u64, 0u64);
            for (a, b) in spans {
                let a = a.max(upto + 1);
                if a <= b {
                    total += b - a + 1;
                    upto = b;
                }
                upto = upto.max(b);
            }
            total
        };
        let (mut out, mut placed, mut holes) = (Vec::new(), 0, 0);
        let mut k = 0;
        while k < before.len() {
            match before[k] {
                Some(u) => {
                    if named(u64::from(u)) {
                        placed += 1;
                    } else {
                        out.push(Some(u));
                    }
                    k += 1;
                }
                None => {
                    let start = k;
                    while k < before.len() && before[k].is_none() {
                        k += 1;
                    }
                    let lo = start
                        .checked_sub(1)
                        .and_then(|p| before[p])
                        .map_or(0, u64::from);
                    let hi = before
                        .get(k)
                        .copied()
                        .flatten()
                        .map_or(u64::from(u32::MAX) + 1, u64::from);
                    let run = (k - start) as u64;
                    let take = in_set(lo, hi).min(run);
                    holes += take;
                    out.extend(std::iter::repeat_n(None, (run - take) as usize));
                }
            }
        }
        (out, placed, holes)
    }

    fn remove(cache: &mut Cache, ranges: &[RangeInclusive<u32>], stepwise: bool) -> crate::Removed {
        STEPWISE.with(|o| o.set(stepwise));
        let mut tx = cache.transaction().unwrap();
        let removed = tx.remove_uids(ranges);
        STEPWISE.with(|o| o.set(false));
        let removed = removed.unwrap();
        tx.commit().unwrap();
        removed
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

        /// A plan leaves what the model says, the same state whether applied in one pass
        /// or one op at a time, and a replay of its journal frame rebuilds that state.
        #[test]
        fn a_plan_removes_what_the_model_says_in_one_pass_or_step_by_step(
            seed in any::<u64>(),
            n in 800u32..4_000,
            holes in prop::sample::select(vec![0u32, 0, 0, 2, 12]),
            picks in prop::collection::vec((0u32..12_000, 0u32..6), 1..400),
            wide in prop::option::weighted(0.2, (0u32..12_000, 0u32..400)),
        ) {
            let pass_dir = tempfile::tempdir().unwrap();
            let step_dir = tempfile::tempdir().unwrap();
            let mut pass = build(pass_dir.path(), seed, n, holes);
            let mut step = build(step_dir.path(), seed, n, holes);
            prop_assert_eq!(snapshot(&pass), snapshot(&step));
            // Mostly single UIDs, some short runs, unsorted and overlapping as they come.
            let mut ranges: Vec<RangeInclusive<u32>> =
                picks.iter().map(|&(a, w)| a..=a + if w < 4 { 0 } else { w * 3 }).collect();
            if let Some((a, w)) = wide {
                ranges.push(a..=a + w);
            }
            let (want, placed, from_holes) = model(&positions(&pass), &ranges);
            // The one pass remembers the records it read for the change tracker; one op at
            // a time looks each up: both must count the same.
            pass.track_changes();
            step.track_changes();
            let passes = ONE_PASS.with(Cell::get);
            let got = remove(&mut pass, &ranges, false);
            let one_pass = ONE_PASS.with(Cell::get) > passes;
            prop_assert_eq!(remove(&mut step, &ranges, true), got);
            prop_assert_eq!((got.placed, got.from_holes, got.unplaced), (placed, from_holes, 0));
            prop_assert_eq!(positions(&pass), want);
            let tracked = pass.tracked_changes().unwrap().unwrap();
            prop_assert_eq!(Some(tracked), step.tracked_changes().unwrap());
            prop_assert_eq!((tracked.gone, tracked.new), (placed, 0));
            let state = snapshot(&pass);
            prop_assert_eq!(&state, &snapshot(&step));
            if got.placed >= 32 && got.placed * 8 >= step.state.placed.len() as u64 + got.placed {
                prop_assert!(one_pass, "a large plan is applied in one pass");
            }
            drop(pass);
            drop(step);
            for dir in [pass_dir.path(), step_dir.path()] {
                let reopened = Cache::open_with(dir, options()).unwrap();
                prop_assert_eq!(&snapshot(&reopened), &state);
            }
        }
    }

    /// Records 100 at 1 and 300, 305, 320 at 4..=6, a hole at 2..=3, and `300:310`
    /// removed; `unplanned`: by the one-UID-at-a-time loop.
    fn remove_after_a_hole(unplanned: bool) -> (crate::Removed, Vec<Option<u32>>) {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open_with(dir.path(), options()).unwrap();
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(6).unwrap();
        tx.learn_range(1, &[100]).unwrap();
        tx.learn_range(4, &[300, 305, 320]).unwrap();
        tx.commit().unwrap();
        UNPLANNED.with(|u| u.set(unplanned));
        let removed = remove(&mut cache, &[300..=310], false);
        UNPLANNED.with(|u| u.set(false));
        (removed, positions(&cache))
    }

    #[test]
    fn the_set_is_decided_before_any_of_it_applies() {
        // 301–304 lie between two records of a slice: absent. Removed one UID at a time,
        // 300 went first, and 301–304 then lay before the slice and took positions of the
        // hole, whose messages all have UIDs below 300.
        let (removed, left) = remove_after_a_hole(false);
        assert_eq!((removed.placed, removed.from_holes), (2, 0));
        assert_eq!(left, [Some(100), None, None, Some(320)]);
        // The loop from before plans gets it wrong: the reason for them.
        let (removed, left) = remove_after_a_hole(true);
        assert_eq!((removed.placed, removed.from_holes), (2, 2));
        assert_eq!(left, [Some(100), Some(320)]);
    }

    #[test]
    fn a_large_set_in_order_meets_the_slices_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = build(dir.path(), 99, 3_000, 0);
        let uids: Vec<u32> = positions(&cache).into_iter().flatten().collect();
        let gone: Vec<u32> = uids.iter().copied().step_by(7).collect();
        let ranges: Vec<_> = gone.iter().rev().map(|&u| u..=u).collect();
        let passes = ONE_PASS.with(Cell::get);
        let removed = remove(&mut cache, &ranges, false);
        assert_eq!(ONE_PASS.with(Cell::get), passes + 1);
        assert_eq!(removed.placed, gone.len() as u64);
        let left: Vec<u32> = positions(&cache).into_iter().flatten().collect();
        let want: Vec<u32> = uids.iter().copied().filter(|u| !gone.contains(u)).collect();
        assert_eq!(left, want);
    }
}
