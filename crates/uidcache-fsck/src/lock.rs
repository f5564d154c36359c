//! The writer lock (FORMAT.md section 10): repair takes it exactly as a writer does, so it
//! never runs beside one.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use uidcache_engine::tools::LOCK_FILE;

use crate::error::{FsckError, Result};

/// Takes the writer lock of `dir` without waiting; held until the returned file is dropped.
pub(crate) fn take(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(FsckError::io("open lock file", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(FsckError::Locked { path }),
        Err(TryLockError::Error(e)) => Err(FsckError::io("lock", &path)(e)),
    }
}
