//! Writing the repaired checkpoint the way the engine does (FORMAT.md 7.2): each file through
//! a fsynced temporary sibling and a rename, the directory fsynced after each rename.
//! Published block files are never opened for writing; dead ones are only unlinked.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use uidcache_engine::tools::{INDEX_FILE, JOURNAL_FILE};
use uidcache_format::{encode_journal_header, IndexImage};

use crate::error::{FsckError, Result};
use crate::layout::TMP_SUFFIX;

/// Writes `bytes` to `path` via `path.tmp`: write, fsync, rename, fsync the directory.
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    // O_NOFOLLOW: a symbolic link left at the temporary name must not redirect the write
    // out of the cache (the rename below replaces a link at `path` itself, never its target).
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(FsckError::io("create", &tmp))?;
    file.write_all(bytes)
        .map_err(FsckError::io("write", &tmp))?;
    file.sync_all().map_err(FsckError::io("fsync", &tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(FsckError::io("rename", &tmp))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(FsckError::io("fsync directory", dir))
}

/// Publishes `image` as the index, then an empty journal of the same generation, in the
/// order of a checkpoint.
pub(crate) fn checkpoint(dir: &Path, image: &IndexImage) -> Result<()> {
    forget_clean_marker(dir)?;
    replace_file(dir, INDEX_FILE, &image.encode())?;
    replace_file(
        dir,
        JOURNAL_FILE,
        &encode_journal_header(
            uidcache_engine::tools::fresh_journal_salt(),
            image.generation,
            image.cache_id,
        ),
    )
}

/// The engine's `clean` marker promises that no file is left over (FORMAT.md 8.5); a repair
/// writes files and makes no such promise, so the marker goes, durably, before its first
/// write, and the next writer's open looks for leftovers.
fn forget_clean_marker(dir: &Path) -> Result<()> {
    let marker = dir.join(uidcache_engine::tools::CLEAN_FILE);
    match std::fs::remove_file(&marker) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsckError::io("remove", &marker)(e)),
    }
}

/// Creates `blocks/` when it is missing (a cache whose blocks all lived in journal frames
/// needs it before they are written out), and fsyncs the directory that gained it.
pub(crate) fn blocks_dir(dir: &Path) -> Result<()> {
    let path = dir.join(uidcache_engine::tools::BLOCKS_DIR);
    match fs::create_dir(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(FsckError::io("create directory", &path)(e)),
    }
}

/// Renames `rel` under `dir` to the first free name of `rel.damaged`, `rel.damaged.2`, ...
/// and fsyncs its directory; returns the new name, relative.
pub(crate) fn set_aside(dir: &Path, rel: &Path) -> Result<PathBuf> {
    let from = dir.join(rel);
    for n in 1u32.. {
        let mut name = rel.as_os_str().to_owned();
        name.push(".damaged");
        if n > 1 {
            name.push(format!(".{n}"));
        }
        let to = PathBuf::from(name);
        match fs::symlink_metadata(dir.join(&to)) {
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(FsckError::io("stat", dir.join(&to))(e)),
        }
        fs::rename(&from, dir.join(&to)).map_err(FsckError::io("rename", &from))?;
        sync_dir(from.parent().unwrap_or(dir))?;
        return Ok(to);
    }
    Err(FsckError::io("rename", &from)(std::io::Error::other(
        "no free .damaged name",
    )))
}

/// Publishes block `id` (FORMAT.md 3) like the engine: temporary file, fsync, rename, fsync
/// of `blocks/`.
///
/// `cache_id` is the identity of the index the block is written for.
pub(crate) fn block(
    dir: &Path,
    id: u64,
    records: &[uidcache_format::Record],
    cache_id: u64,
) -> Result<()> {
    forget_clean_marker(dir)?;
    let path = uidcache_engine::tools::block_path(dir, id);
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    replace_file(
        parent,
        &name.to_string_lossy(),
        &uidcache_format::encode_block(id, records, cache_id),
    )
}

/// Unlinks `rel` under `dir` (a dead block file or a temporary file); a file already gone
/// is fine.
pub(crate) fn remove(dir: &Path, rel: &PathBuf) -> Result<()> {
    let path = dir.join(rel);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsckError::io("remove", &path)(e)),
    }
}
