//! Appending frames to the journal file, and restarting it at a checkpoint.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use uidcache_format::{encode_frame, encode_journal_header, FRAME_DURABLE, JOURNAL_HEADER_SIZE};

use crate::dirfs::{replace_file, SyncCounter};
use crate::error::{Error, Result};

/// The open journal of a writer.
pub(crate) struct JournalWriter {
    file: File,
    path: PathBuf,
    salt: u32,
    next_seq: u64,
    len: u64,
}

/// A salt no earlier journal of this directory is likely to have used.
fn fresh_salt() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    (h.finish() as u32) | 1
}

impl JournalWriter {
    /// Replaces the journal at `path` by an empty one of `generation` (durably; the caller
    /// fsyncs the directory).
    pub(crate) fn create(
        path: &Path,
        generation: u64,
        syncs: &SyncCounter,
    ) -> Result<JournalWriter> {
        let salt = fresh_salt();
        replace_file(path, &encode_journal_header(salt, generation), true, syncs)?;
        Self::open(path, salt, 1, JOURNAL_HEADER_SIZE as u64)
    }

    /// Continues an existing journal whose valid frames end at `end`; anything after `end`
    /// (a torn tail) is cut off first so that it can never be mistaken for a frame.
    pub(crate) fn resume(
        path: &Path,
        salt: u32,
        next_seq: u64,
        end: u64,
        file_len: u64,
        syncs: &SyncCounter,
    ) -> Result<JournalWriter> {
        let writer = Self::open(path, salt, next_seq, end)?;
        if file_len != end {
            writer
                .file
                .set_len(end)
                .map_err(Error::io("truncate journal", path))?;
            syncs.sync_file(&writer.file, path)?;
        }
        Ok(writer)
    }

    fn open(path: &Path, salt: u32, next_seq: u64, len: u64) -> Result<JournalWriter> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::io("open journal", path))?;
        Ok(JournalWriter {
            file,
            path: path.to_path_buf(),
            salt,
            next_seq,
            len,
        })
    }

    /// Bytes in the journal.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Frames appended so far.
    pub(crate) fn frames(&self) -> u64 {
        self.next_seq - 1
    }

    /// Appends one frame; when `durable`, returns only after it is on stable storage.
    pub(crate) fn append(
        &mut self,
        payload: &[u8],
        durable: bool,
        syncs: &SyncCounter,
    ) -> Result<()> {
        let flags = if durable { FRAME_DURABLE } else { 0 };
        let frame = encode_frame(self.salt, self.next_seq, flags, payload);
        self.file
            .write_all_at(&frame, self.len)
            .map_err(Error::io("append to journal", &self.path))?;
        if durable {
            syncs.sync_file(&self.file, &self.path)?;
        }
        self.len += frame.len() as u64;
        self.next_seq += 1;
        Ok(())
    }
}
