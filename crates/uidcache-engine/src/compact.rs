//! Compaction: rewrite fragmented slices and fold the flag overlay into fresh blocks, then
//! checkpoint. Automatic when a commit pushes the journal past its limit and the layout is
//! fragmented (FORMAT.md "Block sizing and compaction").

use std::collections::{HashMap, HashSet};

use uidcache_format::{Record, BLOCK_HEADER_SIZE, RECORD_SIZE};

use crate::blocks::{RecordSource, MAX_BLOCK_RECORDS};
use crate::cache::Cache;
use crate::dirfs::{block_path, BLOCKS_DIR};
use crate::error::Result;
use crate::slice::Slice;
use crate::state::Meta;

/// Slices shorter than this are merged with contiguous neighbours by compaction.
pub const MIN_SLICE_RECORDS: u32 = (MAX_BLOCK_RECORDS / 4) as u32;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// New block files written.
    pub blocks_written: usize,
    /// Records copied into them.
    pub records_rewritten: u64,
    /// Overlay entries folded into blocks or dropped as stale.
    pub overlay_folded: usize,
}

impl Cache {
    /// Runs after every commit: checkpoint (and compact, when fragmented) once the journal
    /// is past its limit.
    pub(crate) fn after_commit(&mut self) -> Result<()> {
        let over = self
            .writer
            .as_ref()
            .is_some_and(|w| w.journal.len() > self.options.journal_limit);
        if !over {
            return Ok(());
        }
        if self.options.auto_compact && self.is_fragmented() {
            self.compact().map(|_| ())
        } else {
            self.checkpoint()
        }
    }

    /// Whether the layout has drifted far enough from ideal to be worth a compaction:
    /// more than twice the slices that full blocks would need, or an overlay larger than
    /// a sixteenth of the records.
    pub fn is_fragmented(&self) -> bool {
        let records = self.state.record_count();
        let ideal = records / MAX_BLOCK_RECORDS as u64 + 1;
        let slices = (self.state.placed.len() + self.state.unplaced.len()) as u64;
        slices > 2 * ideal + 16 || self.state.overlay.len() as u64 > (records / 16).max(4096)
    }

    /// Rewrites small, sparse or overlay-touched slices into full blocks, folds the overlay,
    /// and checkpoints. Old block files are unlinked once the new index is durable.
    pub fn compact(&mut self) -> Result<CompactStats> {
        self.writable()?;
        self.compact_inner(None).map_err(|e| self.poison(e))
    }

    /// Upgrades a format-v1 cache in place (FORMAT.md 1.2): a compaction that rewrites every
    /// slice into new blocks carrying a new identity, whose checkpoint writes the first
    /// index and journal with that identity and unlinks the v1 blocks. Until the index
    /// rename the v1 files stand untouched (the new blocks are orphans the next open
    /// removes); after it, only the v1 journal may remain, which the index's generation
    /// marks as stale.
    pub(crate) fn upgrade(&mut self) -> Result<()> {
        self.compact_inner(Some(crate::identity::fresh_cache_id()))
            .map(|_| ())
            .map_err(|e| self.poison(e))
    }

    /// `identity`: rewrite everything, and give the new blocks (and the state) this identity.
    fn compact_inner(&mut self, identity: Option<u64>) -> Result<CompactStats> {
        let force = identity.is_some();
        let sparse = self.sparse_blocks();
        let mut stats = CompactStats::default();
        let mut new_blocks: Vec<(u64, Vec<Record>)> = Vec::new();
        let mut folded: Vec<u32> = Vec::new();
        let placed = self.rewrite(
            &self.state.placed,
            (true, force),
            &sparse,
            &mut new_blocks,
            &mut folded,
        )?;
        let unplaced = self.rewrite(
            &self.state.unplaced,
            (false, force),
            &sparse,
            &mut new_blocks,
            &mut folded,
        )?;
        if let Some(id) = identity {
            // Everything was read with the old identity; everything written from here on
            // (blocks, index, journal) carries the new one.
            self.state.cache_id = id;
            self.store.set_cache_id(id);
        }
        for (id, records) in &new_blocks {
            self.write_block_file(*id, records, true)?;
            stats.blocks_written += 1;
            stats.records_rewritten += records.len() as u64;
        }
        if !new_blocks.is_empty() {
            self.fs.sync_dir(&self.dir.join(BLOCKS_DIR))?;
        }
        self.state.placed = placed.into();
        self.state.unplaced = unplaced;
        if let Some((last, _)) = new_blocks.last() {
            self.state.next_block_id = self.state.next_block_id.max(last + 1);
        }
        for uid in folded {
            self.state.overlay.remove(&uid);
            stats.overlay_folded += 1;
        }
        let stale = self.stale_overlay()?;
        stats.overlay_folded += stale.len();
        for uid in stale {
            self.state.overlay.remove(&uid);
        }
        self.write_checkpoint()?;
        self.stats.compactions += 1;
        Ok(stats)
    }

    /// Blocks of which less than half the records are still referenced.
    fn sparse_blocks(&self) -> HashSet<u64> {
        let mut live: HashMap<u64, u64> = HashMap::new();
        for s in self.state.placed.iter().chain(&self.state.unplaced) {
            *live.entry(s.block).or_default() += u64::from(s.len);
        }
        live.into_iter()
            .filter(|(id, used)| {
                let size = self
                    .fs
                    .vfs
                    .file_len(&block_path(&self.dir, *id))
                    .unwrap_or(0);
                let total = size.saturating_sub(BLOCK_HEADER_SIZE as u64) / RECORD_SIZE as u64;
                used * 2 < total
            })
            .map(|(id, _)| id)
            .collect()
    }

    fn has_overlay(&self, s: &Slice) -> bool {
        !self.state.overlay.is_empty()
            && self
                .state
                .overlay
                .range(s.first_uid..=s.last_uid)
                .next()
                .is_some()
    }

    /// The slices after compaction: runs of adjacent candidates are copied (with their
    /// overlay applied) into new blocks; everything else is kept as it is.
    fn rewrite(
        &self,
        slices: &[Slice],
        (placed, force): (bool, bool),
        sparse: &HashSet<u64>,
        new_blocks: &mut Vec<(u64, Vec<Record>)>,
        folded: &mut Vec<u32>,
    ) -> Result<Vec<Slice>> {
        let adjacent = |a: &Slice, b: &Slice| !placed || a.seq_end() + 1 == b.seq;
        let crowded = crowded_runs(slices, adjacent);
        let must = |k: usize, s: &Slice| {
            force
                || sparse.contains(&s.block)
                || self.has_overlay(s)
                || crowded.get(k).copied().unwrap_or(false)
        };
        let candidate = |k: usize, s: &Slice| s.len < MIN_SLICE_RECORDS || must(k, s);
        let mut out = Vec::with_capacity(slices.len());
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
            if !candidate(i, first) || !worth {
                out.extend_from_slice(group);
            } else {
                let mut records = Vec::new();
                for s in group {
                    let view = s.view(&self.store as &dyn RecordSource)?;
                    for r in view.records() {
                        let uid = r.uid.get();
                        let meta = match self.state.overlay.get(&uid) {
                            Some(o) => {
                                folded.push(uid);
                                o.over(Meta::of(r))
                            }
                            None => Meta::of(r),
                        };
                        records.push(Record::new(uid, meta.flags, meta.modseq));
                    }
                }
                let mut seq = if placed { first.seq } else { 0 };
                for chunk in records.chunks(MAX_BLOCK_RECORDS) {
                    let id = self.state.next_block_id + new_blocks.len() as u64;
                    out.push(Slice {
                        block: id,
                        first_record: 0,
                        len: chunk.len() as u32,
                        seq,
                        first_uid: chunk.first().map_or(0, |r| r.uid.get()),
                        last_uid: chunk.last().map_or(0, |r| r.uid.get()),
                    });
                    if placed {
                        seq += chunk.len() as u32;
                    }
                    new_blocks.push((id, chunk.to_vec()));
                }
            }
            i = j;
        }
        Ok(out)
    }

    /// Overlay entries whose UID no record has any more.
    fn stale_overlay(&self) -> Result<Vec<u32>> {
        let mut stale = Vec::new();
        for uid in self.state.overlay.keys() {
            let placed = self.state.seq_of_uid(*uid, &self.store)?.is_some();
            if !placed && self.state.unplaced_record(*uid, &self.store)?.is_none() {
                stale.push(*uid);
            }
        }
        Ok(stale)
    }
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
