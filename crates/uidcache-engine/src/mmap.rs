//! The only `unsafe` in the engine: mapping published block files read-only, and pinned
//! pointers to their records for the read index.

use std::any::Any;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};

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
        //
        // `populate` maps every page now: a block is mapped only when it is about to be read
        // (its second read, or a writer's first read of a block it wrote), and the kernel's
        // fault-around would map the whole small file on that first touch anyway; populating
        // saves the page fault. Residency is the same.
        let map = unsafe { MmapOptions::new().len(len).populate().map(file)? };
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

/// The pinned records of the placed slices and, for every bucket of `1 << shift` sequence
/// numbers that lies inside one pinned slice, a pointer to the bucket's first record. A
/// lookup in such a bucket is then two dependent loads (pointer, record), close to an
/// index into a plain array.
pub(crate) struct PinnedSlices {
    shift: u32,
    slices: Vec<OnceLock<PinnedRecords>>,
    /// Bucket `b` holds sequence numbers `(b << shift) + 1 ..= (b + 1) << shift`; null until
    /// `pin` points it into the pinned slice that holds all of them. Not the address of the
    /// bucket's first record but that address moved back by `b << shift` records, so that
    /// a lookup adds the whole index instead of masking it first (one instruction and one
    /// load fewer on every read); only ever dereferenced after adding an index of bucket `b`.
    buckets: Vec<AtomicPtr<Record>>,
}

impl PinnedSlices {
    /// Room for `slices` slices and `buckets` buckets of `1 << shift` sequence numbers.
    pub(crate) fn new(slices: usize, shift: u32, buckets: usize) -> PinnedSlices {
        PinnedSlices {
            shift,
            slices: (0..slices).map(|_| OnceLock::new()).collect(),
            buckets: (0..buckets)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        }
    }

    /// The records of slice `i`, once pinned.
    #[inline]
    pub(crate) fn slice(&self, i: usize) -> Option<&[Record]> {
        Some(self.slices.get(i)?.get()?.get())
    }

    /// Pins `records` as slice `i`, whose first record has sequence number `seq`, and points
    /// every bucket that lies inside it at its records. `false` when slice `i` was pinned
    /// already (or does not exist).
    pub(crate) fn pin(&self, i: usize, seq: u32, records: PinnedRecords) -> bool {
        let Some(cell) = self.slices.get(i) else {
            return false;
        };
        if cell.set(records).is_err() {
            return false;
        }
        let Some(records) = cell.get().map(PinnedRecords::get) else {
            return false;
        };
        let size = 1usize << self.shift;
        let first = seq as usize;
        // The first bucket that starts at or after `seq`.
        let mut b = (first.saturating_sub(1)).div_ceil(size);
        while let (Some(slot), Some(run)) = (
            self.buckets.get(b),
            (b * size + 1)
                .checked_sub(first)
                .and_then(|from| records.get(from..from + size)),
        ) {
            // Wrapping arithmetic keeps the pointer's provenance; `record` adds back at
            // least `b << shift`. A result of null (an address below the offset) would read
            // as "not pinned": the bucket is then left to the slow path.
            let base = run.as_ptr().wrapping_sub(b * size);
            if !base.is_null() {
                slot.store(base.cast_mut(), Ordering::Release);
            }
            b += 1;
        }
        true
    }

    /// The record of sequence number `index + 1` when its bucket lies inside a pinned slice.
    /// A reference, not a copy: the caller reads the fields it needs straight from the
    /// mapping, which keeps the lookup free of stores (a loop of lookups overlaps the cache
    /// misses of as many lookups as the CPU's store and reorder buffers hold).
    #[inline(always)]
    pub(crate) fn record(&self, index: usize) -> Option<&Record> {
        let base = self
            .buckets
            .get(index >> self.shift)?
            .load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        let record = base.wrapping_add(index);
        // SAFETY: a non-null pointer in bucket `b = index >> shift` was stored by `pin` as
        // `run.wrapping_sub(b << shift)`, where `run` starts a run of `1 << shift` records
        // inside a `PinnedRecords` that `pin` had stored in `self.slices` just before. So
        // `record` is `run` plus `index - (b << shift)`, which is below `1 << shift`: it lies
        // in the run, and has `run`'s provenance (wrapping arithmetic keeps it). A `OnceLock`
        // keeps its value until it is dropped (nothing here takes it out through `&self`), so
        // those records stay valid and unchanged while `&self` lives (see
        // `PinnedRecords::get`), and the returned borrow of `&self` cannot outlive them. The
        // Acquire load pairs with `pin`'s Release store, so the pinned value behind the
        // pointer is visible to this thread. `Record` has alignment 1 (zerocopy `Unaligned`)
        // and no interior mutability, so any address in the run is a valid `&Record`.
        Some(unsafe { &*record })
    }
}
