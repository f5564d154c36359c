//! Typed errors of the engine. Corruption names the file and the byte offset.
//!
//! [`Error`] is one pointer wide, so that `Result<Option<Message>>` stays small on the
//! read path; its [`ErrorKind`] is what callers match.

use std::path::PathBuf;

use uidcache_format::{FormatError, FormatErrorKind};

/// Result of engine calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine: a boxed [`ErrorKind`]. Match on
/// [`Error::kind`]; the `is_*` helpers answer the common questions.
pub struct Error(Box<ErrorKind>);

/// What went wrong, with its details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
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
    /// A writer was asked to open a directory that holds other files and is not a cache:
    /// nothing was created or removed there.
    #[error(
        "{path} is not a cache directory (it holds {found:?}); a writer initializes only \
         a missing or empty directory, or an existing cache"
    )]
    NotACache {
        /// The directory.
        path: PathBuf,
        /// One of the entries that is not a file of a cache.
        found: String,
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
    AfterCommit(#[source] Error),
    /// The cache was opened read-only.
    #[error("the cache was opened read-only")]
    ReadOnly,
    /// An internal consistency rule of the engine failed: a bug, or damage that the
    /// checksums could not see. The transaction is discarded.
    #[error("internal invariant failed: {0}")]
    Invariant(Invariant),
    /// A call's arguments contradict the mailbox state; nothing was changed.
    #[error("{0}")]
    Invalid(#[from] InvalidOp),
}

/// Which internal consistency rule failed (see [`ErrorKind::Invariant`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invariant {
    /// The placed slice that the search found for a sequence number is not there.
    #[error("no placed slice {slice} for sequence number {seq}")]
    PlacedSliceMissing {
        /// The slice's index.
        slice: usize,
        /// The sequence number.
        seq: u32,
    },
    /// A removal found by a walk over the placed slices names no record there (the walk
    /// and the state it walked disagree).
    #[error("removal of UID {uid} at position {position} of placed slice {slice}: no such record")]
    RemovalMisplaced {
        /// The slice's index.
        slice: usize,
        /// The position in the slice.
        position: u32,
        /// The UID the walk found there.
        uid: u32,
    },
    /// A thread that read blocks for a removal ended without an answer (it panicked: a
    /// bug).
    #[error("a block-reading thread of a removal ended without an answer")]
    ReaderThreadFailed,
    /// Two unplaced slices hold interleaving UIDs.
    #[error("unplaced UIDs {first_uid}..={last_uid} interleave with unplaced UIDs {other_first_uid}..={other_last_uid}")]
    UnplacedInterleave {
        /// First UID of the slice being added.
        first_uid: u32,
        /// Last UID of the slice being added.
        last_uid: u32,
        /// First UID of the slice already there.
        other_first_uid: u32,
        /// Last UID of the slice already there.
        other_last_uid: u32,
    },
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
    /// UID 0, which no message has.
    #[error("UID 0 at sequence number {seq}: UIDs are nonzero")]
    ZeroUid {
        /// The sequence number it was given for.
        seq: u32,
    },
    /// A UID leaves no room for the sequence numbers between it and a known (or given)
    /// neighbour: UIDs must strictly increase with the sequence number.
    #[error("UID {uid} at {seq} leaves no room beside UID {neighbour_uid} at {neighbour_seq} (UIDs must increase with the sequence number)")]
    UidOrder {
        /// The sequence number of the refused UID.
        seq: u32,
        /// The refused UID.
        uid: u32,
        /// The neighbour's sequence number.
        neighbour_seq: u32,
        /// The neighbour's UID.
        neighbour_uid: u32,
    },
    /// A `Learn` op whose UID range does not fit its length or the records of its block
    /// (only replayed ops can say this: transactions build their own).
    #[error(
        "block {block:016x} does not hold {len} records with UIDs {first_uid}..={last_uid} there"
    )]
    SliceMismatch {
        /// The block ID.
        block: u64,
        /// The op's first UID.
        first_uid: u32,
        /// The op's last UID.
        last_uid: u32,
        /// The op's record count.
        len: u32,
    },
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
    /// A message count above [`crate::MAX_MESSAGES`], the most a cache holds.
    #[error(
        "a message count of {count} is beyond the limit of {} messages a cache holds",
        crate::MAX_MESSAGES
    )]
    TooManyMessages {
        /// The count that was refused.
        count: u32,
    },
    /// The message to update has no record at this sequence number.
    #[error("no record for sequence number {seq}")]
    UnknownSeq {
        /// The sequence number.
        seq: u32,
    },
    /// The message to update has no record with this UID.
    #[error("no record for UID {uid}")]
    UnknownUid {
        /// The UID.
        uid: u32,
    },
    /// A flag change names a flag set that is not defined (only replayed ops can).
    #[error("no flag set {id}")]
    UnknownFlagSet {
        /// The flag set ID.
        id: u32,
    },
    /// A header value wider than the header field (UIDVALIDITY and UIDNEXT are 32 bits).
    #[error("{field} {value} does not fit 32 bits")]
    HeaderValueTooLarge {
        /// The field's name as in FORMAT.md (`uidvalidity`, `uidnext`).
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A flag change that would forget the flags the overlay holds for a UID (writers
    /// merge, so only replayed ops can).
    #[error("a flag change of UID {uid} would forget flags the overlay holds")]
    ForgetsOverlayFlags {
        /// The UID.
        uid: u32,
    },
    /// A flag table op that does not continue the table (only replayed ops can).
    #[error("flag table: {0}")]
    FlagTable(FlagTableError),
    /// More distinct flag names or flag sets than IDs exist for.
    #[error("the flag table is full: more {what} than it can number")]
    FlagTableFull {
        /// `"flag names"` or `"flag sets"`.
        what: &'static str,
    },
    /// A transaction whose journal frame would be larger than a frame may be.
    #[error("a transaction of {bytes} bytes of changes is beyond the frame limit of {limit} bytes; commit more often")]
    TransactionTooLarge {
        /// The frame's payload size.
        bytes: usize,
        /// The largest payload a frame may carry.
        limit: u32,
    },
    /// [`crate::Transaction::remove_uids`] would shrink a hole inside the mailbox by more
    /// positions than one transaction removes one by one.
    #[error("removing {count} unknown messages from inside the mailbox is beyond the limit of {limit} per transaction")]
    TooManyHoleRemovals {
        /// Positions the removal would take out of the hole.
        count: u64,
        /// The most one call removes.
        limit: u64,
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

/// How a `DefineAtom` or `DefineFlagSet` op fails to continue the flag table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlagTableError {
    /// An atom ID other than the next one.
    #[error("atom ID {id}, expected {expected}")]
    AtomId {
        /// The op's ID.
        id: u32,
        /// The next free ID.
        expected: usize,
    },
    /// An atom name that is already defined.
    #[error("atom {id} repeats a name already defined")]
    AtomTwice {
        /// The op's ID.
        id: u32,
    },
    /// A flag set ID other than the next one.
    #[error("flag set ID {id}, expected {expected}")]
    SetId {
        /// The op's ID.
        id: u32,
        /// The next free ID.
        expected: usize,
    },
    /// A flag set naming an atom that is not defined.
    #[error("flag set {id} names an undefined atom")]
    UndefinedAtom {
        /// The set's ID.
        id: u32,
    },
    /// A flag set whose atoms are not sorted by name, repeat, or repeat another set.
    #[error("flag set {id} is not sorted, has duplicates, or is defined twice")]
    BadSet {
        /// The set's ID.
        id: u32,
    },
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// The kind, by value (to take its fields).
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// The refusal, when the error is one ([`ErrorKind::Invalid`]).
    pub fn invalid_op(&self) -> Option<&InvalidOp> {
        match self.kind() {
            ErrorKind::Invalid(why) => Some(why),
            _ => None,
        }
    }

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
            None => ErrorKind::Io { op, path, source }.into(),
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: FormatError) -> Error {
        ErrorKind::Corrupt {
            path: path.into(),
            detail,
        }
        .into()
    }

    /// The OS error kind, when this is a failed file operation.
    pub(crate) fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self.kind() {
            ErrorKind::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// Whether this error reports damaged files (as opposed to I/O or misuse).
    pub fn is_corruption(&self) -> bool {
        matches!(self.kind(), ErrorKind::Corrupt { detail, .. } if detail.kind != FormatErrorKind::UpgradeRequired)
    }

    /// Whether a file was written by an older format version that this code cannot read.
    pub fn is_upgrade_required(&self) -> bool {
        matches!(self.kind(), ErrorKind::Corrupt { detail, .. } if detail.kind == FormatErrorKind::UpgradeRequired)
    }

    /// Whether another process holds the writer lock: open read-only, or wait
    /// ([`crate::OpenOptions::lock_wait`]).
    pub fn is_locked(&self) -> bool {
        matches!(self.kind(), ErrorKind::Locked { .. })
    }

    /// Whether the handle is poisoned (by this error or an earlier one): drop it and reopen.
    pub fn is_poisoned(&self) -> bool {
        matches!(self.kind(), ErrorKind::Poisoned | ErrorKind::AfterCommit(_))
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error(Box::new(kind))
    }
}

impl From<InvalidOp> for Error {
    fn from(why: InvalidOp) -> Error {
        ErrorKind::Invalid(why).into()
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

// Reads return `Result<Option<Message>>` by the million: the error must stay one pointer.
const _: () = assert!(std::mem::size_of::<Error>() <= 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_at_most_16_bytes() {
        assert!(std::mem::size_of::<Error>() <= 16);
        assert!(std::mem::size_of::<Result<Option<crate::Message>>>() <= 32);
    }

    #[test]
    fn kind_is_matchable_and_helpers_agree() {
        let e: Error = ErrorKind::Locked {
            path: PathBuf::from("/x/lock"),
        }
        .into();
        assert!(e.is_locked());
        assert!(!e.is_stale());
        assert!(matches!(e.kind(), ErrorKind::Locked { path } if path.ends_with("lock")));
        let e: Error = InvalidOp::UnknownUid { uid: 7 }.into();
        assert_eq!(e.invalid_op(), Some(&InvalidOp::UnknownUid { uid: 7 }));
        assert_eq!(e.to_string(), "no record for UID 7");
    }

    #[test]
    fn after_commit_keeps_its_source() {
        let inner: Error = ErrorKind::Poisoned.into();
        let e: Error = ErrorKind::AfterCommit(inner).into();
        assert!(e.is_poisoned());
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("the cache handle is poisoned by an earlier I/O failure; reopen the cache")
        );
    }
}
