//! Read-only inspection of a mailbox state for tools such as `uidcache-fsck`: replay a
//! journal one frame at a time onto an index image and look at the result as an index image.
//!
//! Nothing here writes a file or takes the lock; it only reads block files, like a reader.

use std::path::{Path, PathBuf};

use uidcache_format::{IndexImage, Op};

use crate::blocks::BlockStore;
use crate::dirfs::INDEX_FILE;
use crate::error::Result;
use crate::image::{from_image, to_image};
use crate::state::State;

/// A mailbox state being replayed frame by frame, for inspection.
///
/// Each frame is applied with the engine's own `State::replay`, so what this shows is what
/// [`crate::Cache::open_read_only`] would load.
pub struct Replay {
    dir: PathBuf,
    state: State,
    store: BlockStore,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// Starts from `image`, the decoded index of the mailbox directory `dir`, after checking
    /// the index rules (FORMAT.md 4.8). Errors name `dir/index`. Block files are read from
    /// `dir/blocks` only when an op needs them.
    pub fn from_index(dir: &Path, image: IndexImage) -> Result<Replay> {
        Self::from_index_with(dir, image, std::sync::Arc::new(crate::vfs::StdVfs))
    }

    /// [`Replay::from_index`], reading block files through `vfs` (tests inject read
    /// failures there, to check that tools tell a failed read from damage).
    pub fn from_index_with(
        dir: &Path,
        image: IndexImage,
        vfs: std::sync::Arc<dyn crate::vfs::Vfs>,
    ) -> Result<Replay> {
        let state = from_image(image, &dir.join(INDEX_FILE))?;
        let store = BlockStore::new(dir, vfs);
        // Blocks of another cache are damage here as in the engine (FORMAT.md 1.5).
        store.set_cache_id(state.cache_id);
        Ok(Replay {
            dir: dir.to_path_buf(),
            state,
            store,
        })
    }

    /// Applies the ops of one frame, all or nothing: on `Err` the state is what it was
    /// before the call. A refused op is `ErrorKind::Invalid`; a missing or damaged block is an
    /// I/O or corruption error naming the block file.
    pub fn apply_frame(&mut self, ops: &[Op]) -> Result<()> {
        let before = self.state.clone();
        for op in ops {
            if let Err(e) = self.state.replay(op, &self.store) {
                self.state = before;
                return Err(e);
            }
        }
        Ok(())
    }

    /// The current state as the index image a checkpoint of `generation` would write.
    pub fn image(&self, generation: u64) -> IndexImage {
        to_image(&self.state, generation)
    }
}
