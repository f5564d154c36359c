//! The only `unsafe` in the engine: mapping published block files read-only.

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapOptions};

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
