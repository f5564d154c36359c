//! uidcache: an IMAP client's mailbox state on disk.
//!
//! For each message sequence number the cache keeps the UID, FLAGS and MODSEQ, plus
//! UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and the message count, so that a reconnect (SELECT
//! with CONDSTORE/QRESYNC) costs a few round trips instead of refetching every UID. One
//! process writes a mailbox's directory; any number of processes read it. Commits are
//! crash-safe: after a crash or power loss the cache opens at its last commit.
//!
//! This crate is the one to depend on. It re-exports the engine's embedding API
//! ([`Cache`], [`Transaction`], [`View`] and their types), [`fsck`] to check and repair a
//! cache, and [`open_repairing`], which opens a cache and repairs it when its files are
//! damaged. The byte format is specified in [FORMAT.md] (also in this crate's package).
//!
//! [FORMAT.md]: https://github.com/uidcache/uidcache/blob/main/format-spec/FORMAT.md
//!
//! # Features
//!
//! - `imap` (off by default): the `imap` module, which feeds the cache the server's raw
//!   response lines through its `Session` and builds the QRESYNC parameter of a SELECT.
//!   It brings in an IMAP parser; without it the crate depends on no parser.
//!
//! # Platform
//!
//! Unix only (Linux, macOS, the BSDs): the engine relies on `flock`, on memory maps that
//! outlive the unlinking of their file, and on fsyncing a directory. Other targets fail to
//! build with a message that says so.
//!
//! # Dropping a cache
//!
//! Dropping a writer's [`Cache`] checkpoints its journal (so that the next open replays
//! nothing) but never compacts, which on a large cache can take a second (opt in with
//! [`OpenOptions::compact_on_drop`]). When the index that checkpoint writes is large (past
//! [`CLOSE_IN_BACKGROUND_ABOVE`], 1 MiB: a 10M mailbox split by a day of resyncs), the drop
//! returns at once and a background thread finishes it: every commit is already in the
//! journal. Until then the directory is *closing*: its writer lock stays held, and in this
//! process opening it and [`fsck`] wait for the close. Call [`wait_for_closes`] before the
//! process exits, and [`wait_for_close`] before removing or copying the directory yourself.
//! [`Cache::close`] checkpoints inline and reports errors; call it where the client can
//! afford to wait.
//!
//! # Example
//! ```
//! use uidcache::{Cache, Update};
//!
//! let dir = tempfile::tempdir()?;
//! let mut cache = Cache::open(dir.path())?;
//! let mut tx = cache.transaction()?;
//! tx.set_uidvalidity(Some(1234))?;
//! tx.set_exists(3)?;
//! tx.learn_range(1, &[10, 11, 15])?;
//! tx.update_seq(2, Update { flags: Some(&[b"\\Seen"]), modseq: Some(7) })?;
//! tx.commit()?;
//! let view = cache.view();
//! assert_eq!(view.message_at(2)?.map(|m| m.uid), Some(11));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::Path;

pub use uidcache_engine::{
    background_closes, check_flag_list, wait_for_close, wait_for_closes, Cache, ChangedSince,
    CompactStats, Durability, Error, ErrorKind, FlagSetId, FlagTableError, Holes, InvalidOp,
    Invariant, LayoutInfo, Message, Messages, OpenOptions, QresyncParam, Removal, Removed, Result,
    Segment, SelectOutcome, SelectResult, StaleSnapshot, Stats, TrackedChanges, Transaction,
    UidPosition, UidSet, UnknownFlags, Update, View, CLOSE_IN_BACKGROUND_ABOVE,
    MAX_BACKGROUND_CLOSES, MAX_FLAGS, MAX_FLAG_BYTES, MAX_HOLE_REMOVALS, MAX_MESSAGES,
    PENDING_BLOCKS_IN_MEMORY, STEP_CREDIT_PER_CHANGE, STEP_CREDIT_PER_REMOVAL, STEP_MAX_RECORDS,
};
// `ErrorKind::Corrupt` carries these: what is wrong with a file, and where.
pub use uidcache_format::{FormatError, FormatErrorKind};
pub use uidcache_fsck as fsck;
#[cfg(feature = "imap")]
pub use uidcache_imap as imap;

/// Plumbing for tools and tests (file names, identities, the file-system seam); not part
/// of the embedding API and outside semantic versioning.
#[doc(hidden)]
pub use uidcache_engine::tools;

/// Opens the cache in `dir` as the writer; if the files are damaged (`ErrorKind::Corrupt`),
/// repairs them (dropping what is damaged, never inventing a record; see [`fsck::repair`])
/// and opens again. Returns the cache and, when a repair ran, its report: the records it
/// dropped are to be fetched from the server again.
///
/// Damage found later, inside a block that opening did not read, is still reported by
/// reads as `ErrorKind::Corrupt`; calling this again after dropping the cache repairs it.
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

impl std::error::Error for RepairingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RepairingError::Open(e) => Some(e),
            RepairingError::Repair(e) => Some(e),
        }
    }
}
