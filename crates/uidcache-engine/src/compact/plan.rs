//! Which runs of slices a compaction rewrites, what each run is worth, and rewriting the
//! chosen ones (FORMAT.md 11.5). A full compaction takes every run; a step takes the runs
//! that gain most per record copied, up to its budget.

use uidcache_format::{Record, BLOCK_HEADER_SIZE, FLAGS_UNKNOWN, RECORD_SIZE};

use super::MIN_SLICE_RECORDS;
use crate::blocks::IdMap;
use crate::blocks::{RecordSource, MAX_BLOCK_RECORDS};
use crate::cache::Cache;
use crate::dirfs::block_path;
use crate::error::Result;
use crate::slice::Slice;
use crate::state::Meta;

/// What a rewrite gains, in records' worth: a dead record freed is 1, an overlay entry
/// folded is `OVERLAY_GAIN` (it costs 16 bytes of every checkpoint until folded), an index
/// entry saved is `SLICE_GAIN` (32 bytes of every checkpoint, and a step of every lookup),
/// and a block file saved is `FILE_GAIN` (the page a file's tail wastes, 4 KiB).
const OVERLAY_GAIN: u64 = 4;
const SLICE_GAIN: u64 = 64;
const FILE_GAIN: u64 = 256;

/// What the slices say about the blocks they use: live records per block, and the dead
/// records of sparse blocks (fewer than half of their records still referenced).
pub(super) struct BlockUse {
    pub(super) live: IdMap<u64>,
    pub(super) sparse: IdMap<u64>,
}

/// A run of adjacent slices of one list (`placed` or not), `start..end`, to rewrite as one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Group {
    pub(super) placed: bool,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) records: u64,
    pub(super) gain: u64,
}

/// How candidates are chosen. A full compaction (`full`) makes every slice with an overlay
/// entry, and every slice of a crowded run, a candidate; a step only slices whose overlay is
/// dense, so that it never copies a long run of full blocks for a few entries or splits.
/// `force` takes every slice (an upgrade).
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    pub(super) force: bool,
    pub(super) full: bool,
}

impl Cache {
    /// Live records per block, and which blocks are sparse. A block's size is learnt once
    /// per handle (from its writer or one `stat`), and only for blocks with fewer live
    /// records than half a full block: no other block can be sparse.
    pub(super) fn block_use(&mut self) -> BlockUse {
        let mut live: IdMap<u64> = IdMap::default();
        // Neighbouring slices mostly share a block (a removal splits a slice in place), so
        // a run of them costs one map update instead of one per slice: at 10M messages
        // the updates were most of a step's planning.
        let mut run: Option<(u64, u64)> = None;
        for s in self.state.placed.iter().chain(&self.state.unplaced) {
            match run.as_mut() {
                Some((block, used)) if *block == s.block => *used += u64::from(s.len),
                _ => {
                    if let Some((block, used)) = run.replace((s.block, u64::from(s.len))) {
                        *live.entry(block).or_default() += used;
                    }
                }
            }
        }
        if let Some((block, used)) = run {
            *live.entry(block).or_default() += used;
        }
        let mut sparse = IdMap::default();
        for (id, used) in &live {
            if used * 2 >= MAX_BLOCK_RECORDS as u64 {
                continue;
            }
            let total = self.block_records(*id);
            if used * 2 < total {
                sparse.insert(*id, total - used);
            }
        }
        BlockUse { live, sparse }
    }

    /// Records in block `id`: known when this handle wrote it, else its file's size, learnt
    /// once (0 when it cannot be read: such a block is never called sparse).
    fn block_records(&mut self, id: u64) -> u64 {
        if let Some(n) = self.upkeep.block_len.get(&id) {
            return *n;
        }
        let size = self
            .fs
            .vfs
            .file_len(&block_path(&self.dir, id))
            .unwrap_or(0);
        let n = size.saturating_sub(BLOCK_HEADER_SIZE as u64) / RECORD_SIZE as u64;
        self.upkeep.block_len.insert(id, n);
        n
    }

    /// Overlay entries within the slice's UID range.
    fn overlay_in(&self, s: &Slice) -> u64 {
        if self.state.overlay.is_empty() {
            return 0;
        }
        self.state.overlay.range(s.first_uid..=s.last_uid).count() as u64
    }

    /// The runs worth rewriting in the placed (`placed`) or unplaced list: maximal runs of
    /// adjacent candidates (short slices, or slices in sparse blocks, with overlay entries
    /// or in a crowded run) of at least two slices or holding one that must go.
    pub(super) fn groups(&self, placed: bool, policy: Policy, blocks: &BlockUse) -> Vec<Group> {
        let slices: &[Slice] = if placed {
            &self.state.placed
        } else {
            &self.state.unplaced
        };
        let adjacent = |a: &Slice, b: &Slice| !placed || a.seq_end() + 1 == b.seq;
        let crowded = if policy.full {
            crowded_runs(slices, adjacent)
        } else {
            Vec::new()
        };
        // Only a full compaction folds the overlay (see `rewrite`).
        let overlay: Vec<u64> = if policy.full {
            slices.iter().map(|s| self.overlay_in(s)).collect()
        } else {
            Vec::new()
        };
        let must = |k: usize, s: &Slice| {
            let folded = overlay.get(k).copied().unwrap_or(0);
            policy.force
                || blocks.sparse.contains_key(&s.block)
                || (policy.full && folded > 0)
                || crowded.get(k).copied().unwrap_or(false)
        };
        let candidate = |k: usize, s: &Slice| s.len < MIN_SLICE_RECORDS || must(k, s);
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(first) = slices.get(i) {
            let mut j = i + 1;
            if candidate(i, first) {
                while let (Some(a), Some(b)) = (slices.get(j - 1), slices.get(j)) {
                    if !candidate(j, b) || !adjacent(a, b) {
                        break;
                    }
                    j += 1;
                }
            }
            let group = slices.get(i..j).unwrap_or_default();
            let worth = group.len() > 1 || group.iter().enumerate().any(|(k, s)| must(i + k, s));
            if candidate(i, first) && worth {
                let folded = overlay.get(i..j).unwrap_or_default().iter().sum();
                out.push(Group {
                    placed,
                    start: i,
                    end: j,
                    records: group.iter().map(|s| u64::from(s.len)).sum(),
                    gain: gain(group, folded, blocks),
                });
            }
            i = j;
        }
        out
    }

    /// The slices that replace each of the `chosen` runs (ascending, from [`Cache::groups`]
    /// of the placed list or not, as `placed` says), one vector per run, in order: the runs
    /// copied into new full blocks, which go to `new_blocks` (IDs from `next_block_id` on).
    /// A replacement covers the sequence numbers its run did, so nothing else moves. With
    /// `fold`, the overlay is applied to the copies and the folded UIDs go to `folded`.
    ///
    /// Only a compaction whose checkpoint follows at once may fold: a `SetMeta` op replaces
    /// a UID's overlay entry (sentinel fields keep the block's value), so a later frame
    /// replayed over the old layout, where the entry was still in the overlay, would read
    /// differently from the folded one. A step copies records as they are, and the state
    /// reads the same over either layout.
    pub(super) fn rewrite(
        &self,
        placed: bool,
        chosen: &[Group],
        new_blocks: &mut Vec<(u64, Vec<Record>)>,
        fold: Option<&mut Vec<u32>>,
    ) -> Result<Vec<Vec<Slice>>> {
        let mut fold = fold;
        let slices: &[Slice] = if placed {
            &self.state.placed
        } else {
            &self.state.unplaced
        };
        let mut out = Vec::with_capacity(chosen.len());
        for g in chosen {
            let group = slices.get(g.start..g.end).unwrap_or_default();
            let mut records = Vec::with_capacity(g.records as usize);
            for s in group {
                let view = s.view(&self.store as &dyn RecordSource)?;
                for r in view.records() {
                    let uid = r.uid.get();
                    let over = fold.as_ref().and(self.state.overlay.get(&uid));
                    let meta = match (over, fold.as_mut()) {
                        (Some(o), Some(folded)) => {
                            folded.push(uid);
                            o.over(Meta::of(r))
                        }
                        _ => Meta::of(r),
                    };
                    records.push(Record::new(uid, meta.flags, meta.modseq));
                }
            }
            let mut seq = match group.first() {
                Some(first) if placed => first.seq,
                _ => 0,
            };
            let mut pieces = Vec::with_capacity(records.len().div_ceil(MAX_BLOCK_RECORDS));
            for chunk in records.chunks(MAX_BLOCK_RECORDS) {
                let id = self.state.next_block_id + new_blocks.len() as u64;
                pieces.push(Slice {
                    block: id,
                    first_record: 0,
                    len: chunk.len() as u32,
                    seq,
                    first_uid: chunk.first().map_or(0, |r| r.uid.get()),
                    last_uid: chunk.last().map_or(0, |r| r.uid.get()),
                    flags_known: self.flags_known_in(chunk),
                });
                if placed {
                    seq += chunk.len() as u32;
                }
                new_blocks.push((id, chunk.to_vec()));
            }
            out.push(pieces);
        }
        Ok(out)
    }

    /// Whether every record of `chunk`, a rewritten slice, has known FLAGS in the state that
    /// will use it: its own, or an overlay entry's that stays (a step folds nothing). The
    /// records are in memory already; only those without flags cost an overlay lookup.
    fn flags_known_in(&self, chunk: &[Record]) -> bool {
        chunk.iter().all(|r| {
            r.flags.get() != FLAGS_UNKNOWN
                || self
                    .state
                    .overlay
                    .get(&r.uid.get())
                    .is_some_and(|m| m.flags != FLAGS_UNKNOWN)
        })
    }
}

/// What rewriting `group` (with `folded` overlay entries in it) gains; see `SLICE_GAIN`.
fn gain(group: &[Slice], folded: u64, blocks: &BlockUse) -> u64 {
    let records: u64 = group.iter().map(|s| u64::from(s.len)).sum();
    let new_blocks = records.div_ceil(MAX_BLOCK_RECORDS as u64).max(1);
    let mut dead = 0;
    // A slice holding all of its block's live records is the only one using the block
    // (slices are never empty), so counting them counts distinct blocks: no set per group.
    let mut whole = 0u64;
    for s in group {
        let live = blocks.live.get(&s.block).copied().unwrap_or(0).max(1);
        if let Some(d) = blocks.sparse.get(&s.block) {
            dead += d * u64::from(s.len) / live;
        }
        if u64::from(s.len) == live {
            whole += 1;
        }
    }
    let slices_saved = (group.len() as u64).saturating_sub(new_blocks);
    let files_saved = whole.saturating_sub(new_blocks);
    dead + SLICE_GAIN * slices_saved + FILE_GAIN * files_saved + OVERLAY_GAIN * folded
}

/// Marks the slices of every run of adjacent slices that holds more than twice the slices
/// full blocks would need: expunges split slices without rewriting anything, and this is
/// where the splits are paid for, once per run.
fn crowded_runs(slices: &[Slice], adjacent: impl Fn(&Slice, &Slice) -> bool) -> Vec<bool> {
    let mut out = vec![false; slices.len()];
    let mut i = 0;
    while i < slices.len() {
        let mut j = i + 1;
        while let (Some(a), Some(b)) = (slices.get(j - 1), slices.get(j)) {
            if !adjacent(a, b) {
                break;
            }
            j += 1;
        }
        let run = slices.get(i..j).unwrap_or_default();
        let records: u64 = run.iter().map(|s| u64::from(s.len)).sum();
        let ideal = records.div_ceil(MAX_BLOCK_RECORDS as u64).max(1);
        if run.len() as u64 > 2 * ideal {
            for flag in out.get_mut(i..j).unwrap_or_default() {
                *flag = true;
            }
        }
        i = j;
    }
    out
}
