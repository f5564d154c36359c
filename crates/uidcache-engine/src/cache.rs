//! The cache handle: its fields and the small methods that keep their invariants, reads,
//! durability and closing. Opening is in `open.rs`, reading the files back in
//! `recovery.rs`, checkpoints and the clean marker in `checkpoint.rs`, compaction in
//! `crate::compact`.

mod background;
pub(crate) use background::Candidate;
mod checkpoint;
mod closing;
pub use closing::{background_closes, wait_for_close, wait_for_closes, MAX_BACKGROUND_CLOSES};
mod open;
mod recovery;

use std::path::{Path, PathBuf};

use crate::blocks::{BlockStore, WithPending};
use crate::dirfs::Fs;
use crate::error::{Error, ErrorKind, Result};
use crate::journal::JournalWriter;
use crate::options::OpenOptions;
use crate::state::State;
use crate::view::View;

/// The writer's exclusive resources.
pub(crate) struct Writer {
    /// First, so that dropping a writer finishes its background jobs before the lock goes.
    pub(crate) syncer: crate::syncer::Syncer,
    _lock: crate::vfs::LockGuard,
    pub(crate) journal: JournalWriter,
    /// `CLEAN_FILE` exists (this writer created it).
    clean_marker: bool,
    /// Where the `clean` marker this writer's open trusted stands (FORMAT.md 8.5).
    trusted_marker: TrustedMarker,
    /// The open trusted a `clean` marker (so a drop that changed nothing may put it back).
    clean_at_open: bool,
}

/// The `clean` marker a writer's open trusted, from the open to its removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrustedMarker {
    /// It stands, and no removal was asked for: the writer has begun no transaction and
    /// written no file.
    Standing,
    /// The syncer's job with this ticket removes it; no block or temporary file has
    /// waited for that yet.
    Removing(u64),
    /// Removed (or never trusted): nothing to wait for.
    Gone,
}

/// Counters of what the handle did, for monitoring and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// fsync calls (files and directories) made by this handle on the calling thread: a
    /// commit's, a checkpoint's, a close's.
    pub fsyncs: u64,
    /// fsync calls made by the writer's background syncer (FORMAT.md 7.4), or inline on its
    /// behalf with `OpenOptions::background_sync(false)`.
    pub background_fsyncs: u64,
    /// Commits that wrote a journal frame.
    pub commits: u64,
    /// Index checkpoints.
    pub checkpoints: u64,
    /// Non-durable commits whose due checkpoint was left to a later commit because the
    /// background syncer had not yet made its blocks durable (FORMAT.md 7.4).
    pub checkpoints_postponed: u64,
    /// Compactions, full ones and steps.
    pub compactions: u64,
    /// Records copied by compactions (full ones and steps).
    pub compacted_records: u64,
}

/// Figures about the on-disk layout, for `uidcache stat` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayoutInfo {
    /// Placed index entries.
    pub placed_entries: usize,
    /// Unplaced index entries.
    pub unplaced_entries: usize,
    /// Distinct block files referenced.
    pub blocks: usize,
    /// Placed records.
    pub placed_records: u64,
    /// Unplaced records.
    pub unplaced_records: u64,
    /// Overlay (not yet folded) flag changes.
    pub overlay: usize,
    /// Journal frames since the last checkpoint (writers only).
    pub journal_frames: u64,
    /// Journal bytes (writers only).
    pub journal_bytes: u64,
    /// Index generation.
    pub generation: u64,
}

/// One mailbox's state on disk. See the crate docs for an example.
pub struct Cache {
    pub(crate) dir: PathBuf,
    pub(crate) state: State,
    pub(crate) store: BlockStore,
    pub(crate) writer: Option<Writer>,
    generation: u64,
    pub(crate) options: OpenOptions,
    pub(crate) fs: Fs,
    pub(crate) stats: Stats,
    poisoned: bool,
    /// Size of the flag tables after this handle last collected them (0: never), so that a
    /// collection runs again only once they have doubled (FORMAT.md 4.7).
    flag_bytes_after_gc: u64,
    /// What compaction steps and checkpoints keep track of (writers).
    pub(crate) upkeep: crate::compact::Upkeep,
    /// What transactions changed since `track_changes` (`crate::tracker`).
    pub(crate) tracker: Option<crate::tracker::Tracker>,
}

impl Cache {
    /// Checkpoints (so that the next open replays nothing) and closes the cache, reporting
    /// errors that a plain drop would have to ignore. The checkpoint writes the index only
    /// (O(slices), no block is rewritten): commits have paid for compaction as they went.
    /// With `OpenOptions::compact_on_drop` (and `auto_compact`) a fragmented layout is
    /// fully compacted instead, as [`Cache::compact`] does, for as long as that takes.
    /// Always on the calling thread, whatever the index's size (a drop may leave a large
    /// one to a background thread: `OpenOptions::close_in_background_above`).
    pub fn close(mut self) -> Result<()> {
        let compact = self.options.auto_compact && self.options.compact_on_drop;
        let result = self.checkpoint_if_journal(compact);
        // The drop that follows must not try again.
        self.options.checkpoint_on_drop = false;
        result
    }

    fn checkpoint_if_journal(&mut self, compact: bool) -> Result<()> {
        let frames = self.writer.as_ref().map_or(0, |w| w.journal.frames());
        // Unpublished compaction steps are worth a checkpoint too (else their work is lost).
        let steps = !self.upkeep.compacted_unsynced.is_empty();
        if self.poisoned {
            return Ok(());
        }
        if frames == 0 && !steps {
            // Nothing to publish, but only a closing checkpoint leaves `clean`. Files
            // written since the last checkpoint (a dropped transaction's) want a new one to
            // unlink them; after a checkpoint, its closing steps are enough; untouched since
            // the open, the marker it trusted goes back.
            return if self.upkeep.wrote_since_checkpoint {
                self.closing_checkpoint()
            } else if self.upkeep.touched {
                self.finish_close().map_err(|e| self.poison(e))
            } else {
                self.restore_clean()
            };
        }
        if compact && self.is_fragmented() {
            // Its checkpoint published everything; what is left is the closing part.
            self.compact()?;
            return self.finish_close();
        }
        self.closing_checkpoint()
    }
}

impl Drop for Cache {
    /// A writer checkpoints when it goes away (unless `OpenOptions::checkpoint_on_drop` is
    /// off), so that opening the cache again reads the index instead of replaying the
    /// journal; it compacts only with `OpenOptions::compact_on_drop`. A large index is
    /// written by a background thread after the drop returns
    /// (`OpenOptions::close_in_background_above`, [`crate::wait_for_close`]). Errors are
    /// ignored here, as the journal still holds every commit; [`Cache::close`] reports them.
    fn drop(&mut self) {
        if self.options.checkpoint_on_drop && !std::thread::panicking() {
            if self.closes_in_background() {
                match closing::close_in_background(self.take_for_close()) {
                    Ok(()) => return,
                    Err(cache) => *self = *cache,
                }
            }
            let compact = self.options.auto_compact && self.options.compact_on_drop;
            let _ = self.checkpoint_if_journal(compact);
        }
        // Blocks of compaction steps that no checkpoint published: nothing durable names
        // them (a checkpoint empties this list before its index can), so they go now rather
        // than wait, as orphans, for the next writer's open (best effort).
        for id in std::mem::take(&mut self.upkeep.compacted_unsynced) {
            let _ = self
                .fs
                .vfs
                .remove_file(&crate::dirfs::block_path(&self.dir, id));
        }
        self.unmap_in_background();
    }
}

/// Mapped blocks past which a drop unmaps them on a thread of their own: each munmap costs
/// about 7 µs (a TLB shootdown on every core running one of the process's threads), and a
/// handle that looked up every message of a 10M mailbox holds 5,000 mappings: 35 ms of a
/// 38 ms drop (perf, BENCHMARKS.md). Unmapping later changes nothing on disk: block files
/// are immutable, and an unlinked one stays readable while mapped.
const UNMAP_IN_BACKGROUND_AT: usize = 256;

impl Cache {
    /// Hands the block store to a thread that drops it, when it holds many mappings; if no
    /// thread can be had, the closure and the store are dropped here instead.
    fn unmap_in_background(&mut self) {
        if self.store.mapped_count() < UNMAP_IN_BACKGROUND_AT {
            return;
        }
        let empty = BlockStore::new(&self.dir, self.fs.vfs.clone());
        let store = std::mem::replace(&mut self.store, empty);
        let _ = std::thread::Builder::new()
            .name("uidcache-unmap".into())
            .spawn(move || drop(store));
    }
}

impl Cache {
    /// Whether a drop hands its closing checkpoint to a background thread: a writer whose
    /// next index is past `OpenOptions::close_in_background_above` (FORMAT.md 7.2). Not
    /// with the syncer inline, whose one schedule crash tests rely on, nor when poisoned
    /// (nothing to write).
    fn closes_in_background(&self) -> bool {
        let Some(above) = self.options.close_in_background_above else {
            return false;
        };
        self.writer.is_some()
            && self.options.background_sync
            && !self.poisoned
            && self.index_bytes() > above
    }

    /// Moves the handle out of `self` for a background close, leaving an inert reader in
    /// its place whose own drop does nothing.
    fn take_for_close(&mut self) -> Cache {
        let vfs = self.fs.vfs.clone();
        let inert = Cache {
            dir: self.dir.clone(),
            state: State::default(),
            store: BlockStore::new(&self.dir, vfs.clone()),
            writer: None,
            generation: self.generation,
            options: OpenOptions {
                checkpoint_on_drop: false,
                ..self.options.clone()
            },
            fs: Fs::new(vfs),
            stats: self.stats,
            poisoned: self.poisoned,
            flag_bytes_after_gc: self.flag_bytes_after_gc,
            upkeep: crate::compact::Upkeep::default(),
            tracker: None,
        };
        std::mem::replace(self, inert)
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .field("writer", &self.writer.is_some())
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Read access to the committed state.
    #[inline]
    pub fn view(&self) -> View<'_> {
        View {
            state: &self.state,
            src: WithPending {
                store: &self.store,
                pending: &[],
            },
        }
    }

    /// The mailbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What this handle has done so far.
    pub fn stats(&self) -> Stats {
        Stats {
            fsyncs: self.fs.syncs(),
            background_fsyncs: self.writer.as_ref().map_or(0, |w| w.syncer.syncs()),
            ..self.stats
        }
    }

    /// Figures about the current layout.
    pub fn layout(&self) -> LayoutInfo {
        let blocks = self.state.live_blocks();
        LayoutInfo {
            placed_entries: self.state.placed.len(),
            unplaced_entries: self.state.unplaced.len(),
            blocks: blocks.len(),
            placed_records: self.state.placed.iter().map(|s| u64::from(s.len)).sum(),
            unplaced_records: self.state.unplaced.iter().map(|s| u64::from(s.len)).sum(),
            overlay: self.state.overlay.len(),
            journal_frames: self.writer.as_ref().map_or(0, |w| w.journal.frames()),
            journal_bytes: self.writer.as_ref().map_or(0, |w| w.journal.len()),
            generation: self.generation,
        }
    }

    /// Re-reads the committed state from disk: a reader calls this to see newer commits.
    ///
    /// A reader's snapshot stays readable until the writer's next checkpoint unlinks blocks
    /// it no longer needs; a read that then fails with a not-found I/O error is answered by
    /// calling this and reading again.
    pub fn refresh(&mut self) -> Result<()> {
        let loaded = recovery::read_state(&self.dir, &self.fs, &self.store, self.writer.is_some())?;
        // A writer's compaction steps since the last checkpoint wrote blocks that the files
        // do not name yet: their IDs must not be handed out again.
        let next_block_id = self.state.next_block_id;
        self.state = loaded.state;
        if self.writer.is_some() {
            self.state.next_block_id = self.state.next_block_id.max(next_block_id);
        }
        self.generation = loaded.generation;
        Ok(())
    }

    /// Marks the handle poisoned after `e`, a failure that may have left the files behind
    /// the state in memory (a commit, sync, checkpoint or compaction that stopped half-way,
    /// or a dropped transaction's state that could not be read again): every later change
    /// fails with [`ErrorKind::Poisoned`], and no checkpoint is attempted at drop.
    pub(crate) fn poison(&mut self, e: Error) -> Error {
        self.poisoned = true;
        e
    }

    pub(crate) fn writable(&self) -> Result<()> {
        if self.poisoned {
            return Err(ErrorKind::Poisoned.into());
        }
        if self.writer.is_none() {
            return Err(ErrorKind::ReadOnly.into());
        }
        Ok(())
    }

    /// Makes every commit so far durable: fsyncs what no-sync commits wrote.
    pub fn sync(&mut self) -> Result<()> {
        self.writable()?;
        self.sync_unsynced_blocks()
            .and_then(|()| match self.writer.as_mut() {
                Some(writer) => writer.journal.sync(&self.fs),
                None => Ok(()),
            })
            .map_err(|e| self.poison(e))
    }

    /// Waits until the blocks of earlier no-sync commits (and their directory), and the
    /// last checkpoint's journal rename, are durable, before a durable frame refers to them.
    pub(crate) fn sync_unsynced_blocks(&mut self) -> Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.syncer.wait_barrier(),
            None => Ok(()),
        }
    }

    /// fdatasyncs block file `id`, written earlier without; a missing file is an error
    /// unless `missing_ok`.
    pub(crate) fn sync_block_file(&self, id: u64, missing_ok: bool) -> Result<()> {
        let path = crate::dirfs::block_path(&self.dir, id);
        match self.fs.vfs.open_file(&path) {
            Ok(file) => self.fs.sync_file(file.as_ref(), &path),
            Err(e) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("open block", &path)(e)),
        }
    }

    /// Hands block `id`, written without fsync by a no-sync commit, to the syncer: the next
    /// durable commit, sync or checkpoint waits for it before anything durable refers to it.
    pub(crate) fn defer_block_sync(&mut self, id: u64) -> Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer
                .syncer
                .submit(crate::syncer::Job::Sync(id), true)
                .map(drop),
            None => Ok(()),
        }
    }
}
