//! Opening a cache: the writer's checks, lock and first files, the state read back, and
//! the writer's journal and clean marker.

use std::path::Path;
use std::sync::Arc;

use uidcache_format::{FormatError, FormatErrorKind, IndexImage, NO_IDENTITY};

use super::checkpoint::marker_at_open;
use super::recovery::{lost_index, read_state, remove_unnamed};
use super::{closing, Cache, Stats, TrustedMarker, Writer};
use crate::blocks::BlockStore;
use crate::dirfs::{Fs, BLOCKS_DIR, INDEX_FILE, JOURNAL_FILE, LOCK_FILE};
use crate::error::{Error, Result};
use crate::journal::JournalWriter;
use crate::lock::lock_writer;
use crate::options::OpenOptions;
use crate::vfs::StdVfs;

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
        // A drop in this process may still be closing it: open what that close leaves.
        closing::wait_for_close(&dir);
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
        let mut loaded = read_state(&dir, &fs, &store, lock.is_some())?;
        let loaded_named = std::mem::take(&mut loaded.named);
        let writer = match lock {
            None => None,
            Some(lock) => {
                let clean = marker_at_open(&dir, &fs, loaded.journal)?;
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
                    let _ = remove_unnamed(&fs, &dir, &loaded_named, &store);
                }
                // The marker this open trusted stands until the writer's first transaction
                // (FORMAT.md 8.5): a handle that only reads leaves the directory as it found
                // it, with no fsync at open or drop.
                let syncer =
                    crate::syncer::Syncer::new(Arc::clone(&fs.vfs), &dir, options.background_sync);
                Some(Writer {
                    syncer,
                    _lock: lock,
                    journal,
                    clean_marker: false,
                    trusted_marker: if clean {
                        TrustedMarker::Standing
                    } else {
                        TrustedMarker::Gone
                    },
                    clean_at_open: clean,
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
            flag_bytes_after_gc: 0,
            upkeep: crate::compact::Upkeep::default(),
            tracker: None,
        };
        if cache.writer.is_some() {
            cache.upkeep.known_blocks = loaded_named;
        }
        if cache.writer.is_some() && cache.state.cache_id == NO_IDENTITY {
            // A format-v1 cache: give it an identity now, in place (FORMAT.md 1.2).
            cache.upgrade()?;
        }
        Ok(cache)
    }
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
