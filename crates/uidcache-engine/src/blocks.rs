//! Block files: writing new ones, and mapping, checking and caching published ones.

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use uidcache_format::{encode_block, parse_block, Record, BLOCK_HEADER_SIZE};

use crate::dirfs::{block_path, Fs};
use crate::error::{Error, Result};
use crate::vfs::{BlockBytes, Vfs};

/// Most records a block file holds (32 KiB of records); see FORMAT.md "Block sizing".
pub const MAX_BLOCK_RECORDS: usize = 2048;
/// How many blocks stay mapped (32 MiB of records per 1,024). Past it the map cache is
/// emptied, which bounds the number of mappings (the kernel limits them per process), not
/// memory: a mapping costs resident memory only for the pages that lookups touch.
pub(crate) const MAPPED_CACHE_LIMIT: usize = 16_384;

/// What the store knows of a published block file.
enum Known {
    /// Checked (read in full, CRC), with its record count, but not
    /// mapped: mapping a block costs resident memory for its pages (the kernel maps the
    /// whole small file on the first touch), which pays off only for blocks read again.
    Checked(usize),
    /// Mapped.
    Mapped(Arc<MappedBlock>),
    /// Written by this handle and not read since: its first read maps it and checks it on
    /// the mapping (the handle is about to read what it just learned, so the mapping pays
    /// off at once, and one step costs about two thirds of a checked copy plus a later
    /// mapping: 12 µs against 10 + 7–9 µs for a 32 KiB block, BENCHMARKS.md).
    Written,
    /// Checked by one of the last [`RECENT_COPIES`] first reads, whose copy answers the
    /// reads that follow it: a sorted run of lookups (a VANISHED set, a sync's changes)
    /// reads each block many times in a row, and mapping it at its second read cost more
    /// than the copy itself (open, stat, mmap, page faults, and the munmap later).
    Copied(Arc<Vec<u8>>, usize),
}

/// First reads whose copies are kept (32 KiB each, so about 1 MiB): enough for the blocks
/// a sorted run of lookups is inside at once, too few to cost a phone's memory.
pub(crate) const RECENT_COPIES: usize = 32;

/// What the store knows of its published blocks, and which of them hold a copy (oldest
/// first), under one lock.
#[derive(Default)]
struct KnownBlocks {
    by_id: IdMap<Known>,
    copies: VecDeque<u64>,
}

impl KnownBlocks {
    fn insert(&mut self, id: u64, known: Known) {
        if self.by_id.len() >= MAPPED_CACHE_LIMIT {
            self.by_id.clear();
            self.copies.clear();
        }
        if let Known::Copied(..) = known {
            if self.copies.len() >= RECENT_COPIES {
                if let Some(oldest) = self.copies.pop_front() {
                    self.drop_copy(oldest);
                }
            }
            self.copies.retain(|c| *c != id);
            self.copies.push_back(id);
        }
        self.by_id.insert(id, known);
    }

    /// Block `id` is answered from its copy no more.
    fn drop_copy(&mut self, id: u64) {
        if let Some(Known::Copied(_, count)) = self.by_id.get(&id) {
            let count = *count;
            self.by_id.insert(id, Known::Checked(count));
            self.copies.retain(|c| *c != id);
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(Known::Copied(..)) = self.by_id.remove(&id) {
            self.copies.retain(|c| *c != id);
        }
    }
}

/// Where a block stands before a read: checked already (with its record count), or not.
enum FirstRead {
    Done(usize),
    Written,
    Pending,
}

/// A checked, mapped block file.
pub(crate) struct MappedBlock {
    mapping: Box<dyn BlockBytes>,
    count: usize,
}

impl MappedBlock {
    pub(crate) fn records(&self) -> &[Record] {
        let body = self
            .mapping
            .bytes()
            .get(BLOCK_HEADER_SIZE..)
            .unwrap_or_default();
        // The mapping was checked by `parse_block` when it was created, and never changes.
        <[Record] as zerocopy::FromBytes>::ref_from_bytes(body)
            .ok()
            .and_then(|r| r.get(..self.count))
            .unwrap_or_default()
    }
}

/// The records of one block, borrowed (a block of the open transaction), shared (mapped or
/// inline), or a copy (the block's first read, which checked it).
#[derive(Clone)]
pub(crate) enum Records<'a> {
    Borrowed(&'a [Record]),
    Mapped(Arc<MappedBlock>),
    Inline(Arc<Vec<Record>>),
    /// A whole block file as read (and checked) by read(2): header, then records.
    Copied(Arc<Vec<u8>>),
}

impl Deref for Records<'_> {
    type Target = [Record];
    fn deref(&self) -> &[Record] {
        match self {
            Records::Borrowed(r) => r,
            Records::Mapped(m) => m.records(),
            Records::Inline(r) => r,
            // Checked by `parse_block` when it was read: the records follow the header.
            Records::Copied(bytes) => bytes
                .get(BLOCK_HEADER_SIZE..)
                .and_then(|body| <[Record] as zerocopy::FromBytes>::ref_from_bytes(body).ok())
                .unwrap_or_default(),
        }
    }
}

/// Where the state machine reads records that its index entries point at.
pub(crate) trait RecordSource {
    /// The records of block `id`.
    fn records(&self, id: u64) -> Result<Records<'_>>;
    /// Block `id`, whose records a read index wants to keep, is mapped at its next read
    /// instead of answered from a copy.
    fn map_at_next_read(&self, _id: u64) {}
    /// The file of block `id`, for error messages.
    fn block_file(&self, id: u64) -> PathBuf;
}

/// Block IDs are already unique numbers: a multiply spreads them over the table, far
/// cheaper than SipHash on the lookup path of every read.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by block ID, hashed by [`IdHasher`].
pub(crate) type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A set of block IDs, hashed by [`IdHasher`]: the sets of every block the layout uses are
/// built often (steps, checkpoints, the syncer's hand-over), and SipHash made them most of
/// a small commit's time in an expunge storm.
pub(crate) type IdSet = std::collections::HashSet<u64, std::hash::BuildHasherDefault<IdHasher>>;

/// The published block files of one mailbox directory.
pub(crate) struct BlockStore {
    dir: PathBuf,
    vfs: Arc<dyn Vfs>,
    mapped: Mutex<KnownBlocks>,
    /// Blocks whose records live in journal frames until a checkpoint writes them out.
    inline: Mutex<IdMap<Arc<Vec<Record>>>>,
    /// Whether `inline` may hold anything: spares reads the second lock when it does not.
    has_inline: std::sync::atomic::AtomicBool,
    /// The identity every block must carry (the index's; FORMAT.md 1.5): a block of another
    /// cache is corruption of that file, never data.
    cache_id: std::sync::atomic::AtomicU64,
}

impl BlockStore {
    pub(crate) fn new(dir: &Path, vfs: Arc<dyn Vfs>) -> Self {
        BlockStore {
            dir: dir.to_path_buf(),
            vfs,
            mapped: Mutex::new(KnownBlocks::default()),
            inline: Mutex::new(IdMap::default()),
            has_inline: std::sync::atomic::AtomicBool::new(false),
            cache_id: std::sync::atomic::AtomicU64::new(uidcache_format::NO_IDENTITY),
        }
    }

    /// How many blocks are mapped now (each costs an munmap when the store goes).
    pub(crate) fn mapped_count(&self) -> usize {
        self.mapped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_id
            .values()
            .filter(|k| matches!(k, Known::Mapped(_)))
            .count()
    }

    /// Sets the identity that blocks are checked against and written with (from the index
    /// as it is loaded, or a new one when a format-v1 cache is upgraded).
    pub(crate) fn set_cache_id(&self, cache_id: u64) {
        self.cache_id
            .store(cache_id, std::sync::atomic::Ordering::Release);
    }

    fn cache_id(&self) -> u64 {
        self.cache_id.load(std::sync::atomic::Ordering::Acquire)
    }

    fn lock_inline(&self) -> std::sync::MutexGuard<'_, IdMap<Arc<Vec<Record>>>> {
        // Plain inserts and removes: a panic elsewhere cannot leave the map inconsistent.
        self.inline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The inline blocks, for a checkpoint to write out.
    pub(crate) fn inline_blocks(&self) -> Vec<(u64, Arc<Vec<Record>>)> {
        self.lock_inline()
            .iter()
            .map(|(id, r)| (*id, Arc::clone(r)))
            .collect()
    }

    /// Makes `records`, carried by a journal frame (an `InlineBlock` op), readable as block
    /// `id` until a checkpoint writes them out: after a commit that wrote the frame, and
    /// during a replay of it. Returns them shared, for the syncer to write out.
    pub(crate) fn register_inline(&self, id: u64, records: Vec<Record>) -> Arc<Vec<Record>> {
        let records = Arc::new(records);
        let mut inline = self.lock_inline();
        inline.insert(id, Arc::clone(&records));
        self.has_inline
            .store(true, std::sync::atomic::Ordering::Release);
        records
    }

    /// Forgets inline blocks once their files exist (after a checkpoint).
    pub(crate) fn clear_inline(&self) {
        let mut inline = self.lock_inline();
        inline.clear();
        self.has_inline
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// The records of published block `id`. The first read checks the whole file (magic,
    /// version, ID, length, CRC) on a copy read with read(2) and answers from that copy,
    /// which is kept for the reads that follow while it is one of the last
    /// [`RECENT_COPIES`]; a read after that maps the file (its check stands: published
    /// blocks never change). A block read in one burst, as a sorted run of lookups after a
    /// reopen does, so leaves nothing mapped, and one read often is mapped once. A block
    /// this handle wrote is checked at its first read too, but on the mapping, which it
    /// keeps: the writer just learned those records and reads them back.
    fn published(&self, id: u64) -> Result<Records<'static>> {
        let count = match self.lock_cache().by_id.get(&id) {
            Some(Known::Mapped(block)) => return Ok(Records::Mapped(Arc::clone(block))),
            Some(Known::Copied(bytes, _)) => return Ok(Records::Copied(Arc::clone(bytes))),
            Some(Known::Checked(count)) => FirstRead::Done(*count),
            Some(Known::Written) => FirstRead::Written,
            None => FirstRead::Pending,
        };
        // (Not inside the `match`: its lock guard lives to the end of it.)
        if let FirstRead::Written = count {
            // A block that fails on the mapping takes the copy's path below, whose error is
            // the one every reader reports (an empty file cannot even be mapped).
            if let Ok(records) = self.map_checked(id) {
                return Ok(records);
            }
        }
        let count = match count {
            FirstRead::Done(count) => count,
            FirstRead::Written | FirstRead::Pending => {
                let (bytes, count) = self.check(id, &block_path(&self.dir, id))?;
                let bytes = Arc::new(bytes);
                self.remember(id, Known::Copied(Arc::clone(&bytes), count));
                return Ok(Records::Copied(bytes));
            }
        };
        let path = block_path(&self.dir, id);
        let mapping = self
            .vfs
            .map_block(&path)
            .map_err(Error::io("mmap block", &path))?;
        // Comparing lengths, not bytes, keeps the mapping's pages untouched; published
        // blocks never change, so a length change means a foreign writer.
        let expected = BLOCK_HEADER_SIZE + count * uidcache_format::RECORD_SIZE;
        if mapping.bytes().len() != expected {
            let changed = std::io::Error::other("block file changed size after it was checked");
            return Err(Error::io("map block", &path)(changed));
        }
        let block = Arc::new(MappedBlock { mapping, count });
        self.remember(id, Known::Mapped(Arc::clone(&block)));
        Ok(Records::Mapped(block))
    }

    /// Maps block `id` and checks all of it on the mapping.
    fn map_checked(&self, id: u64) -> Result<Records<'static>> {
        let path = block_path(&self.dir, id);
        let mapping = self
            .vfs
            .map_block(&path)
            .map_err(Error::io("mmap block", &path))?;
        let count = checked_count(mapping.bytes(), id, self.cache_id(), &path)?;
        let block = Arc::new(MappedBlock { mapping, count });
        self.remember(id, Known::Mapped(Arc::clone(&block)));
        Ok(Records::Mapped(block))
    }

    /// Reads block `id` with read(2) and checks all of it, returning its bytes and its
    /// record count.
    fn check(&self, id: u64, path: &Path) -> Result<(Vec<u8>, usize)> {
        // Through read(2), not the mapping: reading mapped pages would make the whole block
        // resident in this process, while a lookup needs one page of it.
        let bytes = self.vfs.read(path).map_err(Error::io("read block", path))?;
        let count = checked_count(&bytes, id, self.cache_id(), path)?;
        Ok((bytes, count))
    }

    fn remember(&self, id: u64, known: Known) {
        self.lock_cache().insert(id, known);
    }

    /// Forgets cached mappings and copies of blocks that are about to be unlinked.
    pub(crate) fn evict(&self, id: u64) {
        self.lock_cache().remove(id);
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, KnownBlocks> {
        // A panic while holding this lock cannot leave the map inconsistent (plain inserts).
        self.mapped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes a new block file (write, fsync when durable, rename). The caller fsyncs the
    /// blocks directory before any index or journal refers to it.
    pub(crate) fn write_block(
        &self,
        fs: &Fs,
        id: u64,
        records: &[Record],
        durable: bool,
    ) -> Result<()> {
        publish_block(fs, &self.dir, id, records, self.cache_id(), durable)?;
        // Not remembered as checked: its first read checks the CRC like any other handle's.
        // The bytes in the page cache are the ones written, but a long-lived writer's pages
        // are evicted and read back from the disk, where a bad sector or a misdirected write
        // must be an error, not a wrong answer (format-spec/GUARANTEES.md).
        self.remember(id, Known::Written);
        Ok(())
    }
}

/// Writes block `id` of the cache `cache_id` in `dir` through a temporary file (fsynced when
/// `durable`) and a rename. The caller fsyncs the blocks directory before any index or
/// journal refers to it.
pub(crate) fn publish_block(
    fs: &Fs,
    dir: &Path,
    id: u64,
    records: &[Record],
    cache_id: u64,
    durable: bool,
) -> Result<()> {
    fs.replace_file(
        &block_path(dir, id),
        &encode_block(id, records, cache_id),
        durable,
    )
}

/// The record count of block file `path`, whose whole content is `bytes`, once every check
/// of the format passes (magic, version, ID, identity, length, CRC; a short file included).
fn checked_count(bytes: &[u8], id: u64, cache_id: u64, path: &Path) -> Result<usize> {
    Ok(parse_block(bytes, id, cache_id)
        .map_err(|e| Error::corrupt(path, e))?
        .len())
}

impl RecordSource for BlockStore {
    fn records(&self, id: u64) -> Result<Records<'_>> {
        if self.has_inline.load(std::sync::atomic::Ordering::Acquire) {
            if let Some(records) = self.lock_inline().get(&id) {
                return Ok(Records::Inline(Arc::clone(records)));
            }
        }
        self.published(id)
    }

    fn map_at_next_read(&self, id: u64) {
        self.lock_cache().drop_copy(id);
    }

    fn block_file(&self, id: u64) -> PathBuf {
        block_path(&self.dir, id)
    }
}

/// Blocks written by the open transaction and not yet published, read through to the store.
#[derive(Clone, Copy)]
pub(crate) struct WithPending<'a> {
    pub(crate) store: &'a BlockStore,
    pub(crate) pending: &'a [(u64, Vec<Record>)],
}

impl RecordSource for WithPending<'_> {
    fn records(&self, id: u64) -> Result<Records<'_>> {
        match self.pending.iter().find(|(pid, _)| *pid == id) {
            Some((_, records)) => Ok(Records::Borrowed(records)),
            None => self.store.records(id),
        }
    }

    fn map_at_next_read(&self, id: u64) {
        self.store.map_at_next_read(id);
    }

    fn block_file(&self, id: u64) -> PathBuf {
        self.store.block_file(id)
    }
}
