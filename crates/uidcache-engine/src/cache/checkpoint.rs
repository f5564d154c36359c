//! Checkpoints (FORMAT.md "Checkpoint"), and the clean marker: a checkpoint leaves it, and
//! the first block or temporary file written after it removes it first.

use std::collections::HashSet;
use std::path::Path;

use uidcache_format::Record;

use super::{Cache, TrustedMarker};
use crate::dirfs::{Fs, BLOCKS_DIR, CLEAN_FILE};
use crate::error::{Error, Result};
use crate::image::to_image;
use crate::journal::JournalWriter;

impl Cache {
    /// Writes the whole state as a new index and starts an empty journal.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.writable()?;
        self.write_checkpoint().map_err(|e| self.poison(e))
    }

    /// The checkpoint protocol of FORMAT.md "Checkpoint", steps 0–6: blocks the index names
    /// are durable (the syncer's), new index (temp, fsync, rename, fsync dir), then a new
    /// journal of the new generation (temp, fsync, rename; the syncer fsyncs the directory),
    /// then dead block files go. Three fsyncs on the calling thread.
    pub(crate) fn write_checkpoint(&mut self) -> Result<()> {
        self.publish_checkpoint()?;
        self.publish_journal_later()
    }

    /// Steps 0–4 and 6 of the checkpoint; step 5 is the caller's.
    fn publish_checkpoint(&mut self) -> Result<()> {
        // A checkpoint writes temporary files (index, journal).
        self.leave_clean()?;
        self.blocks_durable_for_checkpoint()?;
        self.upkeep.postponed = 0;
        self.upkeep.postponed_until = None;
        // From here on the index may name the steps' blocks: a drop after a failure must
        // not unlink them as unpublished.
        self.upkeep.compacted_unsynced.clear();
        self.upkeep.unsynced_pruned = 0;
        self.upkeep.step_bytes_in_memory = 0;
        self.collect_flags()?;
        let generation = self.generation + 1;
        let image = to_image(&self.state, generation);
        let journal = JournalWriter::after_index_unpublished(&self.fs, &self.dir, &image)?;
        if let Some(writer) = self.writer.as_mut() {
            writer.journal = journal;
        }
        self.generation = generation;
        self.stats.checkpoints += 1;
        self.upkeep.touched = true;
        self.upkeep.wrote_since_checkpoint = false;
        self.store.clear_inline();
        self.remove_dead_blocks()
    }

    /// Step 5 of the checkpoint, off the calling thread: the directory fsync that makes the
    /// new journal's rename durable. Until it is done a crash can bring back the old journal,
    /// one generation behind the index (stale, ignored: FORMAT.md 8.3), so the only thing
    /// that must wait for it is the next durable frame, which waits for the barrier.
    fn publish_journal_later(&mut self) -> Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer
                .syncer
                .submit(crate::syncer::Job::SyncDir, true)
                .map(drop),
            None => Ok(()),
        }
    }

    /// The checkpoint of a close or drop: the protocol's steps 0–9, so that the next open
    /// finds `clean` and lists no directory. Step 5's directory fsync is step 9's: until it
    /// is done a crash may bring back the old journal, stale, beside which `clean` is not
    /// trusted (8.5), so one fsync makes both the journal's rename and `clean` durable.
    pub(crate) fn closing_checkpoint(&mut self) -> Result<()> {
        self.writable()?;
        self.publish_checkpoint()
            .and_then(|()| self.finish_close())
            .map_err(|e| self.poison(e))
    }

    /// Steps 7–9 after a checkpoint with no frame since: the unlinks durable, then `clean`
    /// (and, with its directory fsync, the journal's rename). Nothing unnamed is left: say
    /// so, for the next open, once the removals themselves are durable (an undone unlink
    /// would bring a file back under the marker).
    pub(crate) fn finish_close(&mut self) -> Result<()> {
        if let Some(writer) = self.writer.as_mut() {
            writer.syncer.wait_all()?;
        }
        self.fs.sync_dir(&self.dir.join(BLOCKS_DIR))?;
        self.put_clean()
    }

    /// A writer dropped with nothing written since its open trusted `clean` (and its syncer
    /// removed it): the directory is as that open found it, so the marker goes back.
    pub(crate) fn restore_clean(&mut self) -> Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        // A marker never removed needs nothing: the directory is as the open found it.
        if !writer.clean_at_open
            || writer.clean_marker
            || writer.trusted_marker == TrustedMarker::Standing
        {
            return Ok(());
        }
        writer.syncer.wait_all()?;
        writer.trusted_marker = TrustedMarker::Gone;
        self.put_clean()
    }

    fn put_clean(&mut self) -> Result<()> {
        let marker = self.dir.join(CLEAN_FILE);
        self.fs
            .vfs
            .write_file(&marker, b"")
            .map_err(Error::io("create", &marker))?;
        self.fs.sync_dir(&self.dir)?;
        if let Some(writer) = self.writer.as_mut() {
            writer.clean_marker = true;
        }
        Ok(())
    }

    /// Frees the flag sets (and drops the atoms) that no live record and no overlay entry
    /// uses (FORMAT.md 4.7): a keyword that no message carries any more stops costing every
    /// checkpoint, open and commit. The scan reads every live record (16 bytes each), so it
    /// runs only when the tables are past `FLAG_GC_MIN_BYTES` and either at least an eighth
    /// of the records' bytes (the checkpoint writes the tables anyway, so the scan costs at
    /// most eight times that) or twice their size after the last collection.
    fn collect_flags(&mut self) -> Result<()> {
        let bytes = self.state.flags.bytes();
        let records = self.state.record_count() * uidcache_format::RECORD_SIZE as u64;
        let worth = bytes.saturating_mul(8) >= records
            || bytes >= self.flag_bytes_after_gc.saturating_mul(2);
        if bytes < crate::flags::FLAG_GC_MIN_BYTES || !worth {
            return Ok(());
        }
        let mut used = HashSet::new();
        for meta in self.state.overlay.values() {
            used.insert(meta.flags);
        }
        // A record whose overlay entry has flags is never read for its own flags again:
        // writers merge (an overlay entry's flags never go back to FLAGS_UNKNOWN, which
        // `State::apply` enforces), and no op re-learns an existing record.
        let overridden = |uid: u32| matches!(self.state.overlay.get(&uid), Some(m) if m.flags != uidcache_format::FLAGS_UNKNOWN);
        let src = &self.store as &dyn crate::blocks::RecordSource;
        for s in self.state.placed.iter().chain(&self.state.unplaced) {
            for r in s.view(src)?.records() {
                if !overridden(r.uid.get()) {
                    used.insert(r.flags.get());
                }
            }
        }
        self.state.flags = self.state.flags.collected(&used);
        self.flag_bytes_after_gc = self.state.flags.bytes();
        Ok(())
    }

    /// Unlinks the block files that this writer knows of (named at its open, or written
    /// since) and that the committed state does not reference: no listing of `blocks/`, so
    /// the cost is the dead blocks', not the mailbox's. Runs only after a checkpoint made
    /// that state durable, and only in the writer. A file already gone is no error (a
    /// dropped transaction unlinks its own, an inline block never had one).
    fn remove_dead_blocks(&mut self) -> Result<()> {
        let live = self.state.live_blocks();
        let dead: Vec<u64> = self
            .upkeep
            .known_blocks
            .iter()
            .filter(|id| !live.contains(id))
            .copied()
            .collect();
        for id in dead {
            self.store.evict(id);
            let path = crate::dirfs::block_path(&self.dir, id);
            match self.fs.vfs.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &path)(e)),
            }
            self.upkeep.known_blocks.remove(&id);
            self.upkeep.block_len.remove(&id);
        }
        // A step's block that died before the syncer wrote it never became a known file.
        let known = &self.upkeep.known_blocks;
        self.upkeep
            .block_len
            .retain(|id, _| known.contains(id) || live.contains(id));
        Ok(())
    }

    /// Removes the clean marker, durably, before this writer writes a block or temporary
    /// file: a crash after that write must leave a directory that the next open lists. The
    /// marker an open trusted is removed by the syncer; this waits for that.
    pub(crate) fn leave_clean(&mut self) -> Result<()> {
        self.begin_leaving_clean()?;
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        if let TrustedMarker::Removing(ticket) = writer.trusted_marker {
            writer.trusted_marker = TrustedMarker::Gone;
            writer.syncer.wait_for(ticket)?;
        }
        if !writer.clean_marker {
            return Ok(());
        }
        self.fs.leave_clean(&self.dir)?;
        writer.clean_marker = false;
        Ok(())
    }

    /// Hands the removal of the `clean` marker this writer's open trusted to the syncer,
    /// once: at the first transaction, so that the files the transaction may write find it
    /// done (or at the first file, which then waits for it: [`Cache::leave_clean`]).
    pub(crate) fn begin_leaving_clean(&mut self) -> Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        if writer.trusted_marker == TrustedMarker::Standing {
            writer.trusted_marker = TrustedMarker::Gone;
            let ticket = writer
                .syncer
                .submit(crate::syncer::Job::LeaveClean, false)?;
            writer.trusted_marker = TrustedMarker::Removing(ticket);
        }
        Ok(())
    }

    /// Every block file goes through here (see [`Cache::leave_clean`]).
    pub(crate) fn write_block_file(
        &mut self,
        id: u64,
        records: &[Record],
        durable: bool,
    ) -> Result<()> {
        self.leave_clean()?;
        // Known before the write: a failed write's leftover is unlinked at a checkpoint too.
        self.upkeep.wrote(id, records.len());
        // A failed write can leave a `.tmp` that no checkpoint removes (7.2 step 6): no
        // checkpoint, and so no `clean`, may follow it.
        self.store
            .write_block(&self.fs, id, records, durable)
            .map_err(|e| self.poison(e))
    }
}

/// Whether the clean marker of `dir` stands for this writer's open, given the journal the
/// index continues with (`(salt, next frame seq, valid end, file length)`).
///
/// The clean marker stands only for a journal that continues the index with no frame and
/// no torn tail: then no crash can have left a file behind, and the listing of `blocks/`
/// (most of a reopen's time) is skipped. Otherwise the marker goes first, so that nothing
/// written from here on is trusted.
pub(super) fn marker_at_open(
    dir: &Path,
    fs: &Fs,
    journal: Option<(u32, u64, u64, u64)>,
) -> Result<bool> {
    let has_marker = fs.vfs.exists(&dir.join(CLEAN_FILE));
    let clean = has_marker && journal.is_some_and(|(_, next, end, len)| next == 1 && end == len);
    if has_marker && !clean {
        fs.leave_clean(dir)?;
    }
    Ok(clean)
}
