//! Checking and repairing a uidcache mailbox directory.
//!
//! [`check`] reads every file of a cache (index, journal, block files) with the parsers of
//! `uidcache-format`, checks the checkpoint against every rule of the format spec
//! ([FORMAT.md]), replays the journal with the engine and checks the replayed state too,
//! and reports every problem with its file, byte offset, what was expected and what was
//! found. A torn journal tail, an orphan block file or a leftover temporary file is
//! a [`Severity::Note`], damage a [`Severity::Damage`].
//!
//! [`repair`] takes the writer lock, rebuilds the state from what is sound, and publishes it
//! as a new checkpoint with the engine's own lock and checkpoint code (temporary file, fsync,
//! rename, directory fsync), so a repair interrupted at any point is finished by the next
//! one. The result holds a subset of what was there, never a record that was not: entries of damaged blocks become
//! holes (placed) or are dropped (unplaced), journal frames after damage are dropped, and a
//! cache whose index cannot be rebuilt is reset, keeping UIDVALIDITY only when a checksum
//! vouches for it. [`Report::repairs`] lists exactly what was dropped.
//!
//! [FORMAT.md]: https://github.com/uidcache/uidcache/blob/main/format-spec/FORMAT.md
//!
//! # Example
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let mut cache = uidcache_engine::Cache::open(dir.path()).unwrap();
//! let mut tx = cache.transaction().unwrap();
//! tx.set_exists(2).unwrap();
//! tx.learn_range(1, &[7, 9]).unwrap();
//! tx.commit().unwrap();
//! drop(cache);
//! assert!(uidcache_fsck::check(dir.path()).unwrap().is_clean());
//!
//! std::fs::write(dir.path().join("blocks/0000000000000001.ucb"), b"junk").unwrap();
//! let report = uidcache_fsck::check(dir.path()).unwrap();
//! assert!(report.has_damage());
//! let repaired = uidcache_fsck::repair(dir.path()).unwrap();
//! assert!(!repaired.repairs.is_empty());
//! assert!(uidcache_fsck::check(dir.path()).unwrap().is_clean());
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod blocks;
mod error;
mod index;
mod journal;
mod layout;
mod read;
mod rebuild;
mod repair;
mod report;
mod rules;
mod sanitize;
mod survey;
mod write;

use std::path::Path;
use std::sync::Arc;

use uidcache_engine::tools::{StdVfs, Vfs};

pub use error::{FsckError, Result};
pub use report::{Problem, RepairAction, Report, Severity};

/// Checks the cache in `dir` without changing anything (and without the lock: run it while
/// no writer is active, or a checkpoint in progress may show as a problem).
///
/// Fails when a directory cannot be listed or a file cannot be read ([`FsckError::Io`]): a
/// read that fails (EIO, EACCES, ...) says nothing about the bytes, so it is never
/// reported as damage. Every problem found in the bytes and the layout is in the report.
pub fn check(dir: impl AsRef<Path>) -> Result<Report> {
    check_with(dir, Arc::new(StdVfs))
}

/// [`check`], reading the cache's files (and listing its directories) through `vfs`: tests
/// inject read failures there.
pub fn check_with(dir: impl AsRef<Path>, vfs: Arc<dyn Vfs>) -> Result<Report> {
    let dir = dir.as_ref();
    // A writer this process dropped may still be closing it in the background: check
    // what that close leaves, as if the drop had run it inline.
    uidcache_engine::wait_for_close(dir);
    let s = survey::survey(dir, vfs)?;
    Ok(Report {
        dir: dir.to_path_buf(),
        problems: s.problems,
        repairs: Vec::new(),
    })
}

/// Repairs the cache in `dir` under its writer lock (failing with [`FsckError::Locked`]
/// beside a writer). The report lists the problems found before repairing and every repair
/// action; a clean cache is left untouched.
///
/// Repair changes nothing when a file cannot be read (it fails with [`FsckError::Io`]: only
/// files it has read and found dead or damaged are dropped), and refuses a `blocks/` that
/// is a symbolic link ([`FsckError::Refused`]). It never follows a symbolic link: one where
/// a file belongs, like a directory, FIFO or device there, is renamed aside to
/// `NAME.damaged`, never deleted.
pub fn repair(dir: impl AsRef<Path>) -> Result<Report> {
    repair_with(dir, Arc::new(StdVfs))
}

/// [`repair`], with every file operation (the lock, reads, writes, fsyncs, renames, unlinks)
/// going through `vfs`: tests inject read failures there, and crash a repair at any step.
pub fn repair_with(dir: impl AsRef<Path>, vfs: Arc<dyn Vfs>) -> Result<Report> {
    uidcache_engine::wait_for_close(dir.as_ref());
    repair::run(dir.as_ref(), vfs)
}
