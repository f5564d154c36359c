//! Which files a cache directory holds, sorted by the role the spec gives them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use uidcache_engine::tools::{
    block_id_of, NotARegularFile, BLOCKS_DIR, INDEX_FILE, JOURNAL_FILE, LOCK_FILE,
};

use crate::error::{FsckError, Result};

/// Suffix of files being written (FORMAT.md section 2).
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// The files of one cache directory.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub(crate) has_index: bool,
    pub(crate) has_journal: bool,
    pub(crate) has_blocks_dir: bool,
    /// What stands at `blocks/` when it is not a directory (a symbolic link included: it is
    /// never followed, its files may be another cache's).
    pub(crate) blocks_not_dir: Option<NotARegularFile>,
    /// A writer has opened the directory (it creates `lock` before anything else).
    pub(crate) has_lock: bool,
    /// Block files by ID, as paths relative to the directory.
    pub(crate) blocks: BTreeMap<u64, PathBuf>,
    /// Leftover `*.tmp` files, relative.
    pub(crate) temp_files: Vec<PathBuf>,
}

/// Lists `dir`. Fails only when `dir` itself cannot be read.
pub(crate) fn scan(dir: &Path) -> Result<Layout> {
    let mut layout = Layout::default();
    let top = fs::read_dir(dir).map_err(FsckError::io("list", dir))?;
    for entry in top.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.as_str() {
            INDEX_FILE => layout.has_index = true,
            JOURNAL_FILE => layout.has_journal = true,
            BLOCKS_DIR => match entry.file_type() {
                // (`DirEntry::file_type` does not follow a symbolic link.)
                Ok(kind) if kind.is_dir() => layout.has_blocks_dir = true,
                Ok(kind) => {
                    layout.blocks_not_dir =
                        Some(NotARegularFile::from_type(kind).unwrap_or(NotARegularFile {
                            kind: "regular file",
                        }));
                }
                Err(e) => return Err(FsckError::io("stat", dir.join(BLOCKS_DIR))(e)),
            },
            LOCK_FILE => layout.has_lock = true,
            n if n.ends_with(TMP_SUFFIX) => layout.temp_files.push(PathBuf::from(n)),
            _ => {}
        }
    }
    if layout.has_blocks_dir {
        let blocks = dir.join(BLOCKS_DIR);
        let entries = fs::read_dir(&blocks).map_err(FsckError::io("list", &blocks))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = Path::new(BLOCKS_DIR).join(&name);
            if let Some(id) = block_id_of(&name) {
                layout.blocks.insert(id, rel);
            } else if name.ends_with(TMP_SUFFIX) {
                layout.temp_files.push(rel);
            }
        }
    }
    layout.temp_files.sort();
    Ok(layout)
}
