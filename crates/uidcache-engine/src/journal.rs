//! Appending frames to the journal file, and restarting it at a checkpoint.

use std::path::{Path, PathBuf};

use uidcache_format::{
    encode_frame, encode_journal_header, IndexImage, FRAME_DURABLE, JOURNAL_HEADER_SIZE,
};

use crate::dirfs::{Fs, INDEX_FILE, JOURNAL_FILE};
use crate::error::{Error, Result};
use crate::vfs::VfsFile;

/// The open journal of a writer.
pub(crate) struct JournalWriter {
    file: Box<dyn VfsFile>,
    path: PathBuf,
    salt: u32,
    /// The cache identity, covered by every frame's CRC (FORMAT.md 5.2).
    cache_id: u64,
    next_seq: u64,
    len: u64,
    /// Frames were appended without fsync since the last one.
    unsynced: bool,
}

/// A journal salt that no earlier journal of the directory is likely to have used (also
/// for tools such as fsck that write a journal header).
pub fn fresh_salt() -> u32 {
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
    /// Replaces the journal at `path` by an empty one of `generation` in the cache
    /// `cache_id` (durably; the caller fsyncs the directory).
    pub(crate) fn create(
        fs: &Fs,
        path: &Path,
        generation: u64,
        cache_id: u64,
    ) -> Result<JournalWriter> {
        let salt = fresh_salt();
        fs.replace_file(
            path,
            &encode_journal_header(salt, generation, cache_id),
            true,
        )?;
        Self::open(fs, path, (salt, cache_id), 1, JOURNAL_HEADER_SIZE as u64)
    }

    /// Publishes `image` as the index of `dir`, then an empty journal of its generation, each
    /// durably and in that order (FORMAT.md "Checkpoint"); returns the new journal open.
    pub(crate) fn after_index(fs: &Fs, dir: &Path, image: &IndexImage) -> Result<JournalWriter> {
        let journal = Self::after_index_unpublished(fs, dir, image)?;
        fs.sync_dir(dir)?;
        Ok(journal)
    }

    /// [`JournalWriter::after_index`] without the last directory fsync: the new journal's
    /// rename is not yet durable, so a crash may bring back the old journal, one generation
    /// behind the index (stale and ignored, FORMAT.md 8.3). The caller has that fsync done
    /// before it appends a durable frame (FORMAT.md 7.4).
    pub(crate) fn after_index_unpublished(
        fs: &Fs,
        dir: &Path,
        image: &IndexImage,
    ) -> Result<JournalWriter> {
        fs.replace_file_parts(&dir.join(INDEX_FILE), &image.encode_parts().parts(), true)?;
        fs.sync_dir(dir)?;
        Self::create(
            fs,
            &dir.join(JOURNAL_FILE),
            image.generation,
            image.cache_id,
        )
    }

    /// Continues an existing journal whose valid frames end at `end`; anything after `end`
    /// (a torn tail) is cut off first so that it can never be mistaken for a frame.
    pub(crate) fn resume(
        fs: &Fs,
        path: &Path,
        key: (u32, u64),
        next_seq: u64,
        end: u64,
        file_len: u64,
    ) -> Result<JournalWriter> {
        let mut writer = Self::open(fs, path, key, next_seq, end)?;
        // Frames left by an earlier process may be in the page cache only.
        writer.unsynced = next_seq > 1;
        if file_len != end {
            writer
                .file
                .set_len(end)
                .map_err(Error::io("truncate journal", path))?;
            fs.sync_file(writer.file.as_ref(), path)?;
        }
        Ok(writer)
    }

    /// `key` is the journal's `(salt, cache identity)`.
    fn open(
        fs: &Fs,
        path: &Path,
        (salt, cache_id): (u32, u64),
        next_seq: u64,
        len: u64,
    ) -> Result<JournalWriter> {
        let file = fs
            .vfs
            .open_file(path)
            .map_err(Error::io("open journal", path))?;
        Ok(JournalWriter {
            unsynced: false,
            file,
            path: path.to_path_buf(),
            salt,
            cache_id,
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

    /// fsyncs frames appended without fsync, if any.
    pub(crate) fn sync(&mut self, fs: &Fs) -> Result<()> {
        if self.unsynced {
            fs.sync_file(self.file.as_ref(), &self.path)?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Appends one frame; when `durable`, returns only after it is on stable storage.
    pub(crate) fn append(&mut self, fs: &Fs, payload: &[u8], durable: bool) -> Result<()> {
        if durable && self.unsynced {
            // Recovery reads a valid durable frame as proof that every frame before it is on
            // disk (damage before it is corruption, not a torn write). The durable flag is
            // written before its own fsync, so earlier no-sync frames must be synced first.
            fs.sync_file(self.file.as_ref(), &self.path)?;
            self.unsynced = false;
        }
        let flags = if durable { FRAME_DURABLE } else { 0 };
        let frame = encode_frame(self.salt, self.cache_id, self.next_seq, flags, payload);
        self.file
            .write_at(&frame, self.len)
            .map_err(Error::io("append to journal", &self.path))?;
        if durable {
            fs.sync_file(self.file.as_ref(), &self.path)?;
        } else {
            self.unsynced = true;
        }
        self.len += frame.len() as u64;
        self.next_seq += 1;
        Ok(())
    }
}
