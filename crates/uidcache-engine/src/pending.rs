//! The records a transaction has learned and not committed yet: the newest blocks in
//! memory, older full ones already written out as block files that no frame names yet.
//!
//! Without the second kind a transaction's memory grows with every message it learns (16
//! bytes a record: 160 MB for one 10M-UID search answer, gigabytes for a hostile one). The
//! written blocks are the orphans of FORMAT.md "Leftovers after a crash" until the commit's
//! frame names them: a crash leaves them to the next writer's open, and a dropped
//! transaction unlinks them itself.

use uidcache_format::Record;

use crate::blocks::MAX_BLOCK_RECORDS;
use crate::cache::Cache;
use crate::error::Result;

/// Full pending blocks a transaction keeps in memory (512 KiB of records). Before it starts
/// another, it writes them out as block files, so that its memory does not grow with the
/// number of messages it learns.
pub const PENDING_BLOCKS_IN_MEMORY: usize = 16;

/// See the module docs.
#[derive(Default)]
pub(crate) struct Pending {
    /// Blocks in memory, in ID order; only the last may have room left.
    pub(crate) blocks: Vec<(u64, Vec<Record>)>,
    /// Blocks written out before the commit, without fsync, in ID order.
    spilled: Vec<u64>,
    /// Records in `spilled`.
    spilled_records: usize,
}

impl Pending {
    /// New records, in memory and written out.
    pub(crate) fn records(&self) -> usize {
        self.spilled_records + self.blocks.iter().map(|(_, r)| r.len()).sum::<usize>()
    }

    /// Whether every new record is still in memory (a commit may then carry them inline).
    pub(crate) fn all_in_memory(&self) -> bool {
        self.spilled.is_empty()
    }

    /// The block that new records go to, with its room: the last one, or a new one (after
    /// writing out the full ones when as many as [`PENDING_BLOCKS_IN_MEMORY`] are held).
    pub(crate) fn block_with_room(&mut self, cache: &mut Cache) -> Result<usize> {
        if let Some((_, block)) = self.blocks.last() {
            if block.len() < MAX_BLOCK_RECORDS {
                return Ok(MAX_BLOCK_RECORDS - block.len());
            }
        }
        if self.blocks.len() >= PENDING_BLOCKS_IN_MEMORY {
            self.spill(cache)?;
        }
        let id = cache.state.next_block_id;
        cache.state.next_block_id += 1;
        self.blocks
            .push((id, Vec::with_capacity(MAX_BLOCK_RECORDS)));
        Ok(MAX_BLOCK_RECORDS)
    }

    /// Writes every in-memory block out (no fsync: the commit syncs them, as it syncs the
    /// blocks it writes itself). Reads of them then go to the files, like published blocks'.
    fn spill(&mut self, cache: &mut Cache) -> Result<()> {
        for (id, records) in std::mem::take(&mut self.blocks) {
            // Listed before the write, so that a failed write's leftover is unlinked too.
            self.spilled.push(id);
            self.spilled_records += records.len();
            cache.write_block_file(id, &records, false)?;
        }
        Ok(())
    }

    /// At a commit, before the blocks directory is synced and the frame written: a durable
    /// commit fsyncs the written-out blocks; a no-sync one leaves them to the next durable
    /// commit, like its own blocks. Returns whether any block was written out.
    pub(crate) fn publish_spilled(&mut self, cache: &mut Cache, durable: bool) -> Result<bool> {
        let spilled = std::mem::take(&mut self.spilled);
        let any = !spilled.is_empty();
        for id in spilled {
            if durable {
                cache.sync_block_file(id, false)?;
            } else {
                cache.defer_block_sync(id)?;
            }
        }
        Ok(any)
    }

    /// After a dropped transaction's state was re-read: unlinks the written-out blocks (best
    /// effort: what stays is an orphan that the next checkpoint or writer's open removes) and
    /// keeps their IDs from being allocated again, so that no later commit can name a
    /// leftover of this one.
    pub(crate) fn discard(&mut self, cache: &mut Cache) {
        let Some(last) = self.spilled.last().copied() else {
            return;
        };
        for id in std::mem::take(&mut self.spilled) {
            cache.store.evict(id);
            let path = crate::dirfs::block_path(&cache.dir, id);
            let _ = cache.fs.vfs.remove_file(&path);
        }
        cache.state.next_block_id = cache.state.next_block_id.max(last + 1);
    }
}
