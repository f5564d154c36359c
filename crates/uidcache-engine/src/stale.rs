//! Reads that never fail because the writer moved on. A reader's snapshot names blocks that
//! the writer's next checkpoint may unlink (blocks are immutable and never reused, so the
//! newest state is always readable); a read that finds one gone refreshes to the newest
//! snapshot and starts over.

use crate::cache::Cache;
use crate::dirfs::BLOCKS_DIR;
use crate::error::{Error, ErrorKind};
use crate::view::View;

/// How many times [`Cache::read`] starts over before it reports the stale snapshot (a
/// writer that checkpoints faster than a read completes, over and over).
const READ_ATTEMPTS: usize = 50;

/// An error that may mean "the snapshot this read used is gone": implemented by the
/// engine's [`Error`] and by errors that wrap it, so that [`Cache::read`] can retry reads
/// that return them.
pub trait StaleSnapshot {
    /// Whether the read failed because a writer unlinked a block its snapshot named.
    fn is_stale_snapshot(&self) -> bool;
}

impl StaleSnapshot for Error {
    fn is_stale_snapshot(&self) -> bool {
        self.is_stale()
    }
}

/// Code that writes through `std::io::Write` (a dump) carries engine errors inside
/// `std::io::Error`.
impl StaleSnapshot for std::io::Error {
    fn is_stale_snapshot(&self) -> bool {
        self.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
            .is_some_and(Error::is_stale)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::other(e)
    }
}

impl Error {
    /// Whether this is a reader's snapshot gone stale: a block file the snapshot names was
    /// unlinked by the writer's checkpoint. [`Cache::refresh`] and reading again answers it;
    /// [`Cache::read`] does that by itself.
    pub fn is_stale(&self) -> bool {
        match self.kind() {
            ErrorKind::Io { source, path, .. } => {
                source.kind() == std::io::ErrorKind::NotFound
                    && path
                        .parent()
                        .and_then(|p| p.file_name())
                        .is_some_and(|n| n == BLOCKS_DIR)
            }
            _ => false,
        }
    }
}

impl Cache {
    /// Runs `read` on the committed state and returns its result. When it fails because a
    /// writer's checkpoint unlinked a block of this handle's snapshot, the handle refreshes
    /// to the newest state and runs `read` again, so a reader beside a compacting writer
    /// never fails for that reason. `read` may therefore run more than once: it should
    /// only compute its result.
    pub fn read<T, E>(&mut self, mut read: impl FnMut(&View<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: StaleSnapshot + From<Error>,
    {
        let mut attempt = 0;
        loop {
            match read(&self.view()) {
                Err(e) if e.is_stale_snapshot() && attempt < READ_ATTEMPTS => {
                    attempt += 1;
                    self.refresh()?;
                }
                other => return other,
            }
        }
    }
}
