//! Which files a cache directory holds, sorted by the role the spec gives them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use uidcache_engine::tools::{
    block_id_of, NotARegularFile, PathKind, Vfs, BLOCKS_DIR, INDEX_FILE, JOURNAL_FILE, LOCK_FILE,
    TMP_SUFFIX,
};

use crate::error::{FsckError, Result};

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

/// What stands at `blocks` when it is not the directory a cache needs; `None` for a
/// directory or nothing.
pub(crate) fn blocks_not_dir(vfs: &dyn Vfs, dir: &Path) -> Result<Option<NotARegularFile>> {
    let path = dir.join(BLOCKS_DIR);
    Ok(
        match vfs.kind(&path).map_err(FsckError::io("stat", &path))? {
            PathKind::Missing | PathKind::Directory => None,
            PathKind::File => Some(NotARegularFile {
                kind: "regular file",
            }),
            PathKind::Other(found) => Some(found),
        },
    )
}

/// Lists `dir` through `vfs`. Fails only when `dir` itself cannot be read.
pub(crate) fn scan(vfs: &dyn Vfs, dir: &Path) -> Result<Layout> {
    let mut layout = Layout::default();
    for name in vfs.list_dir(dir).map_err(FsckError::io("list", dir))? {
        match name.as_str() {
            INDEX_FILE => layout.has_index = true,
            JOURNAL_FILE => layout.has_journal = true,
            BLOCKS_DIR => match blocks_not_dir(vfs, dir)? {
                None => layout.has_blocks_dir = true,
                found => layout.blocks_not_dir = found,
            },
            LOCK_FILE => layout.has_lock = true,
            n if n.ends_with(TMP_SUFFIX) => layout.temp_files.push(PathBuf::from(n)),
            _ => {}
        }
    }
    if layout.has_blocks_dir {
        let blocks = dir.join(BLOCKS_DIR);
        for name in vfs
            .list_dir(&blocks)
            .map_err(FsckError::io("list", &blocks))?
        {
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
