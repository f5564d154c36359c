//! Reading the journal: header, frames (`scan_journal`, section 8.2) and ops
//! (`Op::decode_all`), keeping the prefix of frames that can be replayed.

use std::path::{Path, PathBuf};

use uidcache_engine::tools::{Vfs, JOURNAL_FILE};
use uidcache_format::{scan_journal, FrameRef, JournalTail, Op, FRAME_DURABLE, NO_IDENTITY};

use crate::error::Result;
use crate::read::{read, Read};
use crate::report::{Problem, Severity};

/// One valid frame with its decoded ops.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// File offset of the frame header.
    pub(crate) offset: u64,
    /// Its `frame_seq`.
    pub(crate) seq: u64,
    /// `FRAME_DURABLE` is set: every frame up to this one was fsynced.
    pub(crate) durable: bool,
    /// Its ops.
    pub(crate) ops: Vec<Op>,
}

/// Where the usable frames end and why, when frames that should have been there are lost.
#[derive(Debug, Clone)]
pub(crate) struct Lost {
    /// File offset of the first unusable frame.
    pub(crate) offset: u64,
    /// Its expected number.
    pub(crate) frame: u64,
    /// Why it is unusable.
    pub(crate) reason: String,
}

/// A journal whose header is sound.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    /// Its generation.
    pub(crate) generation: u64,
    /// The frames that can be replayed, in order.
    pub(crate) frames: Vec<Frame>,
    /// Damage (not a torn tail) that cut the frames short.
    pub(crate) lost: Option<Lost>,
}

/// What the `journal` file is.
#[derive(Debug, Clone)]
pub(crate) enum JournalFile {
    /// There is none.
    Missing,
    /// It cannot be read, or its header is damaged.
    Unusable,
    /// Its header is sound.
    Sound(Journal),
}

fn rel() -> PathBuf {
    PathBuf::from(JOURNAL_FILE)
}

/// Reads and checks the journal of `dir` against the index's `(cache identity, generation)`,
/// reporting every problem. A journal of another cache is damage and unusable, so repair
/// never imports it (FORMAT.md 1.5); the format-v1 journal that an interrupted upgrade
/// leaves beside the first v2 index reads as the stale journal it is.
/// Fails when the read fails (an I/O error is not damage).
pub(crate) fn load(
    vfs: &dyn Vfs,
    dir: &Path,
    index: (u64, u64),
    problems: &mut Vec<Problem>,
) -> Result<JournalFile> {
    let bytes = match read(vfs, dir, &rel())? {
        Read::Bytes(bytes) => bytes,
        Read::Missing => return Ok(JournalFile::Missing),
        Read::NotAFile(found) => {
            problems.push(Problem::new(
                Severity::Damage,
                rel(),
                0,
                "JournalHeader",
                "type",
                "a regular file",
                found,
            ));
            return Ok(JournalFile::Unusable);
        }
    };
    Ok(scan(&bytes, index, problems))
}

/// The journal in `bytes`, checked against the index's `(cache identity, generation)`, every
/// problem reported.
fn scan(
    bytes: &[u8],
    (cache_id, index_gen): (u64, u64),
    problems: &mut Vec<Problem>,
) -> JournalFile {
    let scanned = match scan_journal(bytes, cache_id) {
        Err(e) if cache_id != NO_IDENTITY => match scan_journal(bytes, NO_IDENTITY) {
            Ok(v1) if v1.generation.checked_add(1) == Some(index_gen) => {
                return JournalFile::Sound(Journal {
                    generation: v1.generation,
                    frames: Vec::new(),
                    lost: None,
                });
            }
            _ => Err(e),
        },
        other => other,
    };
    let (scan, lost) = match scanned {
        Ok(scan) => {
            if let JournalTail::Torn {
                reason,
                dropped_bytes,
            } = &scan.tail
            {
                problems.push(Problem::new(
                    Severity::Note,
                    rel(),
                    scan.end,
                    "JournalFrame",
                    "tail",
                    "a frame or the end of the journal",
                    format_args!(
                        "a torn tail of {dropped_bytes} bytes, dropped by the next writer ({reason})"
                    ),
                ));
            }
            (scan, None)
        }
        Err(e) => {
            problems.push(Problem::from_format(Severity::Damage, rel(), &e));
            if e.structure != "JournalFrame" {
                return JournalFile::Unusable;
            }
            // Damage before a durable frame: the frames in front of it are still sound.
            let cut = usize::try_from(e.offset).unwrap_or(usize::MAX);
            let Ok(scan) = scan_journal(bytes.get(..cut).unwrap_or_default(), cache_id) else {
                return JournalFile::Unusable;
            };
            let lost = Lost {
                offset: e.offset,
                frame: scan.frames.last().map_or(1, |f| f.frame_seq + 1),
                reason: e.to_string(),
            };
            (scan, Some(lost))
        }
    };
    let mut journal = Journal {
        generation: scan.generation,
        frames: Vec::with_capacity(scan.frames.len()),
        lost,
    };
    for frame in &scan.frames {
        match decode(frame) {
            Ok(ops) => journal.frames.push(Frame {
                offset: frame.offset,
                seq: frame.frame_seq,
                durable: frame.flags & FRAME_DURABLE != 0,
                ops,
            }),
            Err(e) => {
                problems.push(Problem::from_format(Severity::Damage, rel(), &e));
                journal.lost = Some(Lost {
                    offset: frame.offset,
                    frame: frame.frame_seq,
                    reason: e.to_string(),
                });
                break;
            }
        }
    }
    JournalFile::Sound(journal)
}

fn decode(frame: &FrameRef<'_>) -> Result<Vec<Op>, uidcache_format::FormatError> {
    Op::decode_all(frame.payload, frame.payload_offset)
}
