//! What the writer hands to its background syncer (`crate::syncer`, FORMAT.md 7.4), and
//! when: a block that a checkpoint will need durable (a compaction step's block, an inline
//! block that must become a file) is handed over once it has lived `SYNC_AGE` commits and
//! is still in use. Most such blocks die young (the next steps merge a short slice again
//! and again until its block is full), and syncing them would cost the disk fsyncs for
//! nothing, which the committing thread's own fsyncs then queue behind. The checkpoint hands
//! over the young ones that are still in use and waits for the syncer.

use std::sync::Arc;

use uidcache_format::Record;

use super::Cache;
use crate::error::Result;
use crate::syncer::Job;

/// Commits a candidate block lives before the syncer gets it. The candidates are looked at
/// (an O(slices) pass over the state) once the oldest has lived twice this long, so at most
/// once per this many commits.
const SYNC_AGE: u64 = 16;

/// A block that a checkpoint will need durable, not yet handed to the syncer.
#[derive(Debug)]
pub(crate) struct Candidate {
    id: u64,
    /// The commit count when it was created.
    born: u64,
    /// An inline block's records (the syncer writes its file); `None`: a step block's file
    /// exists and wants an fdatasync.
    records: Option<Arc<Vec<Record>>>,
}

impl Cache {
    /// Inline block `id` (whose records a journal frame carries) must become a durable file
    /// before the checkpoint that replaces that frame.
    pub(crate) fn write_inline_later(&mut self, id: u64, records: Arc<Vec<Record>>) {
        self.upkeep.candidates.push(Candidate {
            id,
            born: self.stats.commits,
            records: Some(records),
        });
    }

    /// Compaction step block `id`, written without fdatasync, must be durable before the
    /// checkpoint that publishes it.
    pub(crate) fn sync_step_block_later(&mut self, id: u64) {
        self.upkeep.candidates.push(Candidate {
            id,
            born: self.stats.commits,
            records: None,
        });
    }

    /// After a commit: hands the candidates that lived `SYNC_AGE` commits and are still in
    /// use to the syncer, once the oldest has lived twice that; the dead ones are dropped.
    pub(crate) fn hand_over_old_blocks(&mut self) -> Result<()> {
        let now = self.stats.commits;
        let due = |c: &Candidate| now.saturating_sub(c.born) >= SYNC_AGE;
        let oldest = self.upkeep.candidates.first().map(|c| c.born);
        if oldest.is_none_or(|born| now.saturating_sub(born) < 2 * SYNC_AGE) {
            return Ok(());
        }
        let young = self.upkeep.candidates.iter().position(|c| !due(c));
        let old: Vec<Candidate> = match young {
            Some(at) => self.upkeep.candidates.drain(..at).collect(),
            None => std::mem::take(&mut self.upkeep.candidates),
        };
        self.hand_over(old)
    }

    /// Before a checkpoint: hands every candidate still in use to the syncer (an inline
    /// block replayed at this writer's open is one too) and waits until it has done all
    /// it was given, `blocks/` included.
    pub(crate) fn blocks_durable_for_checkpoint(&mut self) -> Result<()> {
        let mut all = std::mem::take(&mut self.upkeep.candidates);
        for (id, records) in self.store.inline_blocks() {
            let given = self.writer.as_ref().is_some_and(|w| w.syncer.wrote(id));
            if !given && !all.iter().any(|c| c.id == id) {
                all.push(Candidate {
                    id,
                    born: 0,
                    records: Some(records),
                });
            }
        }
        self.hand_over(all)?;
        match self.writer.as_mut() {
            Some(writer) => writer.syncer.wait_all(),
            None => Ok(()),
        }
    }

    fn hand_over(&mut self, candidates: Vec<Candidate>) -> Result<()> {
        if candidates.is_empty() {
            return Ok(());
        }
        let named = self.state.live_blocks();
        let cache_id = self.state.cache_id;
        for c in candidates {
            if !named.contains(&c.id) {
                continue;
            }
            let job = match c.records {
                Some(records) => {
                    // A marker this writer created (none of an open's: the syncer removes
                    // that one before any job queued after it) goes first, durably.
                    if self.writer.as_ref().is_some_and(|w| w.clean_marker) {
                        self.leave_clean()?;
                    }
                    // Known before the write: a dead one is unlinked at a checkpoint too.
                    self.upkeep.wrote(c.id, records.len());
                    Job::Write {
                        id: c.id,
                        records,
                        cache_id,
                    }
                }
                None => Job::Sync(c.id),
            };
            if let Some(writer) = self.writer.as_mut() {
                writer.syncer.submit(job, false)?;
            }
        }
        Ok(())
    }
}
