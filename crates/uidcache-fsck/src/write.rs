//! The repair's writes, all through the engine's own protocol (`uidcache_engine::tools`)
//! and the [`Vfs`]: block files, index and journal exactly as a checkpoint writes them
//! (FORMAT.md 7.2). Published block files are never opened for writing; dead ones are only
//! unlinked, and what is not a regular file is renamed aside, never deleted.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uidcache_engine::tools::{self, PathKind, Vfs, BLOCKS_DIR};

use crate::error::{FsckError, Result};

/// Creates `blocks/` when it is missing (a cache whose blocks all lived in journal frames
/// needs it before they are written out), and fsyncs the directory that gained it.
pub(crate) fn blocks_dir(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let path = dir.join(BLOCKS_DIR);
    if vfs.kind(&path).map_err(FsckError::io("stat", &path))? != PathKind::Missing {
        return Ok(());
    }
    vfs.create_dir_all(&path)
        .map_err(FsckError::io("create directory", &path))?;
    tools::sync_dir(vfs, dir).map_err(FsckError::from)
}

/// Renames `rel` under `dir` to the first free name of `rel.damaged`, `rel.damaged.2`, ...
/// and fsyncs its directory; returns the new name, relative.
pub(crate) fn set_aside(vfs: &dyn Vfs, dir: &Path, rel: &Path) -> Result<PathBuf> {
    let from = dir.join(rel);
    for n in 1u32.. {
        let mut name = rel.as_os_str().to_owned();
        name.push(".damaged");
        if n > 1 {
            name.push(format!(".{n}"));
        }
        let to = PathBuf::from(name);
        let target = dir.join(&to);
        if vfs.kind(&target).map_err(FsckError::io("stat", &target))? != PathKind::Missing {
            continue;
        }
        vfs.rename(&from, &target)
            .map_err(FsckError::io("rename", &from))?;
        tools::sync_dir(vfs, from.parent().unwrap_or(dir))?;
        return Ok(to);
    }
    Err(FsckError::io("rename", &from)(std::io::Error::other(
        "no free .damaged name",
    )))
}

/// Publishes the blocks `(id, records)` of the cache `cache_id` like a checkpoint does:
/// each durably, then one fsync of `blocks/`.
pub(crate) fn blocks<'a>(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    blocks: impl IntoIterator<Item = (u64, &'a [uidcache_format::Record])>,
    cache_id: u64,
) -> Result<()> {
    let mut wrote = false;
    for (id, records) in blocks {
        tools::write_block(vfs, dir, id, records, cache_id)?;
        wrote = true;
    }
    if wrote {
        tools::sync_dir(vfs.as_ref(), &dir.join(BLOCKS_DIR))?;
    }
    Ok(())
}

/// Unlinks `rel` under `dir` (a dead block file or a temporary file); `false` when it was
/// already gone.
pub(crate) fn remove(vfs: &dyn Vfs, dir: &Path, rel: &Path) -> Result<bool> {
    let path = dir.join(rel);
    match vfs.remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(FsckError::io("remove", &path)(e)),
    }
}
