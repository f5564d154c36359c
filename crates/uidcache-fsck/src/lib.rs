//! Checking and repairing a uidcache mailbox directory.
//!
//! [`check`] reads every file of a cache (index, journal, block files) with the parsers of
//! `uidcache-format`, checks the checkpoint against every rule of the format spec
//! (`format-spec/FORMAT.md`), replays the journal with the engine and checks the replayed
//! state too, and reports every problem with its file, byte offset, what was expected and
//! what was found. A torn journal tail, an orphan block file or a leftover temporary file is
//! a [`Severity::Note`], damage a [`Severity::Damage`].
//!
//! [`repair`] takes the writer lock, rebuilds the state from what is sound, and publishes it
//! as a new checkpoint (temporary file, fsync, rename, like the engine). The result holds a
//! subset of what was there, never a record that was not: entries of damaged blocks become
//! holes (placed) or are dropped (unplaced), journal frames after damage are dropped, and a
//! cache whose index cannot be rebuilt is reset, keeping UIDVALIDITY only when a checksum
//! vouches for it. [`Report::repairs`] lists exactly what was dropped.
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

mod blocks;
mod error;
mod index;
mod journal;
mod layout;
mod lock;
mod rebuild;
mod repair;
mod report;
mod rules;
mod sanitize;
mod survey;
mod write;

use std::path::Path;

pub use error::{FsckError, Result};
pub use report::{Problem, RepairAction, Report, Severity};

/// Checks the cache in `dir` without changing anything (and without the lock: run it while
/// no writer is active, or a checkpoint in progress may show as a problem).
///
/// Fails only when `dir` cannot be listed; every problem in the files is in the report.
pub fn check(dir: impl AsRef<Path>) -> Result<Report> {
    let dir = dir.as_ref();
    let s = survey::survey(dir)?;
    Ok(Report {
        dir: dir.to_path_buf(),
        problems: s.problems,
        repairs: Vec::new(),
    })
}

/// Repairs the cache in `dir` under its writer lock (failing with [`FsckError::Locked`]
/// beside a writer). The report lists the problems found before repairing and every repair
/// action; a clean cache is left untouched.
pub fn repair(dir: impl AsRef<Path>) -> Result<Report> {
    repair::run(dir.as_ref())
}
