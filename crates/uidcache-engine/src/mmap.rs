//! All of the engine's `unsafe` code: mapping published block files read-only, the
//! [`BlockBytes`] contract that a mapping (or any other source of block bytes) keeps, and
//! pinned pointers to records for the read index.

use std::any::Any;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};

use memmap2::{Mmap, MmapOptions};
use uidcache_format::Record;

/// Read-only bytes of a whole published block file (a mapping, in production).
///
/// # Safety
///
/// The engine checks a block's bytes once (magic, length, CRC) and trusts them afterwards,
/// and its read index keeps pointers into the slice that [`bytes`](BlockBytes::bytes)
/// returns after the borrow of that call has ended, for as long as it holds the value. So
/// an implementation must guarantee, for as long as the value lives:
///
/// * the slice that `bytes` returns stays valid for reads, even when no borrow of the value
///   is held, and every call returns the same bytes;
/// * nothing changes those bytes: not the value itself (no interior mutability over them),
///   not another thread, not another process. For a file mapping this means the file is
///   never written, truncated or extended while mapped (a truncated mapping raises `SIGBUS`
///   on the next read of a page past the new end).
///
/// Bytes that the value owns and never changes (a `Vec<u8>` or `Box<[u8]>` field no method
/// touches) meet both points.
pub unsafe trait BlockBytes: Send + Sync {
    /// The file's bytes.
    fn bytes(&self) -> &[u8];
}

/// A read-only mapping of a whole, published block file.
pub(crate) struct Mapping {
    map: Mmap,
}

impl Mapping {
    /// Maps all of `file`, a published block file that must be `expected_len` bytes long
    /// (the length the caller read from it): a file of another length is an error, never
    /// a mapping with pages past the end of the file.
    pub(crate) fn map_block_file(file: &File, expected_len: u64) -> io::Result<Mapping> {
        let actual = file.metadata()?.len();
        if actual != expected_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("block file is {actual} bytes, not the {expected_len} expected"),
            ));
        }
        let len =
            usize::try_from(actual).map_err(|_| io::Error::other("block file too large to map"))?;
        if len == 0 {
            return Err(io::Error::other("empty file cannot be mapped"));
        }
        // SAFETY: `Mmap` hands out `&[u8]` over the file, which is sound only while nothing
        // changes or shrinks those bytes. Block files are written under a temporary name and
        // renamed into place only when complete (blocks.rs `write_block`); after that no code
        // of this library opens them for writing: the writer process (the only one, by the
        // lock file) creates new block IDs and unlinks dead ones, and unlinking leaves existing
        // mappings intact. So the bytes of a published block never change, and `len` is the
        // length of this open file as fstat reported it just now (checked above), so every
        // mapped page is backed (no SIGBUS). Other processes of
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

// SAFETY: `bytes` returns the whole mapping, the same on every call; `Mmap` unmaps only when
// dropped, so the slice stays valid while the value lives, and the argument in
// `map_block_file` is why those bytes never change.
unsafe impl BlockBytes for Mapping {
    fn bytes(&self) -> &[u8] {
        Mapping::bytes(self)
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
        // bytes stay valid and unchanged while its `BlockBytes` lives (the trait's safety
        // contract, which `_owner` keeps alive). The returned
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Records with UIDs `first..first + n`, owned by an `Arc` as the read index pins them.
    fn owned(first: u32, n: u32) -> Arc<Vec<Record>> {
        Arc::new((first..first + n).map(|u| Record::new(u, 0, 0)).collect())
    }

    fn uids(records: &[Record]) -> Vec<u32> {
        records.iter().map(|r| r.uid.get()).collect()
    }

    // Miri cannot map files (it supports only anonymous mappings): these run under the
    // AddressSanitizer build of tools/ub-check.sh and in every plain test run.
    #[cfg(not(miri))]
    mod files {
        use super::super::*;
        use std::io::Write;

        fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
            let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
            tmp.write_all(bytes).expect("write");
            tmp.flush().expect("flush");
            let file = File::open(tmp.path()).expect("open");
            (tmp, file)
        }

        #[test]
        fn a_mapping_holds_the_whole_file() {
            let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
            let (_tmp, file) = file_with(&bytes);
            let map = Mapping::map_block_file(&file, bytes.len() as u64).expect("map");
            assert_eq!(map.bytes(), &bytes[..]);
            let as_trait: Box<dyn BlockBytes> = Box::new(map);
            assert_eq!(as_trait.bytes(), &bytes[..]);
            // Every call gives the same slice (the trait's contract).
            assert_eq!(as_trait.bytes().as_ptr(), as_trait.bytes().as_ptr());
        }

        #[test]
        fn a_file_shorter_or_longer_than_expected_is_an_error_not_a_mapping() {
            let (_tmp, file) = file_with(&[7; 100]);
            for expected in [101, 4096, 1 << 20, u64::MAX, 99, 1] {
                let err = Mapping::map_block_file(&file, expected)
                    .err()
                    .unwrap_or_else(|| panic!("{expected} bytes expected, 100 mapped"));
                assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{expected}: {err}");
                assert!(err.to_string().contains("100 bytes"), "{err}");
            }
        }

        #[test]
        fn an_empty_file_is_an_error() {
            let (_tmp, file) = file_with(&[]);
            assert!(Mapping::map_block_file(&file, 0).is_err());
        }

        #[test]
        fn a_mapping_outlives_the_unlink_of_its_file() {
            let (tmp, file) = file_with(&[9; 64]);
            let map = Mapping::map_block_file(&file, 64).expect("map");
            drop(file);
            tmp.close().expect("unlink");
            assert!(map.bytes().iter().all(|b| *b == 9));
        }

        #[test]
        fn pinned_records_of_a_mapping_read_the_file() {
            let records: Vec<Record> = (1..=64).map(|u| Record::new(u, u, 0)).collect();
            let bytes = zerocopy::IntoBytes::as_bytes(&records[..]).to_vec();
            let (_tmp, file) = file_with(&bytes);
            let map = Arc::new(Mapping::map_block_file(&file, bytes.len() as u64).expect("map"));
            fn records_of(m: &Mapping) -> &[Record] {
                <[Record] as zerocopy::FromBytes>::ref_from_bytes(m.bytes()).unwrap_or_default()
            }
            let pinned = PinnedRecords::new(map, records_of);
            assert_eq!(pinned.get(), &records[..]);
            let slices = PinnedSlices::new(1, 3, 8);
            assert!(slices.pin(0, 1, pinned));
            for i in 0..64 {
                assert_eq!(slices.record(i).map(|r| r.uid.get()), Some(i as u32 + 1));
            }
        }
    }

    #[test]
    fn pinned_records_read_their_owner_and_narrow_only_inside_it() {
        let pinned = PinnedRecords::new(owned(10, 8), Vec::as_slice);
        assert_eq!(uids(pinned.get()), (10..18).collect::<Vec<_>>());
        let narrowed = pinned.narrow(2, 3).expect("inside");
        assert_eq!(uids(narrowed.get()), [12, 13, 14]);
        let empty = narrowed.narrow(3, 0).expect("the empty end is inside");
        assert!(empty.get().is_empty());
        for (start, len) in [(0, 9), (8, 1), (9, 0), (usize::MAX, 2), (1, usize::MAX)] {
            let pinned = PinnedRecords::new(owned(10, 8), Vec::as_slice);
            assert!(pinned.narrow(start, len).is_none(), "{start}+{len}");
        }
    }

    #[test]
    fn pinned_records_keep_their_owner_alive() {
        let owner = owned(1, 4);
        let weak = Arc::downgrade(&owner);
        let pinned = PinnedRecords::new(owner, Vec::as_slice);
        assert!(weak.upgrade().is_some());
        assert_eq!(uids(pinned.get()), [1, 2, 3, 4]);
        drop(pinned);
        assert!(weak.upgrade().is_none(), "the owner outlived its pin");
    }

    #[test]
    fn buckets_inside_a_pinned_slice_answer_and_others_do_not() {
        // Buckets of 4 sequence numbers; slice 0 holds seq 3..=14, slice 1 holds 17..=24.
        let slices = PinnedSlices::new(2, 2, 8);
        assert!(slices.record(0).is_none(), "nothing pinned yet");
        assert!(slices.pin(0, 3, PinnedRecords::new(owned(103, 12), Vec::as_slice)));
        assert!(slices.pin(1, 17, PinnedRecords::new(owned(217, 8), Vec::as_slice)));
        // Buckets 1..=8 (bucket 1) and 9..=12 (bucket 2) lie inside slice 0; bucket 0
        // (1..=4) and bucket 3 (13..=16) do not; buckets 4 and 5 lie inside slice 1.
        let at = |seq: usize| slices.record(seq - 1).map(|r| r.uid.get());
        for seq in 1..=4 {
            assert_eq!(at(seq), None, "seq {seq}");
        }
        for seq in 5..=12 {
            assert_eq!(at(seq), Some(100 + seq as u32), "seq {seq}");
        }
        for seq in 13..=16 {
            assert_eq!(at(seq), None, "seq {seq}");
        }
        for seq in 17..=24 {
            assert_eq!(at(seq), Some(200 + seq as u32), "seq {seq}");
        }
        for seq in 25..=40 {
            assert_eq!(at(seq), None, "seq {seq}");
        }
        assert_eq!(
            uids(slices.slice(1).expect("pinned")),
            (217..225).collect::<Vec<_>>()
        );
        assert!(slices.slice(2).is_none());
        assert!(slices.record(usize::MAX).is_none());
    }

    #[test]
    fn a_slice_is_pinned_once_and_only_where_there_is_room() {
        let slices = PinnedSlices::new(1, 2, 2);
        assert!(slices.pin(0, 1, PinnedRecords::new(owned(1, 16), Vec::as_slice)));
        assert!(!slices.pin(0, 1, PinnedRecords::new(owned(50, 16), Vec::as_slice)));
        assert!(!slices.pin(1, 1, PinnedRecords::new(owned(50, 16), Vec::as_slice)));
        // Only two buckets exist, however long the slice.
        assert_eq!(slices.record(7).map(|r| r.uid.get()), Some(8));
        assert!(slices.record(8).is_none());
    }

    #[test]
    fn readers_on_other_threads_see_what_is_pinned() {
        let slices = Arc::new(PinnedSlices::new(4, 3, 16));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let slices = Arc::clone(&slices);
                std::thread::spawn(move || {
                    // Spins until every bucket answers; each answer must be the right one.
                    let mut seen = 0;
                    while seen < 128 {
                        seen = 0;
                        for i in 0..128 {
                            if let Some(r) = slices.record(i) {
                                assert_eq!(r.uid.get(), 1000 + i as u32);
                                seen += 1;
                            }
                        }
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        for s in 0..4u32 {
            let records = PinnedRecords::new(owned(1000 + s * 32, 32), Vec::as_slice);
            assert!(slices.pin(s as usize, s * 32 + 1, records));
        }
        for r in readers {
            r.join().expect("reader");
        }
    }
}
