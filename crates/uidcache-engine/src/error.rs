//! Typed errors of the engine. Corruption names the file and the byte offset.

use std::path::PathBuf;

use uidcache_format::{FormatError, FormatErrorKind};

/// Result of engine calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `write`, `fsync`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file's bytes contradict the format spec or the state rules.
    #[error("corrupt cache file {path}: {detail}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong and where (the byte offset is in `detail.offset`).
        detail: FormatError,
    },
    /// Another process holds the writer lock.
    #[error("{path} is locked by another process (one writer at a time)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A previous write or fsync failed; the handle must be dropped and the cache reopened,
    /// because a retried fsync can report success for data the kernel already dropped.
    #[error("the cache handle is poisoned by an earlier I/O failure; reopen the cache")]
    Poisoned,
    /// The commit succeeded (its changes are in the journal), but the checkpoint or
    /// compaction that followed it failed; the handle is poisoned.
    #[error("committed, but the checkpoint after the commit failed: {0}")]
    AfterCommit(Box<Error>),
    /// The cache was opened read-only.
    #[error("the cache was opened read-only")]
    ReadOnly,
    /// An internal consistency rule of the engine failed: a bug, or damage that the
    /// checksums could not see. The transaction is discarded.
    #[error("internal invariant failed: {0}")]
    Invariant(String),
    /// A call's arguments contradict the mailbox state; nothing was changed.
    #[error("{0}")]
    Invalid(#[from] InvalidOp),
}

/// Why a change was refused; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidOp {
    /// A sequence number is 0 or above the message count.
    #[error("sequence number {seq} is outside 1..={exists}")]
    SeqOutOfRange {
        /// The sequence number.
        seq: u64,
        /// The message count.
        exists: u32,
    },
    /// UID 0, or UIDs that do not increase with the sequence number.
    #[error("UIDs must be nonzero and strictly increasing: {0}")]
    UidOrder(String),
    /// A sequence number already holds another UID.
    #[error("sequence number {seq} holds UID {known}, not {given}")]
    Conflict {
        /// The sequence number.
        seq: u32,
        /// The UID the cache has.
        known: u32,
        /// The UID that was given.
        given: u32,
    },
    /// The message count cannot shrink over known records.
    #[error("cannot set the message count to {count}: sequence number {seq} holds a record")]
    ShrinkOverRecords {
        /// The requested count.
        count: u32,
        /// The last placed sequence number.
        seq: u32,
    },
    /// A QRESYNC SELECT's EXISTS is below the run of positions the cache knows from 1
    /// after the reported `VANISHED (EARLIER)`: an expunge among them was never reported,
    /// so the cached HIGHESTMODSEQ claimed changes the cache never saw.
    #[error(
        "the server has {exists} messages after QRESYNC, but the cache knows messages \
         1..={known} and no expunge among them was reported: an expunge the cache never saw"
    )]
    UnreportedExpunge {
        /// The SELECT's EXISTS.
        exists: u32,
        /// The known run from sequence number 1, after the reported expunges.
        known: u32,
    },
    /// The record to update is not known.
    #[error("no record for {0}")]
    NotKnown(String),
    /// A value the format cannot hold (a flag set of more atoms than fit, ...).
    #[error("{0}")]
    Unsupported(String),
    /// A message count above [`crate::MAX_MESSAGES`], the most a cache holds.
    #[error(
        "a message count of {count} is beyond the limit of {} messages a cache holds",
        crate::MAX_MESSAGES
    )]
    TooManyMessages {
        /// The count that was refused.
        count: u32,
    },
    /// One message's flag list is beyond [`crate::MAX_FLAGS`] names or
    /// [`crate::MAX_FLAG_BYTES`] bytes of names (`\Recent` and duplicates not counted).
    #[error(
        "a flag list of {count} names and {bytes} bytes is beyond the limit of {} names and {} bytes",
        crate::MAX_FLAGS,
        crate::MAX_FLAG_BYTES
    )]
    FlagListTooLarge {
        /// Distinct names in the list.
        count: usize,
        /// Their total length in bytes.
        bytes: usize,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| match crate::vfs::NotARegularFile::of(&source) {
            // Not a failed read: what stands at the path is known, and it is not a file of
            // the cache. That is damage of the directory, reported like damaged bytes.
            Some(found) => Error::corrupt(
                path,
                FormatError::new(
                    FormatErrorKind::Invalid,
                    "File",
                    "type",
                    0,
                    "a regular file",
                    found,
                ),
            ),
            None => Error::Io { op, path, source },
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: FormatError) -> Error {
        Error::Corrupt {
            path: path.into(),
            detail,
        }
    }

    /// Whether this error reports damaged files (as opposed to I/O or misuse).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt { detail, .. } if detail.kind != FormatErrorKind::UpgradeRequired)
    }

    /// Whether a file was written by an older format version that this code cannot read.
    pub fn is_upgrade_required(&self) -> bool {
        matches!(self, Error::Corrupt { detail, .. } if detail.kind == FormatErrorKind::UpgradeRequired)
    }
}
