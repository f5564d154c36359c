//! uidcache: an IMAP client's mailbox state on disk.
//!
//! This facade re-exports [`uidcache_engine`], the crate to embed, and adds
//! [`open_repairing`], which opens a cache and, when its files are damaged, repairs it with
//! [`uidcache_fsck`] and opens it again.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::Path;

pub use uidcache_engine::*;
pub use uidcache_fsck as fsck;

/// Opens the cache in `dir` as the writer; if the files are damaged (`Error::Corrupt`),
/// repairs them (dropping what is damaged, never inventing a record; see the fsck crate)
/// and opens again. Returns the cache and, when a repair ran, its report: the records it
/// dropped are to be fetched from the server again.
///
/// Damage found later, inside a block that opening did not read, is still reported by
/// reads as `Error::Corrupt`; calling this again after dropping the cache repairs it.
pub fn open_repairing(
    dir: impl AsRef<Path>,
    options: OpenOptions,
) -> Result<(Cache, Option<fsck::Report>), RepairingError> {
    let dir = dir.as_ref();
    match Cache::open_with(dir, options.clone()) {
        Ok(cache) => Ok((cache, None)),
        Err(e) if e.is_corruption() => {
            let report = fsck::repair(dir).map_err(RepairingError::Repair)?;
            let cache = Cache::open_with(dir, options).map_err(RepairingError::Open)?;
            Ok((cache, Some(report)))
        }
        Err(e) => Err(RepairingError::Open(e)),
    }
}

/// Why [`open_repairing`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RepairingError {
    /// Opening failed for a reason repair cannot help with, or after the repair.
    Open(Error),
    /// The repair itself failed (I/O, or a writer holds the lock).
    Repair(fsck::FsckError),
}

impl std::fmt::Display for RepairingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepairingError::Open(e) => write!(f, "open: {e}"),
            RepairingError::Repair(e) => write!(f, "repair: {e}"),
        }
    }
}

impl std::error::Error for RepairingError {}
