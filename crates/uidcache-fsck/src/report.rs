//! What `check` and `repair` found and did: problems with file, offset, expected and found,
//! and the repair actions.

use std::fmt;
use std::path::PathBuf;

use uidcache_format::FormatError;

/// What a finding means for the cache (FORMAT.md 8.7 lists which finding is which).
///
/// Serialized (`--json`) as `"note"` and `"damage"`; before this split they were
/// `"warning"` and `"error"`, and several crash leftovers were errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Severity {
    /// The cache is consistent: a leftover of an interrupted write that the next writer
    /// removes (torn journal tail, orphan block file, `*.tmp`, stale journal, a directory
    /// with nothing committed yet), or a header value the server gave that the records have
    /// overtaken (a stale UIDNEXT, a HIGHESTMODSEQ below a record's MODSEQ). Readers read
    /// the committed state correctly; nothing needs repair.
    Note,
    /// Damage: a reader could misread the cache or fails to open it, and repair must drop
    /// something (the files contradict the format spec, or commits are lost).
    Damage,
}

/// One thing wrong with a cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Problem {
    /// How bad it is.
    pub severity: Severity,
    /// The file, relative to the cache directory (`index`, `journal`, `blocks/<id>.ucb`).
    pub file: PathBuf,
    /// Byte offset in `file` of the offending field (0 for a whole-file problem).
    pub offset: u64,
    /// The structure, spelled as in the spec (`IndexEntry`, `JournalFrame`, `BlockHeader`...).
    pub structure: String,
    /// The field, spelled as in the spec.
    pub field: String,
    /// What the spec requires there.
    pub expected: String,
    /// What the files hold.
    pub found: String,
}

impl Problem {
    /// A problem from its parts.
    pub fn new(
        severity: Severity,
        file: impl Into<PathBuf>,
        offset: u64,
        structure: &str,
        field: &str,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) -> Problem {
        Problem {
            severity,
            file: file.into(),
            offset,
            structure: structure.to_string(),
            field: field.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// A problem from a format error of the parsers in `uidcache-format`.
    pub fn from_format(severity: Severity, file: impl Into<PathBuf>, e: &FormatError) -> Problem {
        Problem::new(
            severity,
            file,
            e.offset,
            e.structure,
            e.field,
            &e.expected,
            format_args!("{} ({:?})", e.found, e.kind),
        )
    }

    /// Whether two problems say the same thing, wherever they point.
    pub(crate) fn same_finding(&self, other: &Problem) -> bool {
        self.structure == other.structure
            && self.field == other.field
            && self.expected == other.expected
            && self.found == other.found
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Note => "note",
            Severity::Damage => "damage",
        };
        write!(
            f,
            "{sev}: {} @ {}: {}.{}: expected {}, found {}",
            self.file.display(),
            self.offset,
            self.structure,
            self.field,
            self.expected,
            self.found
        )
    }
}

/// One change that `repair` made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "action", rename_all = "snake_case")
)]
pub enum RepairAction {
    /// Placed records dropped: their sequence numbers became holes.
    DroppedPlaced {
        /// Block file that held them.
        block_id: u64,
        /// First sequence number.
        seq_start: u32,
        /// Number of records.
        len: u32,
        /// UID range of the slice as the index or journal gave it.
        first_uid: u32,
        /// Last UID.
        last_uid: u32,
        /// Why.
        reason: String,
    },
    /// Unplaced records dropped.
    DroppedUnplaced {
        /// Block file that held them.
        block_id: u64,
        /// Number of records.
        len: u32,
        /// UID range.
        first_uid: u32,
        /// Last UID.
        last_uid: u32,
        /// Why.
        reason: String,
    },
    /// An overlay (flags/MODSEQ) entry dropped.
    DroppedOverlay {
        /// Its UID.
        uid: u32,
        /// Why.
        reason: String,
    },
    /// Journal frames not applied (they and every later frame).
    DroppedFrames {
        /// File offset of the first dropped frame.
        offset: u64,
        /// Number of the first dropped frame.
        first_frame: u64,
        /// Number of frames dropped; 0 when unknown (damaged frames cannot be counted).
        count: u64,
        /// Why.
        reason: String,
    },
    /// A `Learn` op of a damaged or missing block skipped; its positions stay holes.
    SkippedLearn {
        /// File offset of the frame holding it.
        frame_offset: u64,
        /// The block.
        block_id: u64,
        /// First sequence number it would have placed.
        seq: u32,
        /// Number of records.
        len: u32,
    },
    /// An entry's "every record has known FLAGS" bit cleared: a record of the slice has
    /// none. The records stay; the next sync fetches their flags.
    ClearedFlagsKnown {
        /// Block file that holds the slice.
        block_id: u64,
        /// First UID of the slice.
        first_uid: u32,
        /// Last UID.
        last_uid: u32,
        /// Why.
        reason: String,
    },
    /// A header value forgotten (marked unknown).
    ForgotHeader {
        /// `UIDVALIDITY`, `UIDNEXT`, `HIGHESTMODSEQ` or `EXISTS`.
        field: String,
        /// Why.
        reason: String,
    },
    /// The whole state dropped: the index could not be rebuilt.
    Reset {
        /// The UIDVALIDITY kept, when it could be trusted.
        uidvalidity_kept: Option<u32>,
        /// Placed records known to be dropped (0 when the index was unreadable).
        placed_records: u64,
        /// Unplaced records known to be dropped.
        unplaced_records: u64,
        /// Why.
        reason: String,
    },
    /// A file removed (orphan or damaged block, temporary file).
    RemovedFile {
        /// The file, relative to the cache directory.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// Something that is not a regular file (a directory, FIFO, device, symbolic link)
    /// where the cache needs its own file, or a `blocks` that is not a directory, renamed
    /// aside rather than deleted: repair never read it, so it cannot prove it dead.
    RenamedAside {
        /// Where it was, relative to the cache directory.
        file: PathBuf,
        /// Its new name, relative.
        to: PathBuf,
        /// What it is.
        reason: String,
    },
    /// A new index of this generation and an empty journal were written.
    WroteCheckpoint {
        /// The new generation.
        generation: u64,
    },
}

impl fmt::Display for RepairAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepairAction::DroppedPlaced {
                block_id,
                seq_start,
                len,
                first_uid,
                last_uid,
                reason,
            } => write!(
                f,
                "dropped placed records seq {seq_start}+{len} (UIDs {first_uid}..={last_uid}) of block {block_id:016x}: {reason}"
            ),
            RepairAction::DroppedUnplaced {
                block_id,
                len,
                first_uid,
                last_uid,
                reason,
            } => write!(
                f,
                "dropped {len} unplaced records (UIDs {first_uid}..={last_uid}) of block {block_id:016x}: {reason}"
            ),
            RepairAction::DroppedOverlay { uid, reason } => {
                write!(f, "dropped overlay entry of UID {uid}: {reason}")
            }
            RepairAction::DroppedFrames {
                offset,
                first_frame,
                count,
                reason,
            } => write!(
                f,
                "dropped {count} journal frames from frame {first_frame} at byte {offset}: {reason}"
            ),
            RepairAction::SkippedLearn {
                frame_offset,
                block_id,
                seq,
                len,
            } => write!(
                f,
                "skipped Learn of seq {seq}+{len} from block {block_id:016x} (frame at byte {frame_offset}): block unusable; those positions stay holes"
            ),
            RepairAction::ClearedFlagsKnown {
                block_id,
                first_uid,
                last_uid,
                reason,
            } => write!(
                f,
                "cleared the flags-known bit of UIDs {first_uid}..={last_uid} of block {block_id:016x}: {reason}"
            ),
            RepairAction::ForgotHeader { field, reason } => {
                write!(f, "forgot {field}: {reason}")
            }
            RepairAction::Reset {
                uidvalidity_kept,
                placed_records,
                unplaced_records,
                reason,
            } => write!(
                f,
                "reset the cache ({placed_records} placed and {unplaced_records} unplaced records dropped, UIDVALIDITY {}): {reason}",
                uidvalidity_kept.map_or("not kept".to_string(), |v| format!("{v} kept"))
            ),
            RepairAction::RemovedFile { file, reason } => {
                write!(f, "removed {}: {reason}", file.display())
            }
            RepairAction::RenamedAside { file, to, reason } => {
                write!(
                    f,
                    "renamed {} aside to {}: {reason}",
                    file.display(),
                    to.display()
                )
            }
            RepairAction::WroteCheckpoint { generation } => {
                write!(f, "wrote index generation {generation} and an empty journal")
            }
        }
    }
}

/// Everything `check` or `repair` has to say about one cache directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    /// The cache directory.
    pub dir: PathBuf,
    /// Every problem found (by `repair`: found before repairing).
    pub problems: Vec<Problem>,
    /// What `repair` changed; empty for `check`.
    pub repairs: Vec<RepairAction>,
}

impl Report {
    /// No finding at all, not even a note: what `uidcache-fsck --strict` requires for exit 0.
    /// A cache after a crash is usually not clean (it has leftovers) but has no damage.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether any finding is damage ([`Severity::Damage`]): what decides
    /// `uidcache-fsck`'s exit status 1 (without `--strict`).
    pub fn has_damage(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Damage)
    }

    /// The findings that are only notes.
    pub fn notes(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Note)
    }
}
