//! How a cache is opened and how commits behave.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::Cache;
use crate::error::Result;
use crate::vfs::Vfs;

/// Whether a commit waits for stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync before the commit returns: survives power loss. The default.
    #[default]
    Durable,
    /// No fsync: survives a crash of the process, not of the machine. After power loss the
    /// cache opens at some earlier commit (never a mix of commits).
    NoSync,
}

/// Default of [`OpenOptions::close_in_background_above`]: closing checkpoints whose index is
/// larger run on a background thread after the drop returns.
pub const CLOSE_IN_BACKGROUND_ABOVE: u64 = 1 << 20;

/// Options for opening a cache, as a builder: start from [`OpenOptions::new`] (the
/// defaults: a durable writer that creates the cache), change what differs, then
/// [`OpenOptions::open`] (or pass it to [`Cache::open_with`]).
///
/// ```
/// use uidcache_engine::{Durability, OpenOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let cache = OpenOptions::new()
///     .durability(Durability::NoSync)
///     .journal_limit(64 << 10)
///     .open(dir.path())
///     .unwrap();
/// assert!(cache.view().exists().is_none());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenOptions {
    pub(crate) read_only: bool,
    pub(crate) create: bool,
    pub(crate) lock_wait: Option<Duration>,
    pub(crate) durability: Durability,
    pub(crate) journal_limit: u64,
    pub(crate) auto_compact: bool,
    pub(crate) checkpoint_on_drop: bool,
    pub(crate) compact_on_drop: bool,
    pub(crate) background_sync: bool,
    pub(crate) close_in_background_above: Option<u64>,
    pub(crate) vfs: Option<Arc<dyn Vfs>>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read_only: false,
            create: true,
            lock_wait: None,
            durability: Durability::Durable,
            journal_limit: 1 << 20,
            auto_compact: true,
            vfs: None,
            checkpoint_on_drop: true,
            compact_on_drop: false,
            background_sync: true,
            close_in_background_above: Some(CLOSE_IN_BACKGROUND_ABOVE),
        }
    }
}

impl OpenOptions {
    /// The defaults: a writer, creating the cache when missing, durable commits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Open as a reader: no lock, no writes, the committed state of the moment (and
    /// [`Cache::refresh`] for newer ones). Also turns off `create`. Default: false.
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        if read_only {
            self.create = false;
        }
        self
    }

    /// Create the directory and an empty cache when missing (writers only). Default: true.
    #[must_use]
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// How long a writer waits for another writer's lock; `None` fails at once
    /// ([`crate::Error::is_locked`]). Default: `None`.
    #[must_use]
    pub fn lock_wait(mut self, wait: Option<Duration>) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Durability of [`crate::Transaction::commit`]. Default: [`Durability::Durable`].
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Journal size in bytes past which a commit checkpoints the index (or past the index's
    /// own size, when that is larger, so that a checkpoint costs O(1) per journal byte).
    /// Default: 1 MiB.
    #[must_use]
    pub fn journal_limit(mut self, bytes: u64) -> Self {
        self.journal_limit = bytes;
        self
    }

    /// Whether commits pay for compaction as they go: each earns credit in proportion to its
    /// change and spends it on a bounded [`Cache::compact_step`] (FORMAT.md 11.5). Off, the
    /// layout is only compacted by [`Cache::compact`] or `compact_step` calls. Default: true.
    #[must_use]
    pub fn auto_compact(mut self, on: bool) -> Self {
        self.auto_compact = on;
        self
    }

    /// Whether dropping a writer checkpoints (so the next open replays nothing). Off leaves
    /// the journal as it is, as a crash would. Default: true.
    #[must_use]
    pub fn checkpoint_on_drop(mut self, on: bool) -> Self {
        self.checkpoint_on_drop = on;
        self
    }

    /// Whether dropping or [`Cache::close`]-ing a writer fully compacts a fragmented layout
    /// (with `auto_compact`), blocking for as long as rewriting its blocks takes. Default:
    /// false, because a full compaction can take seconds on a large cache, which a close
    /// should not do unasked (commits keep the layout bounded with compaction steps).
    #[must_use]
    pub fn compact_on_drop(mut self, yes: bool) -> Self {
        self.compact_on_drop = yes;
        self
    }

    /// Whether a writer's fdatasyncs of block files that a later checkpoint or durable
    /// commit needs (compaction steps' blocks, NoSync commits' blocks, inline blocks written
    /// out to files) run on a background thread, soon after each block is created, so that
    /// the checkpoint or commit usually finds them done (FORMAT.md 7.4). Off, each runs at
    /// once on the calling thread: the same order of file operations every time, which crash
    /// tests need. Default: true.
    #[must_use]
    pub fn background_sync(mut self, on: bool) -> Self {
        self.background_sync = on;
        self
    }

    /// Index size (bytes, as the closing checkpoint would write it) past which dropping a
    /// writer hands that checkpoint to a background thread and returns at once; `None`:
    /// every drop checkpoints inline. The handle's commits are all in the journal already,
    /// so the drop loses nothing by not waiting; until the thread is done the directory is
    /// *closing*: its lock stays held, and in this process an open of it, `uidcache-fsck`
    /// and [`crate::wait_for_close`] wait for it. Call [`crate::wait_for_closes`] before
    /// the process exits (exiting first loses no commit, but the next open replays the
    /// journal, and NoSync commits stay only as durable as NoSync promises), and
    /// [`crate::wait_for_close`] before removing or copying the directory yourself. [`Cache::close`] always checkpoints inline and reports errors. Needs
    /// `background_sync`. Default: [`CLOSE_IN_BACKGROUND_ABOVE`] (1 MiB, about 32,000 index
    /// entries: a 10M mailbox in full blocks closes inline in a few milliseconds; one that a
    /// day of VANISHED resyncs split into 280,000 slices writes 9 MB, FORMAT.md 7.2).
    #[must_use]
    pub fn close_in_background_above(mut self, bytes: Option<u64>) -> Self {
        self.close_in_background_above = bytes;
        self
    }

    /// The file system to use instead of the real one ([`crate::tools::StdVfs`]). Tests plug in
    /// simulated ones to crash the engine at every file operation.
    #[must_use]
    pub fn vfs(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = Some(vfs);
        self
    }

    /// Opens the cache in `dir` with these options ([`Cache::open_with`]).
    pub fn open(&self, dir: impl AsRef<Path>) -> Result<Cache> {
        Cache::open_with(dir, self.clone())
    }
}
