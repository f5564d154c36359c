//! Pay-as-you-go compaction (FORMAT.md 11.5): every commit earns credit in proportion to
//! its own change, and spends it on a bounded [`Cache::compact_step`]; the checkpoint that
//! follows a full journal publishes what the steps wrote. No commit, close or drop rewrites
//! more than a bounded number of records, whatever the mailbox's size or history.

use std::collections::{HashMap, HashSet};

use super::plan::{Group, Policy};
use super::CompactStats;
use crate::blocks::MAX_BLOCK_RECORDS;
use crate::cache::Cache;
use crate::error::Result;

/// Records of compaction a commit earns per op that can fragment the layout (other than a
/// one-record removal): enough to keep up with what such an op can have fragmented (a
/// range removal or a learn adds a slice and may leave a sparse block).
pub const STEP_CREDIT_PER_CHANGE: u64 = 64;

/// Records of compaction a commit earns per one-record removal (`Expunge`, `RemoveUid`,
/// `ForgetUid`). Such an op costs the layout one dead 16-byte record and at most one more
/// index entry (32 bytes), nothing else. With this credit the steps keep up once the
/// densest runs hold about `2048 / 32 + 1` slices per block's worth of records (a step
/// copies a block's worth to save that many entries): the index settles at about one entry
/// per 32 live records or fewer (1 byte per 16-byte record), where 64 settled at about one
/// per 62. The disk bound stays as it was (a block still goes once it is half dead), and an
/// expunge storm pays half the copying, step blocks and checkpoints. Less credit (16 was
/// measured) saves more copying but makes every later op slower: an expunge moves a third
/// of the index entries in memory, and they grow (BENCHMARKS.md, "Cheaper expunge
/// storms").
pub const STEP_CREDIT_PER_REMOVAL: u64 = 32;

/// What one commit changed, for the credit it earns.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Change {
    /// Ops that can fragment the layout, other than one-record removals.
    pub(crate) ops: u64,
    /// One-record removals.
    pub(crate) removals: u64,
    /// Records learned.
    pub(crate) records: u64,
}

impl Change {
    /// The compaction credit this change earns, in records.
    fn credit(&self) -> u64 {
        self.ops
            .saturating_mul(STEP_CREDIT_PER_CHANGE)
            .saturating_add(self.removals.saturating_mul(STEP_CREDIT_PER_REMOVAL))
            .saturating_add(self.records.saturating_mul(STEP_CREDIT_PER_RECORD))
    }
}

/// Records of compaction a commit earns per record it learned: its records arrive as one
/// short slice, which merging copies a few times before it is part of a full block.
const STEP_CREDIT_PER_RECORD: u64 = 4;

/// Most records one commit's step copies (8 full blocks, 256 KiB): the bound on the
/// foreground work a commit adds to its own.
pub const STEP_MAX_RECORDS: u64 = 8 * MAX_BLOCK_RECORDS as u64;

/// Credit a step waits for before it looks for work: looking means a pass over the index in
/// memory (O(slices)), paid once per this many records of credit. (Four blocks' worth halved
/// the passes of an expunge storm, but the durable appends that followed it in the bench
/// had twice the p99.9: BENCHMARKS.md, "Cheaper expunge storms".)
const STEP_MIN_CREDIT: u64 = MAX_BLOCK_RECORDS as u64;

/// Credit saved for later steps, at most (so that a long quiet history does not buy one
/// long step: each step is capped at `STEP_MAX_RECORDS` anyway).
const CREDIT_MAX: u64 = 64 * MAX_BLOCK_RECORDS as u64;

/// Step blocks waiting for a checkpoint's fdatasync, at least as many as this before they
/// make the checkpoint due (more with a large index: `Cache::checkpoint_scale`), so that no
/// checkpoint pays for more than that many (plus one commit's steps).
const UNSYNCED_STEP_BLOCKS: usize = 32;

/// Steps' blocks kept in memory until the next checkpoint (`keep_step_block`), at most, in
/// units of `Cache::checkpoint_scale`: past this the checkpoint is due, which bounds a
/// writer's memory.
const STEP_MEMORY_LIMITS: u64 = 4;

/// Bytes of a full block's records, the unit in which step blocks are set against the
/// checkpoint's scale.
const FULL_BLOCK_BYTES: u64 = MAX_BLOCK_RECORDS as u64 * uidcache_format::RECORD_SIZE as u64;

/// A step is worth its copying only when what it gains (plan.rs's units, records' worth)
/// times this is at least the records it copies.
const GAIN_RATIO: u64 = 4;

/// The writer's bookkeeping for steps and checkpoints.
#[derive(Debug, Default)]
pub(crate) struct Upkeep {
    /// Block files this writer may have to unlink: those the index or a replayed frame
    /// named at open, and every one written since. A checkpoint unlinks those that its
    /// state does not name (FORMAT.md 7.2 step 6) without listing `blocks/`.
    pub(crate) known_blocks: HashSet<u64>,
    /// Blocks made by steps since the last checkpoint: no frame names them, so only the
    /// checkpoint that publishes them needs their files (the syncer writes them).
    pub(crate) compacted_unsynced: Vec<u64>,
    /// Record bytes of the blocks steps made since the last checkpoint, which the store
    /// keeps in memory until it (see `keep_step_block`).
    pub(crate) step_bytes_in_memory: u64,
    /// The length of `compacted_unsynced` after its last pruning (see
    /// `step_blocks_due`): it is pruned again only once it has grown past that.
    pub(crate) unsynced_pruned: usize,
    /// This writer wrote a file or checkpointed since its open (a drop may then not put
    /// back a `clean` marker the open trusted).
    pub(crate) touched: bool,
    /// Blocks a checkpoint will need durable, not yet handed to the syncer
    /// (`cache/background.rs`).
    pub(crate) candidates: Vec<crate::cache::Candidate>,
    /// This writer wrote a file since its last checkpoint.
    pub(crate) wrote_since_checkpoint: bool,
    /// Records in a block file, learnt from its writer or one `stat` (see `block_use`).
    pub(crate) block_len: HashMap<u64, u64>,
    /// Compaction credit, in records.
    credit: u64,
    /// A step found many dead blocks waiting for a checkpoint to unlink them.
    checkpoint_due: bool,
    /// Non-durable commits since a checkpoint became due and was postponed
    /// (`Cache::postpone_checkpoint`); 0: none is.
    pub(crate) postponed: u32,
    /// The syncer ticket a postponed checkpoint waits for before it is tried again.
    pub(crate) postponed_until: Option<u64>,
}

impl Upkeep {
    /// Remembers a block file written by this handle, with its record count.
    pub(crate) fn wrote(&mut self, id: u64, records: usize) {
        self.touched = true;
        self.wrote_since_checkpoint = true;
        self.known_blocks.insert(id);
        self.block_len.insert(id, records as u64);
    }
}

impl Cache {
    /// Whether the commit about to append a frame of `payload` bytes must be followed by a
    /// checkpoint: the journal would outgrow both its limit and the index (so that a
    /// checkpoint, which writes the whole index, costs O(1) per journal byte), or earlier
    /// steps left many dead blocks or step blocks to publish (`unsynced_step_limit`). Decided
    /// before the frame is written, so that a durable commit leaves its durability to the
    /// checkpoint's index instead of paying its own fsyncs too (FORMAT.md 7.1 step 5).
    pub(crate) fn checkpoint_follows(&mut self, payload: usize) -> bool {
        let frame = (uidcache_format::FRAME_HEADER_SIZE + payload) as u64;
        let journal = self.writer.as_ref().map_or(0, |w| w.journal.len()) + frame;
        let limit = self.checkpoint_scale();
        let unsynced = self.step_blocks_due(unsynced_step_limit(limit));
        journal > limit
            || unsynced
            || std::mem::take(&mut self.upkeep.checkpoint_due)
            || self.upkeep.postponed > 0
    }

    /// Runs after every commit that made `change`: earns and
    /// spends compaction credit (with `auto_compact`), then checkpoints when
    /// [`Cache::checkpoint_follows`] said so before the commit's frame, unless a
    /// non-durable commit may postpone it ([`Cache::postpone_checkpoint`]). What this
    /// commit's step leaves due waits for the next commit's decision. While a checkpoint
    /// is postponed no step runs (the credit is kept): the steps' blocks would be more for
    /// the checkpoint to wait for, and their dead ones more disk until it runs.
    pub(crate) fn after_commit(
        &mut self,
        change: Change,
        checkpoint: bool,
        durable: bool,
    ) -> Result<()> {
        if checkpoint && !durable && self.postpone_checkpoint()? {
            return self.hand_over_old_blocks();
        }
        if self.options.auto_compact {
            let earned = change.credit();
            self.upkeep.credit = self.upkeep.credit.saturating_add(earned).min(CREDIT_MAX);
            if self.upkeep.credit >= STEP_MIN_CREDIT {
                let budget = self
                    .upkeep
                    .credit
                    .min(earned.max(STEP_MIN_CREDIT))
                    .min(STEP_MAX_RECORDS);
                let done = self.step(budget)?;
                self.upkeep.credit = if done.records_rewritten == 0 {
                    // Nothing worth doing: look again only after as much change again.
                    0
                } else {
                    self.upkeep.credit.saturating_sub(done.records_rewritten)
                };
            }
        }
        if checkpoint {
            self.write_checkpoint()
        } else {
            self.hand_over_old_blocks()
        }
    }

    /// Step blocks the next checkpoint must fdatasync. One that a later step replaced is
    /// named by nothing durable and costs no fsync (FORMAT.md 7.2 step 0), so it is dropped
    /// from the count: steps that keep rewriting the same tail (small appends) would
    /// otherwise make a checkpoint due every few dozen steps for nothing.
    /// The O(slices) pass runs only once the list is that long and has grown since it was
    /// last pruned (only a step adds to it), so at most once per step: while a due
    /// checkpoint is postponed, every commit asks again, and a pass per commit was most of
    /// an expunge storm's time. A block that stops being named without a step (its last
    /// records expunged) is counted until the next pruning: the checkpoint is due early,
    /// never late. Whether they number at least `limit`.
    fn step_blocks_due(&mut self, limit: usize) -> bool {
        let upkeep = &mut self.upkeep;
        let len = upkeep.compacted_unsynced.len();
        if len >= limit && len > upkeep.unsynced_pruned {
            let named = self.state.live_blocks();
            upkeep.compacted_unsynced.retain(|id| named.contains(id));
            upkeep.unsynced_pruned = upkeep.compacted_unsynced.len();
        }
        upkeep.compacted_unsynced.len() >= limit
    }

    /// What a cause must weigh, in bytes, before it makes a checkpoint due: the journal
    /// limit, or the index the checkpoint writes if that is larger. A checkpoint writes the
    /// whole index, so each rule that calls for one (journal bytes, dead blocks' bytes, step
    /// blocks in memory or waiting for their fdatasync) waits for at least an index's worth:
    /// at 10M messages after a day of VANISHED resyncs the index is 9–18 MB, and 32 step
    /// blocks (1 MiB) made a checkpoint due every few dozen commits.
    pub(crate) fn checkpoint_scale(&self) -> u64 {
        self.options.journal_limit.max(self.index_bytes())
    }

    /// About what the next checkpoint's index will weigh (entries, overlay, flag tables).
    pub(crate) fn index_bytes(&self) -> u64 {
        let entries = (self.state.placed.len() + self.state.unplaced.len()) as u64;
        32 * entries + 16 * self.state.overlay.len() as u64 + self.state.flags.bytes()
    }

    /// Rewrites at most about `budget` records (whole slices; at least one slice when any
    /// run is worth it), choosing the runs that gain most per record copied: sparse blocks,
    /// runs of short slices, dense overlay entries. The new blocks are written without
    /// fsync and become the layout in memory at once; the next checkpoint (after a full
    /// journal, [`Cache::checkpoint`], or a close) makes them durable and publishes them,
    /// and until then a crash leaves them as orphans that the next open unlinks. The state
    /// reads the same before and after, so no journal op is written.
    pub fn compact_step(&mut self, budget: u64) -> Result<CompactStats> {
        self.writable()?;
        self.step(budget).map_err(|e| self.poison(e))
    }

    fn step(&mut self, budget: u64) -> Result<CompactStats> {
        let policy = Policy {
            force: false,
            full: false,
        };
        let blocks = self.block_use();
        let limit = self.checkpoint_scale();
        if self.dead_bytes(&blocks) > limit
            || self.upkeep.step_bytes_in_memory > STEP_MEMORY_LIMITS.saturating_mul(limit)
        {
            self.upkeep.checkpoint_due = true;
        }
        let mut groups = self.groups(true, policy, &blocks);
        groups.extend(self.groups(false, policy, &blocks));
        groups.retain(|g| g.gain.saturating_mul(GAIN_RATIO) >= g.records);
        // Most gain per record copied first (cross-multiplied: no division, no rounding).
        groups.sort_by(|a, b| {
            (u128::from(b.gain) * u128::from(a.records))
                .cmp(&(u128::from(a.gain) * u128::from(b.records)))
        });
        let mut chosen: Vec<Group> = Vec::new();
        let mut left = budget;
        for g in groups {
            if left == 0 {
                break;
            }
            match self.within(g, left) {
                Some(g) => {
                    left = left.saturating_sub(g.records);
                    chosen.push(g);
                }
                None => continue,
            }
        }
        let (mut placed, mut unplaced): (Vec<Group>, Vec<Group>) =
            chosen.into_iter().partition(|g| g.placed);
        placed.sort_by_key(|g| g.start);
        unplaced.sort_by_key(|g| g.start);
        if placed.is_empty() && unplaced.is_empty() {
            return Ok(CompactStats::default());
        }
        let stats = self.replace_groups(&placed, &unplaced, None, false)?;
        self.stats.compactions += 1;
        Ok(stats)
    }

    /// Makes a step's new block `id` part of the layout without writing its file: the store
    /// serves its records from memory, as it does an inline block's, and the syncer writes
    /// and fdatasyncs the file once the block has lived a few commits, or before the
    /// checkpoint that publishes it (FORMAT.md 7.4, 11.5). Creating a file was most of a
    /// step's time (a new inode each), and a block that a later step replaces first never
    /// gets one. Nothing durable names the block before that checkpoint, so a crash loses
    /// only the step's work, and a file the syncer wrote is an orphan the next open unlinks.
    pub(super) fn keep_step_block(&mut self, id: u64, records: Vec<uidcache_format::Record>) {
        let count = records.len() as u64;
        self.upkeep.block_len.insert(id, count);
        self.upkeep.compacted_unsynced.push(id);
        self.upkeep.step_bytes_in_memory = self
            .upkeep
            .step_bytes_in_memory
            .saturating_add(count * uidcache_format::RECORD_SIZE as u64);
        let records = self.store.register_inline(id, records);
        self.write_inline_later(id, records);
    }

    /// Disk space (whole pages) of the block files that no slice uses any more and that wait
    /// for a checkpoint to unlink them: a checkpoint is due once they outweigh the journal
    /// limit, which bounds the disk a step's leftovers take (FORMAT.md 11.5).
    fn dead_bytes(&self, blocks: &super::plan::BlockUse) -> u64 {
        let page = |records: u64| {
            (uidcache_format::BLOCK_HEADER_SIZE as u64 + 16 * records).next_multiple_of(4096)
        };
        self.upkeep
            .known_blocks
            .iter()
            .filter(|id| !blocks.live.contains_key(id))
            .map(|id| {
                let records = self.upkeep.block_len.get(id).copied();
                page(records.unwrap_or(MAX_BLOCK_RECORDS as u64))
            })
            .sum()
    }

    /// `g`, or its longest prefix of at least two slices that fits in `left` records
    /// (`None` when not even that fits: a run is only worth rewriting whole or merged).
    fn within(&self, g: Group, left: u64) -> Option<Group> {
        if g.records <= left {
            return Some(g);
        }
        let slices = if g.placed {
            &self.state.placed[..]
        } else {
            &self.state.unplaced[..]
        };
        let mut records = 0;
        let mut end = g.start;
        for s in slices.get(g.start..g.end).unwrap_or_default() {
            if records + u64::from(s.len) > left {
                break;
            }
            records += u64::from(s.len);
            end += 1;
        }
        (end >= g.start + 2).then_some(Group {
            end,
            records,
            gain: g.gain.saturating_mul(records) / g.records.max(1),
            ..g
        })
    }
}

/// Step blocks waiting for their fdatasync that make a checkpoint due, at a checkpoint
/// scale of `scale` bytes ([`Cache::checkpoint_scale`]).
fn unsynced_step_limit(scale: u64) -> usize {
    let blocks = scale / FULL_BLOCK_BYTES;
    UNSYNCED_STEP_BLOCKS.max(usize::try_from(blocks).unwrap_or(usize::MAX))
}
