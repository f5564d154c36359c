//! How a cache is opened and how commits behave.

use std::sync::Arc;
use std::time::Duration;

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

/// Options for [`crate::Cache::open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Open as a reader: no lock, no writes, the committed state of the moment.
    pub read_only: bool,
    /// Create the directory and an empty cache when missing (writers only). Default: true.
    pub create: bool,
    /// How long a writer waits for another writer's lock; `None` fails at once.
    pub lock_wait: Option<Duration>,
    /// Durability of [`crate::Transaction::commit`].
    pub durability: Durability,
    /// Journal size in bytes past which a commit checkpoints the index. Default: 1 MiB.
    pub journal_limit: u64,
    /// Whether checkpoints also compact when the layout is fragmented. Default: true.
    pub auto_compact: bool,
    /// Whether dropping a writer checkpoints (so the next open replays nothing). Default:
    /// true. Off leaves the journal as it is, as a crash would.
    pub checkpoint_on_drop: bool,
    /// Whether that checkpoint on drop also compacts a fragmented layout (with
    /// `auto_compact`), as [`crate::Cache::close`] does. Default: false, because a
    /// compaction rewrites blocks and can take a second on a large cache, which a drop at
    /// the end of a scope should not do unasked.
    pub compact_on_drop: bool,
    /// The file system to use; `None` is the real one ([`crate::tools::StdVfs`]). Tests plug in
    /// simulated ones to crash the engine at every file operation.
    pub vfs: Option<Arc<dyn Vfs>>,
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
        }
    }
}

impl OpenOptions {
    /// Sets [`OpenOptions::compact_on_drop`]: whether dropping a writer may compact a
    /// fragmented layout (blocking for as long as rewriting its blocks takes).
    #[must_use]
    pub fn compact_on_drop(mut self, yes: bool) -> Self {
        self.compact_on_drop = yes;
        self
    }
}
