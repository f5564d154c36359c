//! The engine's file protocol, for the tools beside it (`uidcache-fsck`): the writer lock,
//! the clean marker, the durable replace of a block file, the index and the journal, and
//! the name of temporary files. A repair that calls these writes exactly as a checkpoint
//! does, through the same [`Vfs`], so a simulated file system can crash it at every step.
//! Also the names of a cache's files, fresh identities and salts, frame-by-frame replay,
//! the layout's size constants and the file-system seam. Not part of the embedder's API: it
//! follows the format and the tools, not semantic versioning, and nothing here checks that
//! the caller holds the lock.

use std::path::Path;
use std::sync::Arc;

use uidcache_format::{IndexImage, Record};

use crate::dirfs::Fs;
use crate::error::Result;
use crate::journal::JournalWriter;

pub use crate::blocks::MAX_BLOCK_RECORDS;
pub use crate::compact::MIN_SLICE_RECORDS;
pub use crate::dirfs::{
    block_id_of, block_path, BLOCKS_DIR, CLEAN_FILE, INDEX_FILE, JOURNAL_FILE, LOCK_FILE,
    TMP_SUFFIX,
};
pub use crate::identity::fresh_cache_id;
pub use crate::inspect::Replay;
pub use crate::journal::fresh_salt as fresh_journal_salt;
pub use crate::txn::INLINE_RECORDS;
pub use crate::vfs::{BlockBytes, LockGuard, NotARegularFile, PathKind, StdVfs, Vfs, VfsFile};
pub use crate::walked::records_walked;

/// Takes the writer lock of the cache in `dir` without waiting, as a writer's open does:
/// [`crate::Error::Locked`] while another holder has it. Held until the guard is dropped.
pub fn lock(vfs: &dyn Vfs, dir: &Path) -> Result<LockGuard> {
    crate::lock::lock_writer(vfs, &dir.join(LOCK_FILE), None)
}

/// Removes the clean marker of `dir`, durably, before the first file a repair writes: the
/// marker promises that no file is left over, which a crash in the middle would break.
pub fn leave_clean(vfs: &Arc<dyn Vfs>, dir: &Path) -> Result<()> {
    Fs::new(Arc::clone(vfs)).leave_clean(dir)
}

/// Publishes block `id` of the cache `cache_id` in `dir` durably (temporary file, fsync,
/// rename). Call [`sync_dir`] on the blocks directory before anything refers to it.
pub fn write_block(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    id: u64,
    records: &[Record],
    cache_id: u64,
) -> Result<()> {
    let fs = Fs::new(Arc::clone(vfs));
    crate::blocks::publish_block(&fs, dir, id, records, cache_id, true)
}

/// Publishes `image` as the index of `dir`, then an empty journal of its generation, in the
/// order and with the fsyncs of a checkpoint (FORMAT.md "Checkpoint").
pub fn write_checkpoint(vfs: &Arc<dyn Vfs>, dir: &Path, image: &IndexImage) -> Result<()> {
    JournalWriter::after_index(&Fs::new(Arc::clone(vfs)), dir, image).map(drop)
}

/// `fsync` of a directory, so that the creates, renames and unlinks in it are durable.
pub fn sync_dir(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    vfs.sync_dir(dir)
        .map_err(crate::error::Error::io("fsync directory", dir))
}
