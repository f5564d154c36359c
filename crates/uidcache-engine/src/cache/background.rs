//! What the writer hands to its background syncer (`crate::syncer`, FORMAT.md 7.4), and
//! when: a block that a checkpoint will need as a durable file (an inline block, whether a
//! journal frame carries it or a compaction step made it) is handed over once it has lived
//! `SYNC_AGE` commits and is still in use. Most such blocks die young (the next steps merge
//! a short slice again and again until its block is full), and syncing them would cost the
//! disk fsyncs for nothing, which the committing thread's own fsyncs then queue behind. The
//! checkpoint hands over the young ones that are still in use and waits for the syncer.

use std::sync::Arc;

use uidcache_format::Record;

use super::Cache;
use crate::error::Result;
use crate::syncer::Job;

/// Commits a candidate block lives before the syncer gets it. The candidates are looked at
/// (an O(slices) pass over the state) once the oldest has lived twice this long, so at most
/// once per this many commits.
const SYNC_AGE: u64 = 16;

/// Non-durable commits a due checkpoint may be postponed by, at most, before one waits for
/// the syncer as a durable commit's does (FORMAT.md 7.4, 11.5). Large: a stream of NoSync
/// commits takes microseconds each, far less than one fsync under load, so the journal cap
/// is the one that usually ends a long postponement.
pub(crate) const POSTPONE_MAX: u32 = 1024;

/// A block that a checkpoint will need durable, not yet handed to the syncer.
#[derive(Debug)]
pub(crate) struct Candidate {
    id: u64,
    /// The commit count when it was created.
    born: u64,
    /// Its records: the syncer writes its file.
    records: Arc<Vec<Record>>,
}

impl Cache {
    /// Inline block `id` (whose records a journal frame carries, or a compaction step made)
    /// must become a durable file before the checkpoint that replaces that frame or
    /// publishes that step.
    pub(crate) fn write_inline_later(&mut self, id: u64, records: Arc<Vec<Record>>) {
        self.upkeep.candidates.push(Candidate {
            id,
            born: self.stats.commits,
            records,
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
        self.hand_over_all()?;
        match self.writer.as_mut() {
            Some(writer) => writer.syncer.wait_all(),
            None => Ok(()),
        }
    }

    /// Whether a non-durable commit's due checkpoint waits for a later commit (FORMAT.md
    /// 7.4): the syncer still has blocks to make durable that the checkpoint would wait
    /// for, and neither cap is reached (`POSTPONE_MAX` commits, the journal at twice the
    /// size that made the checkpoint due). The first time, and each time the syncer has
    /// caught up, everything the checkpoint needs is handed over; the checkpoint runs once
    /// the syncer has done all of it. Postponing is always safe (the journal still holds
    /// every change); the caps bound the disk the journal and the blocks take meanwhile.
    /// Never with the syncer inline: its jobs are done before anyone could wait.
    pub(crate) fn postpone_checkpoint(&mut self) -> Result<bool> {
        let limit = self.checkpoint_scale();
        let Some(writer) = self.writer.as_ref() else {
            return Ok(false);
        };
        if !writer.syncer.background()
            || self.upkeep.postponed >= POSTPONE_MAX
            || writer.journal.len() > limit.saturating_mul(2)
        {
            return Ok(false);
        }
        let waiting = self
            .upkeep
            .postponed_until
            .is_some_and(|ticket| !writer.syncer.is_done(ticket));
        if !waiting {
            self.hand_over_all()?;
            let Some(writer) = self.writer.as_mut() else {
                return Ok(false);
            };
            let ticket = writer.syncer.start_all()?;
            if writer.syncer.is_done(ticket) {
                return Ok(false);
            }
            self.upkeep.postponed_until = Some(ticket);
        }
        self.upkeep.postponed += 1;
        self.stats.checkpoints_postponed += 1;
        Ok(true)
    }

    /// Hands every candidate still in use, and every inline block not yet given, to the
    /// syncer.
    fn hand_over_all(&mut self) -> Result<()> {
        let mut all = std::mem::take(&mut self.upkeep.candidates);
        for (id, records) in self.store.inline_blocks() {
            let given = self.writer.as_ref().is_some_and(|w| w.syncer.wrote(id));
            if !given && !all.iter().any(|c| c.id == id) {
                all.push(Candidate {
                    id,
                    born: 0,
                    records,
                });
            }
        }
        self.hand_over(all)
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
            // A marker this writer created (none of an open's: the syncer removes that one
            // before any job queued after it) goes first, durably.
            if self.writer.as_ref().is_some_and(|w| w.clean_marker) {
                self.leave_clean()?;
            }
            // Known before the write: a dead one is unlinked at a checkpoint too.
            self.upkeep.wrote(c.id, c.records.len());
            let job = Job::Write {
                id: c.id,
                records: c.records,
                cache_id,
            };
            if let Some(writer) = self.writer.as_mut() {
                writer.syncer.submit(job, false)?;
            }
        }
        Ok(())
    }
}
