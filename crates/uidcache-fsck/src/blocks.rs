//! Reading and checking every block file (FORMAT.md section 3.1) with `parse_block`.
//!
//! Blocks are read with `fs::read`, not mapped, so a file truncated under us cannot fault.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use uidcache_format::{parse_block, Record};

use crate::layout::Layout;
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
/// reporting the damaged ones; a block of another cache is damage (FORMAT.md 1.5).
pub(crate) fn load(
    dir: &Path,
    layout: &Layout,
    cache_id: u64,
    problems: &mut Vec<Problem>,
) -> Blocks {
    let mut blocks = Blocks::default();
    for (id, rel) in &layout.blocks {
        let bytes = match fs::read(dir.join(rel)) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(Problem::new(
                    Severity::Damage,
                    rel,
                    0,
                    "BlockFile",
                    "file",
                    "a readable file",
                    e,
                ));
                blocks.bad.insert(*id, rel.clone());
                continue;
            }
        };
        match parse_block(&bytes, *id, cache_id) {
            Ok(records) => {
                blocks.good.insert(*id, records.to_vec());
            }
            Err(e) => {
                problems.push(Problem::from_format(Severity::Damage, rel, &e));
                blocks.bad.insert(*id, rel.clone());
            }
        }
    }
    blocks
}
