//! Reading and checking every block file (FORMAT.md section 3.1) with `parse_block`.
//!
//! Blocks are read with read(2) (through the `Vfs`), not mapped, so a file truncated under us
//! cannot fault. A read that fails is an I/O error, not damage: it stops the survey.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use uidcache_engine::tools::Vfs;
use uidcache_format::{parse_block, Record};

use crate::error::Result;
use crate::layout::Layout;
use crate::read::{read, Read};
use crate::report::{Problem, Severity};

/// The block files of a directory: the records of the sound ones, and which are damaged.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    /// Sound blocks by ID.
    pub(crate) good: BTreeMap<u64, Vec<Record>>,
    /// Damaged or unreadable block files, by ID.
    pub(crate) bad: BTreeMap<u64, PathBuf>,
}

impl Blocks {
    /// The records of sound block `id`.
    pub(crate) fn records(&self, id: u64) -> Option<&[Record]> {
        self.good.get(&id).map(Vec::as_slice)
    }

    /// Whether block `id` is absent or damaged.
    pub(crate) fn unusable(&self, id: u64) -> bool {
        !self.good.contains_key(&id)
    }
}

/// Reads and checks every block file of `layout` against the cache identity `cache_id`,
/// reporting the damaged ones (a block of another cache is damage, FORMAT.md 1.5); fails on
/// the first read that fails.
pub(crate) fn load(
    vfs: &dyn Vfs,
    dir: &Path,
    layout: &Layout,
    cache_id: u64,
    problems: &mut Vec<Problem>,
) -> Result<Blocks> {
    let mut blocks = Blocks::default();
    for (id, rel) in &layout.blocks {
        let found = match read(vfs, dir, rel)? {
            Read::Bytes(bytes) => bytes,
            // Listed a moment ago: removed outside the protocol (no writer runs beside us).
            Read::Missing => {
                problems.push(Problem::new(
                    Severity::Damage,
                    rel,
                    0,
                    "BlockFile",
                    "file",
                    "a block file",
                    "none: it was removed while the directory was checked",
                ));
                blocks.bad.insert(*id, rel.clone());
                continue;
            }
            Read::NotAFile(found) => {
                problems.push(Problem::new(
                    Severity::Damage,
                    rel,
                    0,
                    "BlockFile",
                    "type",
                    "a regular file",
                    found,
                ));
                blocks.bad.insert(*id, rel.clone());
                continue;
            }
        };
        match parse_block(&found, *id, cache_id) {
            Ok(records) => {
                blocks.good.insert(*id, records.to_vec());
            }
            Err(e) => {
                problems.push(Problem::from_format(Severity::Damage, rel, &e));
                blocks.bad.insert(*id, rel.clone());
            }
        }
    }
    Ok(blocks)
}
