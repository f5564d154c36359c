//! The only `unsafe` in the engine: mapping published block files read-only, and pinned
//! pointers to their records for the read index.

use std::any::Any;
use std::fs::File;
use std::io;
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};
use uidcache_format::Record;

/// A read-only mapping of a whole, published block file.
pub(crate) struct Mapping {
    map: Mmap,
}

impl Mapping {
    /// Maps the first `len` bytes of `file`, which must be a published block file whose
    /// length the caller just read from `file.metadata()`.
    pub(crate) fn map_block_file(file: &File, len: u64) -> io::Result<Mapping> {
        let len =
            usize::try_from(len).map_err(|_| io::Error::other("block file too large to map"))?;
        if len == 0 {
            return Err(io::Error::other("empty file cannot be mapped"));
        }
        // SAFETY: `Mmap` hands out `&[u8]` over the file, which is sound only while nothing
        // changes or shrinks those bytes. Block files are written under a temporary name and
        // renamed into place only when complete (blocks.rs `write_block`); after that no code
        // of this library opens them for writing: the writer process (the only one, by the
        // lock file) creates new block IDs and unlinks dead ones, and unlinking leaves existing
        // mappings intact. So the bytes of a published block never change, and `len` was read
        // from this open file, so every mapped page is backed (no SIGBUS). Other processes of
        // this library only map read-only. A foreign program that truncates a block file
        // breaks this argument; format-spec/FORMAT.md ("Who may write what") states the rule.
        let map = unsafe { MmapOptions::new().len(len).map(file)? };
        Ok(Mapping { map })
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// Records borrowed from an owner that keeps them in place, as a pointer and a length: a
/// read through it costs two loads instead of a walk through the owner (reference count,
/// boxed mapping, virtual call, header and length checks) on every lookup.
pub(crate) struct PinnedRecords {
    ptr: *const Record,
    len: usize,
    /// Keeps the records' memory alive and unchanged; only ever read through `ptr`.
    _owner: Arc<dyn Any + Send + Sync>,
}

// SAFETY: a `PinnedRecords` is a shared borrow of `[Record]` plus an `Arc` of a `Send + Sync`
// owner. `Record` is plain bytes (no interior mutability), so sharing or sending the borrow
// between threads is as safe as sharing `&[Record]`, which is `Send + Sync`.
unsafe impl Send for PinnedRecords {}
// SAFETY: as for `Send` above.
unsafe impl Sync for PinnedRecords {}

impl PinnedRecords {
    /// Pins the records that `records` borrows from `owner`. A plain `fn` (no closure) can
    /// only return memory of its argument or `'static` memory.
    pub(crate) fn new<O: Send + Sync + 'static>(
        owner: Arc<O>,
        records: for<'a> fn(&'a O) -> &'a [Record],
    ) -> PinnedRecords {
        let slice = records(&owner);
        let (ptr, len) = (slice.as_ptr(), slice.len());
        PinnedRecords {
            ptr,
            len,
            _owner: owner,
        }
    }

    /// The records `start..start + len` of these, pinned by the same owner; `None` when
    /// they do not lie inside.
    pub(crate) fn narrow(self, start: usize, len: usize) -> Option<PinnedRecords> {
        let sub = self.get().get(start..start.checked_add(len)?)?;
        let (ptr, len) = (sub.as_ptr(), sub.len());
        // Inside the records pinned by `_owner`, so `get`'s argument holds for these too.
        Some(PinnedRecords {
            ptr,
            len,
            _owner: self._owner,
        })
    }

    /// The pinned records.
    #[inline]
    pub(crate) fn get(&self) -> &[Record] {
        // SAFETY: `ptr` and `len` come from a `&[Record]` that `records` (in `new`) borrowed
        // from `*owner`, so they are valid for reads and aligned for as long as `*owner` lives
        // and is not changed. `_owner` keeps it alive at least as long as `self`, and at the
        // same address (an `Arc`'s value never moves). Nothing can change it: `Arc` gives out
        // only shared references while this clone exists, and the owners pinned here
        // (`MappedBlock`, `Vec<Record>`) have no interior mutability; a mapped block's
        // bytes never change while mapped (see `Mapping::map_block_file`). The returned
        // borrow is tied to `&self`, so it cannot outlive `_owner`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}
