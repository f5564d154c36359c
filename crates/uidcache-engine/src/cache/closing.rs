//! Drops that finish their closing checkpoint on a background thread (FORMAT.md 7.2,
//! "Closing in the background"), and the waits that keep that invisible to this process.
//!
//! A closing checkpoint rewrites the whole index: at 10M messages after a day of VANISHED
//! resyncs that is about 9 MB and 100 ms of writes and fsyncs, a frozen UI on a folder
//! switch. Nothing the caller holds needs it: every commit is already in the journal. So
//! a drop whose index is large hands the handle, lock and all, to a thread that runs
//! [`Cache::close`] and drops it there. Until that thread is done, the directory is
//! *closing*: an open of it in this process (writer or reader), `uidcache-fsck`, and
//! [`wait_for_close`] wait for it, so that no code in this process can tell a background
//! close from one that ran inline. Another process sees the writer lock held a little
//! longer, as it would have while the drop ran. A process that exits first loses only the
//! checkpoint: the next open replays the journal, as after a crash (FORMAT.md 8).

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::Cache;

/// Most background closes running at once; past it a drop closes inline. A mail client
/// drops one mailbox at a time; a loop that drops thousands must not start thousands of
/// threads, each holding a mailbox's state in memory.
pub const MAX_BACKGROUND_CLOSES: usize = 4;

/// The directories being closed in the background (one entry per close), and the signal
/// that one finished.
struct Closing {
    dirs: Mutex<Vec<PathBuf>>,
    finished: Condvar,
}

static CLOSING: Closing = Closing {
    dirs: Mutex::new(Vec::new()),
    finished: Condvar::new(),
};

/// A poisoned lock only means a closing thread panicked after its entry was removed or
/// while it pushed one; the list itself is still a valid list of directories.
fn dirs() -> MutexGuard<'static, Vec<PathBuf>> {
    CLOSING.dirs.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The name under which a directory is registered: its canonical path, so that two
/// spellings of one directory (relative, through a symlink) wait for each other. A path
/// that does not resolve (a cache not created yet) cannot be closing under another name.
fn key(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Removes its directory from the closing list when the closing thread ends, however it
/// ends (a panic in the checkpoint included), after the cache and its lock are gone.
struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        let mut dirs = dirs();
        if let Some(i) = dirs.iter().position(|d| *d == self.0) {
            dirs.swap_remove(i);
        }
        CLOSING.finished.notify_all();
    }
}

/// Hands `cache` to a new thread that closes it. Gives it back when it cannot: too many
/// closes running, or no thread to be had; the caller then closes it inline.
pub(super) fn close_in_background(cache: Cache) -> std::result::Result<(), Box<Cache>> {
    let key = key(&cache.dir);
    {
        let mut dirs = dirs();
        if dirs.len() >= MAX_BACKGROUND_CLOSES {
            return Err(Box::new(cache));
        }
        dirs.push(key.clone());
    }
    let registered = Registered(key);
    // The cache crosses to the thread through this slot, so that a failed spawn can give
    // it back: `spawn` consumes the closure, and the cache with it.
    let slot = std::sync::Arc::new(Mutex::new(Some(cache)));
    let theirs = std::sync::Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("uidcache-close".into())
        .spawn(move || {
            let _registered = registered;
            let cache = theirs.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(cache) = cache {
                // A drop ignores errors (the journal still holds every commit); so does
                // its background half. `close` drops the handle, releasing the lock,
                // before `_registered` lets the waiters go.
                let _ = cache.close();
            }
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(_) => {
            let cache = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            cache.map_or(Ok(()), |c| Err(Box::new(c)))
        }
    }
}

/// Waits until no background close of `dir` is running in this process: after it, the
/// directory's files are as the close left them and its writer lock is free (of this
/// process's closes). Returns at once when none is. Opening a cache calls it, so code
/// that only goes through the engine never needs to; call it before touching the files
/// yourself (removing the directory, copying it) after dropping a writer.
pub fn wait_for_close(dir: impl AsRef<Path>) {
    let mut dirs = dirs();
    if dirs.is_empty() {
        return;
    }
    let key = key(dir.as_ref());
    while dirs.contains(&key) {
        dirs = CLOSING
            .finished
            .wait(dirs)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Waits until every background close in this process is done: call it before the
/// process exits, so that the checkpoints the drops started are not cut short (cutting
/// one loses no commit, only the checkpoint: the next open replays the journal).
pub fn wait_for_closes() {
    let mut dirs = dirs();
    while !dirs.is_empty() {
        dirs = CLOSING
            .finished
            .wait(dirs)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Background closes running now (tests, monitoring).
pub fn background_closes() -> usize {
    dirs().len()
}
