//! Compaction: rewrite fragmented slices and fold the flag overlay into fresh blocks. A full
//! compaction ([`Cache::compact`]) rewrites every run worth it and checkpoints; a step
//! ([`Cache::compact_step`], `step.rs`) rewrites a budget of records and leaves publishing
//! to the next checkpoint (FORMAT.md "Block sizing and compaction").

mod plan;
mod step;

use uidcache_format::Record;

use crate::blocks::MAX_BLOCK_RECORDS;
use crate::cache::Cache;
use crate::dirfs::BLOCKS_DIR;
use crate::error::Result;
use crate::slice::Slice;
use plan::{Group, Policy};
pub(crate) use step::{Change, Upkeep};
pub use step::{STEP_CREDIT_PER_CHANGE, STEP_CREDIT_PER_REMOVAL, STEP_MAX_RECORDS};

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
    /// Whether the layout has drifted far enough from ideal to be worth a compaction:
    /// more than twice the slices that full blocks would need, or an overlay larger than
    /// a sixteenth of the records.
    pub fn is_fragmented(&self) -> bool {
        let records = self.state.record_count();
        let ideal = records / MAX_BLOCK_RECORDS as u64 + 1;
        let slices = (self.state.placed.len() + self.state.unplaced.len()) as u64;
        slices > 2 * ideal + 16 || self.state.overlay.len() as u64 > (records / 16).max(4096)
    }

    /// Rewrites small, sparse, crowded or overlay-touched slices into full blocks, folds the
    /// whole overlay, and checkpoints. Old block files are unlinked once the new index is
    /// durable. Its cost grows with the mailbox: a tool's call, never a commit's (commits
    /// pay for [`Cache::compact_step`] instead).
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
        let policy = Policy {
            force: identity.is_some(),
            full: true,
        };
        let blocks = self.block_use();
        let placed = self.groups(true, policy, &blocks);
        let unplaced = self.groups(false, policy, &blocks);
        let mut stats = self.replace_groups(&placed, &unplaced, identity, true)?;
        let stale = self.stale_overlay()?;
        stats.overlay_folded += stale.len();
        for uid in stale {
            self.state.overlay.remove(&uid);
        }
        self.write_checkpoint()?;
        self.stats.compactions += 1;
        Ok(stats)
    }

    /// Copies the chosen runs of the placed and unplaced lists into new blocks, and makes
    /// the state use them. `durable` (a full compaction, whose checkpoint follows): fold the
    /// overlay entries they carry, and write and fdatasync each block and `blocks/` now;
    /// otherwise (a step) no folding, and the blocks stay in memory for the syncer to write
    /// out before the next checkpoint's index names them ([`Cache::keep_step_block`]).
    fn replace_groups(
        &mut self,
        placed: &[Group],
        unplaced: &[Group],
        identity: Option<u64>,
        durable: bool,
    ) -> Result<CompactStats> {
        let mut stats = CompactStats::default();
        let mut new_blocks: Vec<(u64, Vec<Record>)> = Vec::new();
        let mut folded: Vec<u32> = Vec::new();
        // Only a full compaction, whose checkpoint follows at once, folds (see `rewrite`).
        let fold = durable;
        let new_placed =
            self.rewrite(true, placed, &mut new_blocks, fold.then_some(&mut folded))?;
        let new_unplaced = self.rewrite(
            false,
            unplaced,
            &mut new_blocks,
            fold.then_some(&mut folded),
        )?;
        if let Some(id) = identity {
            // Everything was read with the old identity; everything written from here on
            // (blocks, index, journal) carries the new one.
            self.state.cache_id = id;
            self.store.set_cache_id(id);
        }
        let written = new_blocks.last().map(|(id, _)| *id);
        for (id, records) in new_blocks {
            stats.blocks_written += 1;
            stats.records_rewritten += records.len() as u64;
            self.stats.compacted_records += records.len() as u64;
            if durable {
                self.write_block_file(id, &records, true)?;
            } else {
                self.keep_step_block(id, records);
            }
        }
        if durable && written.is_some() {
            self.fs.sync_dir(&self.dir.join(BLOCKS_DIR))?;
        }
        // Each run in place, the last first so that the earlier runs' indices hold: a step
        // changes a few runs, and rebuilding the whole list for them was a fifth of a
        // step's time at 10M messages (288,000 slices).
        for (g, pieces) in placed.iter().zip(new_placed).rev() {
            self.state.placed.drain(g.start..g.end);
            for (k, piece) in pieces.into_iter().enumerate() {
                self.state.placed.insert(g.start + k, piece);
            }
        }
        if !unplaced.is_empty() {
            self.state.unplaced = spliced(&self.state.unplaced, unplaced, new_unplaced);
        }
        if let Some(last) = written {
            self.state.next_block_id = self.state.next_block_id.max(last + 1);
        }
        for uid in folded {
            self.state.overlay.remove(&uid);
            stats.overlay_folded += 1;
        }
        Ok(stats)
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

/// `list` with each of the `chosen` runs (ascending) replaced by its `pieces`, in one pass.
fn spliced(list: &[Slice], chosen: &[Group], pieces: Vec<Vec<Slice>>) -> Vec<Slice> {
    let mut out = Vec::with_capacity(list.len());
    let mut at = 0;
    for (g, pieces) in chosen.iter().zip(pieces) {
        out.extend_from_slice(list.get(at..g.start).unwrap_or_default());
        out.extend(pieces);
        at = g.end;
    }
    out.extend_from_slice(list.get(at..).unwrap_or_default());
    out
}
