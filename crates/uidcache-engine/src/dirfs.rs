//! Names of the files in a mailbox directory, and the durable way to replace one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// File name of the index.
pub const INDEX_FILE: &str = "index";
/// File name of the journal.
pub const JOURNAL_FILE: &str = "journal";
/// File name of the writer lock.
pub const LOCK_FILE: &str = "lock";
/// Directory of the block files.
pub const BLOCKS_DIR: &str = "blocks";
/// Suffix of files being written; left-overs from a crash are removed by the next writer.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// Counts fsync calls, for the "fsyncs per commit" figure.
#[derive(Debug, Default)]
pub(crate) struct SyncCounter(AtomicU64);

impl SyncCounter {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn sync_file(&self, file: &File, path: &Path) -> Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        file.sync_data().map_err(Error::io("fsync", path))
    }

    pub(crate) fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        let handle = File::open(dir).map_err(Error::io("open directory", dir))?;
        handle.sync_all().map_err(Error::io("fsync directory", dir))
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

/// Writes `bytes` to `path` through a temporary file in the same directory: write, fsync
/// (when `durable`), rename. The caller fsyncs the directory before relying on the name.
pub(crate) fn replace_file(
    path: &Path,
    bytes: &[u8],
    durable: bool,
    syncs: &SyncCounter,
) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    file.write_all(bytes).map_err(Error::io("write", &tmp))?;
    if durable {
        syncs.sync_file(&file, &tmp)?;
    }
    drop(file);
    fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))
}
