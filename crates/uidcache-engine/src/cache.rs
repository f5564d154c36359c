//! The cache handle: opening a mailbox directory, recovery, reads, checkpoints.

use std::path::{Path, PathBuf};

use uidcache_format::{
    scan_journal, FormatError, FormatErrorKind, IndexImage, Op, Record, FRAME_DURABLE,
    JOURNAL_GENERATION_OFFSET, NO_IDENTITY,
};

use std::collections::HashSet;
use std::sync::Arc;

use crate::blocks::{BlockStore, WithPending};
use crate::dirfs::{block_id_of, Fs, BLOCKS_DIR, CLEAN_FILE, INDEX_FILE, JOURNAL_FILE, LOCK_FILE};
use crate::error::{Error, ErrorKind, Result};
use crate::image::{from_image, to_image};
use crate::journal::JournalWriter;
use crate::lock::lock_writer;
use crate::options::OpenOptions;
use crate::state::State;
use crate::vfs::StdVfs;
use crate::view::View;

/// The writer's exclusive resources.
pub(crate) struct Writer {
    _lock: crate::vfs::LockGuard,
    pub(crate) journal: JournalWriter,
    /// `CLEAN_FILE` exists (this writer created it or found it standing).
    clean_marker: bool,
}

/// Counters of what the handle did, for monitoring and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// fsync calls (files and directories) made through this handle.
    pub fsyncs: u64,
    /// Commits that wrote a journal frame.
    pub commits: u64,
    /// Index checkpoints.
    pub checkpoints: u64,
    /// Compactions.
    pub compactions: u64,
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
    pub(crate) generation: u64,
    pub(crate) options: OpenOptions,
    pub(crate) fs: Fs,
    pub(crate) stats: Stats,
    poisoned: bool,
    /// Blocks written by no-sync commits and not yet fsynced.
    pub(crate) unsynced_blocks: Vec<u64>,
    /// Size of the flag tables after this handle last collected them (0: never), so that a
    /// collection runs again only once they have doubled (FORMAT.md 4.7).
    pub(crate) flag_bytes_after_gc: u64,
}

impl Cache {
    /// Checkpoints (so that the next open replays nothing), compacts the layout first when it
    /// is fragmented (with `auto_compact`: closing is when a compaction costs the client
    /// least, and the next open and its lookups gain most from it), and closes the cache,
    /// reporting errors that a plain drop would have to ignore.
    pub fn close(mut self) -> Result<()> {
        let result = self.checkpoint_if_journal(self.options.auto_compact);
        // The drop that follows must not try again.
        self.options.checkpoint_on_drop = false;
        result
    }

    fn checkpoint_if_journal(&mut self, compact: bool) -> Result<()> {
        let frames = self.writer.as_ref().map_or(0, |w| w.journal.frames());
        if frames == 0 || self.poisoned {
            return Ok(());
        }
        if compact && self.is_fragmented() {
            return self.compact().map(|_| ());
        }
        self.checkpoint()
    }
}

impl Drop for Cache {
    /// A writer checkpoints when it goes away (unless `OpenOptions::checkpoint_on_drop` is
    /// off), so that opening the cache again reads the index instead of replaying the
    /// journal; it compacts only with `OpenOptions::compact_on_drop`. Errors are ignored
    /// here, as the journal still holds every commit; [`Cache::close`] reports them.
    fn drop(&mut self) {
        if self.options.checkpoint_on_drop && !std::thread::panicking() {
            let compact = self.options.auto_compact && self.options.compact_on_drop;
            let _ = self.checkpoint_if_journal(compact);
        }
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

/// What the index and journal hold, read without changing anything.
struct Loaded {
    state: State,
    generation: u64,
    /// `(salt, next frame seq, valid end, file length)` of a journal that continues the index.
    journal: Option<(u32, u64, u64, u64)>,
    /// Every block the index or a replayed frame names: what a replay of these files needs.
    named: HashSet<u64>,
}

impl Cache {
    /// Opens (creating if needed) the cache in `dir` as the writer, with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<Cache> {
        Self::open_with(dir, OpenOptions::default())
    }

    /// Opens the cache in `dir` as a reader of its committed state.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Cache> {
        Self::open_with(dir, OpenOptions::new().read_only(true).create(false))
    }

    /// Opens the cache in `dir` with `options`.
    pub fn open_with(dir: impl AsRef<Path>, options: OpenOptions) -> Result<Cache> {
        let dir = dir.as_ref().to_path_buf();
        let fs = Fs::new(options.vfs.clone().unwrap_or_else(|| Arc::new(StdVfs)));
        let lock = if options.read_only {
            None
        } else {
            // Before anything is created or removed there.
            crate::safeopen::check_writer_dir(&dir, &fs)?;
            if options.create {
                fs.vfs
                    .create_dir_all(&dir.join(BLOCKS_DIR))
                    .map_err(Error::io("create directory", &dir))?;
            }
            Some(lock_writer(
                fs.vfs.as_ref(),
                &dir.join(LOCK_FILE),
                options.lock_wait,
            )?)
        };
        if lock.is_some() {
            refuse_linked_blocks(&dir, &fs)?;
        }
        let store = BlockStore::new(&dir, Arc::clone(&fs.vfs));
        if lock.is_some() && !fs.vfs.exists(&dir.join(INDEX_FILE)) {
            initialize(&dir, &fs)?;
        }
        let loaded = if lock.is_some() {
            load(&dir, &fs, &store)?
        } else {
            load_as_reader(&dir, &fs, &store)?
        };
        let writer = match lock {
            None => None,
            Some(lock) => {
                // The clean marker stands only for a journal that continues the index with
                // no frame and no torn tail: then no crash can have left a file behind, and
                // the listing of `blocks/` (most of a reopen's time) is skipped. Otherwise
                // the marker goes first, so that nothing written from here on is trusted.
                let marker = dir.join(CLEAN_FILE);
                let has_marker = fs.vfs.exists(&marker);
                let clean = has_marker
                    && loaded
                        .journal
                        .is_some_and(|(_, next, end, len)| next == 1 && end == len);
                if has_marker && !clean {
                    fs.leave_clean(&dir)?;
                }
                let journal_path = dir.join(JOURNAL_FILE);
                let cache_id = loaded.state.cache_id;
                let journal = match loaded.journal {
                    Some((salt, next, end, len)) => {
                        JournalWriter::resume(&fs, &journal_path, (salt, cache_id), next, end, len)?
                    }
                    None => {
                        let j =
                            JournalWriter::create(&fs, &journal_path, loaded.generation, cache_id)?;
                        fs.sync_dir(&dir)?;
                        j
                    }
                };
                // Best effort: what cannot be removed now goes at a later open or checkpoint.
                if !clean {
                    let _ = remove_unnamed(&fs, &dir, &loaded.named, &store);
                }
                Some(Writer {
                    _lock: lock,
                    journal,
                    clean_marker: clean,
                })
            }
        };
        let mut cache = Cache {
            dir,
            state: loaded.state,
            store,
            writer,
            generation: loaded.generation,
            options,
            fs,
            stats: Stats::default(),
            poisoned: false,
            unsynced_blocks: Vec::new(),
            flag_bytes_after_gc: 0,
        };
        if cache.writer.is_some() && cache.state.cache_id == NO_IDENTITY {
            // A format-v1 cache: give it an identity now, in place (FORMAT.md 1.2).
            cache.upgrade()?;
        }
        Ok(cache)
    }

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
        let loaded = if self.writer.is_some() {
            load(&self.dir, &self.fs, &self.store)?
        } else {
            load_as_reader(&self.dir, &self.fs, &self.store)?
        };
        self.state = loaded.state;
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

    /// Writes the whole state as a new index and starts an empty journal.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.writable()?;
        self.write_checkpoint().map_err(|e| self.poison(e))
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

    /// fsyncs the blocks of earlier no-sync commits (and their directory), before anything
    /// durable refers to them.
    pub(crate) fn sync_unsynced_blocks(&mut self) -> Result<()> {
        if self.unsynced_blocks.is_empty() {
            return Ok(());
        }
        for id in std::mem::take(&mut self.unsynced_blocks) {
            // One unlinked by a compaction since is missing: nothing refers to it any more.
            self.sync_block_file(id, true)?;
        }
        self.fs.sync_dir(&self.dir.join(BLOCKS_DIR))
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

    /// The checkpoint protocol of FORMAT.md "Checkpoint": new index (temp, fsync, rename,
    /// fsync dir), then a new journal of the new generation, then dead block files go.
    pub(crate) fn write_checkpoint(&mut self) -> Result<()> {
        // A checkpoint writes temporary files (index, journal) and maybe block files.
        self.leave_clean()?;
        self.sync_unsynced_blocks()?;
        // Records that live in journal frames must be in block files before the journal
        // that holds them is replaced.
        let live = self.state.live_blocks();
        let mut wrote = false;
        for (id, records) in self.store.inline_blocks() {
            if live.contains(&id) {
                self.write_block_file(id, &records, true)?;
                wrote = true;
            }
        }
        if wrote {
            self.fs.sync_dir(&self.dir.join(BLOCKS_DIR))?;
        }
        self.collect_flags()?;
        let generation = self.generation + 1;
        let image = to_image(&self.state, generation);
        let journal = JournalWriter::after_index(&self.fs, &self.dir, &image)?;
        if let Some(writer) = self.writer.as_mut() {
            writer.journal = journal;
        }
        self.generation = generation;
        self.stats.checkpoints += 1;
        self.store.clear_inline();
        self.remove_dead_blocks()?;
        // Nothing unnamed is left: say so, for the next open, once the removals themselves
        // are durable (an undone unlink would bring a file back under the marker).
        self.fs.sync_dir(&self.dir.join(BLOCKS_DIR))?;
        self.fs.sync_dir(&self.dir)?;
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

    /// Unlinks block files that the committed state does not reference. Runs only after a
    /// checkpoint made that state durable, and only in the writer.
    fn remove_dead_blocks(&mut self) -> Result<()> {
        let live = self.state.live_blocks();
        remove_unnamed(&self.fs, &self.dir, &live, &self.store)
    }

    /// Removes the clean marker, durably, before this writer writes a block or temporary
    /// file: a crash after that write must leave a directory that the next open lists.
    fn leave_clean(&mut self) -> Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        if !writer.clean_marker {
            return Ok(());
        }
        self.fs.leave_clean(&self.dir)?;
        writer.clean_marker = false;
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
        self.store.write_block(&self.fs, id, records, durable)
    }
}

/// What remains of a cache whose `index` is missing, as corruption naming the index; `None`
/// when nothing remains (a new cache, or a first open that stopped before its index).
///
/// A writer's first open publishes the index before the journal and before any block file
/// (FORMAT.md 8.1), and no later step removes it, so a journal or block file beside no index
/// means the index was lost: starting a fresh cache there would unlink those blocks and
/// replace the journal, losing what they still prove. The caller fails instead, and
/// `uidcache-fsck --repair` rebuilds what it can.
fn lost_index(dir: &Path, fs: &Fs) -> Result<Option<Error>> {
    let journal = fs.vfs.exists(&dir.join(JOURNAL_FILE));
    let blocks_dir = dir.join(BLOCKS_DIR);
    let blocks = match fs.vfs.list_dir(&blocks_dir) {
        Ok(names) => names.iter().filter(|n| block_id_of(n).is_some()).count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(Error::io("list", &blocks_dir)(e)),
    };
    if !journal && blocks == 0 {
        return Ok(None);
    }
    let files = |n: usize| {
        if n == 1 {
            "1 block file".to_string()
        } else {
            format!("{n} block files")
        }
    };
    let what = match (journal, blocks) {
        (true, 0) => "the journal remains".to_string(),
        (true, n) => format!("the journal and {} remain", files(n)),
        (false, n) => format!("{} remain", files(n)),
    };
    Ok(Some(Error::corrupt(
        dir.join(INDEX_FILE),
        FormatError::new(
            FormatErrorKind::Truncated,
            "IndexHeader",
            "file",
            0,
            "an index beside the journal and block files",
            format_args!(
                "no index file, but {what} (the index was lost; run uidcache-fsck --repair)"
            ),
        ),
    )))
}

/// A writer refuses a `blocks` that is a symbolic link: at its open it unlinks every block
/// file its state does not name, which in a directory shared with another cache (a link to
/// that cache's `blocks/`) deletes the other cache's blocks. Readers only read, and follow it.
fn refuse_linked_blocks(dir: &Path, fs: &Fs) -> Result<()> {
    let blocks = dir.join(BLOCKS_DIR);
    if !fs.vfs.is_symlink(&blocks) {
        return Ok(());
    }
    Err(Error::corrupt(
        &blocks,
        FormatError::new(
            FormatErrorKind::Invalid,
            "File",
            "type",
            0,
            "the cache's own directory of block files",
            "a symbolic link (its files may be another cache's; a writer would unlink them)",
        ),
    ))
}

/// Writes the files of an empty cache: index of generation 0, then its journal.
fn initialize(dir: &Path, fs: &Fs) -> Result<()> {
    if let Some(lost) = lost_index(dir, fs)? {
        return Err(lost);
    }
    let image = IndexImage {
        cache_id: crate::identity::fresh_cache_id(),
        next_block_id: 1,
        ..IndexImage::default()
    };
    JournalWriter::after_index(fs, dir, &image).map(drop)
}

/// How many times a reader starts over when a checkpoint replaced files under it.
const READER_ATTEMPTS: usize = 20;

/// `load` for a reader, which takes no lock: a checkpoint between its reads of the index
/// and the journal shows up as a journal newer than the index ([`JournalAhead`]), or a
/// block already unlinked. Both mean "read again"; anything else is an answer (damage
/// included: an older journal is never a race, so it is reported at once).
fn load_as_reader(dir: &Path, fs: &Fs, store: &BlockStore) -> Result<Loaded> {
    let index_path = dir.join(INDEX_FILE);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let retry = attempt < READER_ATTEMPTS;
        let loaded = match load_checked(dir, fs, store) {
            Err(e) if not_found_at(&e).is_some_and(|p| p == index_path) => no_index(dir, fs, store),
            other => other,
        };
        match loaded {
            Ok(Ok(loaded)) => return Ok(loaded),
            Ok(Err(_)) if retry => {}
            Ok(Err(ahead)) => return Err(ahead.into_error()),
            // A missing index is an answer (no cache there), a missing block a race.
            Err(e) if retry && not_found_at(&e).is_some_and(|p| p != index_path) => {}
            Err(e) => return Err(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(attempt as u64));
    }
}

/// The path of a failed file operation that found nothing there.
fn not_found_at(e: &Error) -> Option<&Path> {
    match e.kind() {
        ErrorKind::Io { source, path, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Some(path)
        }
        _ => None,
    }
}

/// A journal of a later generation than the index read before it. For a reader that is
/// a checkpoint that ran between its two reads (read again); for the writer, who holds
/// the lock, it is damage.
struct JournalAhead {
    path: PathBuf,
    index: u64,
    journal: u64,
}

impl JournalAhead {
    fn into_error(self) -> Error {
        Error::corrupt(
            &self.path,
            FormatError::new(
                FormatErrorKind::Invalid,
                "JournalHeader",
                "generation",
                JOURNAL_GENERATION_OFFSET as u64,
                format_args!("at most {} (the index's)", self.index),
                self.journal,
            ),
        )
    }
}

/// A reader's answer for a directory without an index: the empty state when a writer
/// created the directory (its `lock` exists) and nothing was committed yet; corruption when
/// a journal or block files remain; otherwise "no cache here" (a `NotFound` I/O error
/// naming the index).
fn no_index(dir: &Path, fs: &Fs, store: &BlockStore) -> Result<Result<Loaded, JournalAhead>> {
    let index_path = dir.join(INDEX_FILE);
    let lost = lost_index(dir, fs)?;
    // A writer initializing meanwhile publishes the index before the journal: if the index
    // is there now, what was listed was a new cache being created, so read it.
    if fs.vfs.exists(&index_path) {
        return load_checked(dir, fs, store);
    }
    if let Some(lost) = lost {
        return Err(lost);
    }
    if !fs.vfs.exists(&dir.join(LOCK_FILE)) {
        return Err(Error::io("read index", &index_path)(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        )));
    }
    let image = IndexImage {
        next_block_id: 1,
        ..IndexImage::default()
    };
    Ok(Ok(Loaded {
        state: from_image(image, &index_path)?,
        generation: 0,
        journal: None,
        named: HashSet::new(),
    }))
}

/// Reads the index, then replays the journal that continues it (the writer's `load`:
/// a journal ahead of the index is damage).
fn load(dir: &Path, fs: &Fs, store: &BlockStore) -> Result<Loaded> {
    load_checked(dir, fs, store)?.map_err(JournalAhead::into_error)
}

/// [`load`], with a journal ahead of the index told apart from other damage.
fn load_checked(dir: &Path, fs: &Fs, store: &BlockStore) -> Result<Result<Loaded, JournalAhead>> {
    let index_path = dir.join(INDEX_FILE);
    let bytes = fs.read(&index_path, "read index")?;
    let image = IndexImage::decode(&bytes).map_err(|e| Error::corrupt(&index_path, e))?;
    let generation = image.generation;
    let cache_id = image.cache_id;
    // Every block read from here on must carry this cache's identity (FORMAT.md 1.5).
    store.set_cache_id(cache_id);
    let mut named: HashSet<u64> = image
        .placed
        .iter()
        .chain(&image.unplaced)
        .map(|e| e.block_id.get())
        .collect();
    let mut state = from_image(image, &index_path)?;
    let journal_path = dir.join(JOURNAL_FILE);
    let bytes = match fs.vfs.read(&journal_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            missing_journal(generation, cache_id, &journal_path)?;
            return Ok(Ok(Loaded {
                state,
                generation,
                journal: None,
                named,
            }));
        }
        Err(e) => return Err(Error::io("read journal", &journal_path)(e)),
    };
    let scan = match scan_journal(&bytes, cache_id) {
        Ok(scan) => scan,
        // The one v1 journal a v2 index may sit beside: the one an upgrade's checkpoint
        // was about to replace (FORMAT.md 1.2). Its generation says so.
        Err(e) if cache_id != NO_IDENTITY => match scan_journal(&bytes, NO_IDENTITY) {
            Ok(v1) if v1.generation.checked_add(1) == Some(generation) => {
                return Ok(Ok(Loaded {
                    state,
                    generation,
                    journal: None,
                    named,
                }));
            }
            _ => return Err(Error::corrupt(&journal_path, e)),
        },
        Err(e) => return Err(Error::corrupt(&journal_path, e)),
    };
    if scan.generation < generation {
        // A checkpoint was interrupted after its index was renamed into place: the old
        // journal's frames are all in the index already. That checkpoint wrote the index
        // of the generation after the journal's; any older journal is not this one's
        // predecessor but a restored or copied file, and commits may be missing.
        if scan.generation + 1 != generation {
            return Err(Error::corrupt(
                &journal_path,
                FormatError::new(
                    FormatErrorKind::Invalid,
                    "JournalHeader",
                    "generation",
                    JOURNAL_GENERATION_OFFSET as u64,
                    format_args!(
                        "{generation} or {} (the index's, or the one an interrupted checkpoint left)",
                        generation - 1
                    ),
                    format_args!("{} (an older journal: commits may be lost)", scan.generation),
                ),
            ));
        }
        return Ok(Ok(Loaded {
            state,
            generation,
            journal: None,
            named,
        }));
    }
    if scan.generation > generation {
        return Ok(Err(JournalAhead {
            path: journal_path,
            index: generation,
            journal: scan.generation,
        }));
    }
    // Frames after the last durable one were never fsynced: after power loss their blocks
    // may be missing or stale even though the frame itself survived. Such a frame ends the
    // journal like a torn write (its commit was allowed to be lost), instead of failing.
    let durable_upto = scan
        .frames
        .iter()
        .rposition(|f| f.flags & FRAME_DURABLE != 0)
        .map_or(0, |i| i + 1);
    let mut end = scan.end;
    let mut next = scan.frames.last().map_or(1, |f| f.frame_seq + 1);
    for (i, frame) in scan.frames.iter().enumerate() {
        let ops = Op::decode_all(frame.payload, frame.payload_offset)
            .map_err(|e| Error::corrupt(&journal_path, e))?;
        if i >= durable_upto && !blocks_intact(&ops, store)? {
            end = frame.offset;
            next = frame.frame_seq;
            break;
        }
        for op in &ops {
            if let Op::Learn { block_id: id, .. } | Op::InlineBlock { id, .. } = op {
                named.insert(*id);
            }
            state.replay(op, store).map_err(|e| match e.into_kind() {
                ErrorKind::Invalid(why) => Error::corrupt(
                    &journal_path,
                    FormatError::new(
                        FormatErrorKind::Invalid,
                        "JournalFrame",
                        "ops",
                        frame.offset,
                        "ops that fit the state",
                        why,
                    ),
                ),
                other => other.into(),
            })?;
        }
    }
    Ok(Ok(Loaded {
        state,
        generation,
        journal: Some((scan.salt, next, end, bytes.len() as u64)),
        named,
    }))
}

/// The answer for an index whose journal does not exist (FORMAT.md 8.3).
///
/// Every checkpoint renames its new journal over the old one, so from the first checkpoint
/// on a journal always exists: without one, the commits made since that checkpoint (if
/// any) are gone, which is damage, not something a writer may paper over by starting an
/// empty journal. Only an index of generation 0 may lack its journal: the first open
/// publishes the index before the journal. A format-v1 cache keeps the v1 rule (a writer
/// creates the journal).
fn missing_journal(generation: u64, cache_id: u64, journal_path: &Path) -> Result<()> {
    if generation == 0 || cache_id == NO_IDENTITY {
        return Ok(());
    }
    Err(Error::corrupt(
        journal_path,
        FormatError::new(
            FormatErrorKind::Truncated,
            "JournalHeader",
            "file",
            0,
            format_args!("the journal of generation {generation}"),
            "no journal file (commits since the last checkpoint may be lost; run uidcache-fsck --repair)",
        ),
    ))
}

/// Whether every block a frame's `Learn` ops name exists, is sound and holds the named UIDs
/// (the frame's own `InlineBlock` ops count as sound blocks).
///
/// A block that is missing or whose bytes are wrong is what a power loss leaves of an
/// unsynced commit: `false`, and the frame ends the journal. A read that fails (EIO,
/// EACCES, ...) proves nothing about the block: that is an error, never a torn tail, or a
/// writer's open would cut the journal there and unlink the intact block as unnamed.
fn blocks_intact(ops: &[Op], store: &BlockStore) -> Result<bool> {
    let inline: Vec<(u64, &[Record])> = ops
        .iter()
        .filter_map(|op| match op {
            Op::InlineBlock { id, records } => Some((*id, records.as_slice())),
            _ => None,
        })
        .collect();
    for op in ops {
        let Op::Learn {
            block_id,
            first_record,
            len,
            first_uid,
            last_uid,
            ..
        } = op
        else {
            continue;
        };
        let from_file;
        let records: &[Record] = match inline.iter().find(|(id, _)| id == block_id) {
            Some((_, records)) => records,
            None => match crate::blocks::RecordSource::records(store, *block_id) {
                Ok(r) => {
                    from_file = r;
                    &from_file
                }
                Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => return Ok(false),
                Err(e) if e.is_corruption() => return Ok(false),
                Err(e) => return Err(e),
            },
        };
        let first = records.get(*first_record as usize).map(|r| r.uid.get());
        let last = (*first_record as usize)
            .checked_add(*len as usize)
            .and_then(|end| end.checked_sub(1));
        let last = last.and_then(|k| records.get(k)).map(|r| r.uid.get());
        if first != Some(*first_uid) || last != Some(*last_uid) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Unlinks the engine's own temporary files and every block file whose ID is not in
/// `named`, in the directory and in `blocks/`.
///
/// At a checkpoint `named` is the committed state's blocks. At a writer's open it is every
/// block the index or a replayed frame names, so what goes is what a crash can leave: blocks
/// of commits that never happened and dead blocks an interrupted checkpoint did not unlink.
/// No replay of the files on disk can need them; a reader holding an older snapshot
/// refreshes, as after any checkpoint.
fn remove_unnamed(fs: &Fs, dir: &Path, named: &HashSet<u64>, store: &BlockStore) -> Result<()> {
    for (d, holds_blocks) in [(dir.to_path_buf(), false), (dir.join(BLOCKS_DIR), true)] {
        let names = fs.vfs.list_dir(&d).map_err(Error::io("list", &d))?;
        for name in names {
            // Every writer's open runs this over every block file (listing them is most of a
            // reopen's time): test the directory once, not per name.
            let id = if holds_blocks {
                block_id_of(&name)
            } else {
                None
            };
            if crate::safeopen::is_own_tmp(&name, holds_blocks)
                || id.is_some_and(|id| !named.contains(&id))
            {
                if let Some(id) = id {
                    store.evict(id);
                }
                let path = d.join(&name);
                fs.vfs
                    .remove_file(&path)
                    .map_err(Error::io("remove", &path))?;
            }
        }
    }
    Ok(())
}
