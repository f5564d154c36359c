//! Names of the files in a mailbox directory, and the durable way to replace one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::vfs::{Vfs, VfsFile};

/// File name of the index.
pub const INDEX_FILE: &str = "index";
/// File name of the journal.
pub const JOURNAL_FILE: &str = "journal";
/// File name of the writer lock.
pub const LOCK_FILE: &str = "lock";
/// Directory of the block files.
pub const BLOCKS_DIR: &str = "blocks";
/// Marker file: while it exists, the directory holds no file that the index and journal do
/// not name (FORMAT.md 8.5). A checkpoint creates it after removing every leftover; a
/// writer removes it, durably, before it writes any block or temporary file.
pub const CLEAN_FILE: &str = "clean";
/// Suffix of files being written; left-overs from a crash are removed by the next writer.
pub const TMP_SUFFIX: &str = ".tmp";

/// The engine's handle on its file system: the [`Vfs`] plus a count of fsyncs, for the
/// "fsyncs per commit" figure.
#[derive(Debug)]
pub(crate) struct Fs {
    pub(crate) vfs: Arc<dyn Vfs>,
    syncs: AtomicU64,
}

impl Fs {
    pub(crate) fn new(vfs: Arc<dyn Vfs>) -> Self {
        Fs {
            vfs,
            syncs: AtomicU64::new(0),
        }
    }

    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    pub(crate) fn sync_file(&self, file: &dyn VfsFile, path: &Path) -> Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        file.sync_data().map_err(Error::io("fsync", path))
    }

    pub(crate) fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.vfs
            .sync_dir(dir)
            .map_err(Error::io("fsync directory", dir))
    }

    pub(crate) fn read(&self, path: &Path, what: &'static str) -> Result<Vec<u8>> {
        self.vfs.read(path).map_err(Error::io(what, path))
    }

    /// Removes the clean marker of `dir`, durably (a marker already gone is fine): before the
    /// first block or temporary file a writer or a repair writes, so that a crash after that
    /// write leaves a directory that the next open lists.
    pub(crate) fn leave_clean(&self, dir: &Path) -> Result<()> {
        let marker = dir.join(CLEAN_FILE);
        match self.vfs.remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &marker)(e)),
        }
        self.sync_dir(dir)
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory: write,
    /// fsync (when `durable`), rename. The caller fsyncs the directory before relying on
    /// the name.
    pub(crate) fn replace_file(&self, path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
        self.replace_file_parts(path, &[bytes], durable)
    }

    /// [`Fs::replace_file`] of the bytes of `parts` one after another, written as they lie
    /// (an index is megabytes of entries that need no copy into one buffer first).
    pub(crate) fn replace_file_parts(
        &self,
        path: &Path,
        parts: &[&[u8]],
        durable: bool,
    ) -> Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        let (first, rest): (&[u8], &[&[u8]]) = match parts.split_first() {
            Some((first, rest)) => (first, rest),
            None => (&[], &[]),
        };
        let file = self
            .vfs
            .write_file(&tmp, first)
            .map_err(Error::io("write", &tmp))?;
        let mut at = first.len() as u64;
        for part in rest {
            file.write_at(part, at).map_err(Error::io("write", &tmp))?;
            at += part.len() as u64;
        }
        if durable {
            self.sync_file(file.as_ref(), &tmp)?;
        }
        drop(file);
        self.vfs
            .rename(&tmp, path)
            .map_err(Error::io("rename", &tmp))
    }
}

/// Path of block `id` under `dir`.
pub fn block_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(BLOCKS_DIR).join(format!("{id:016x}.ucb"))
}

/// Parses a block file name back into its ID.
pub fn block_id_of(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".ucb")?;
    // Only the canonical spelling: 16 lowercase hex digits, as `block_path` writes them.
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}
