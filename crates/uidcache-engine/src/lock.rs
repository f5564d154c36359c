//! The writer lock: an exclusive `flock` on the `lock` file, held for the writer's life.
//!
//! We use `std::fs::File::try_lock` (stable since Rust 1.89) rather than fs2: the same
//! `flock(2)`, maintained with the standard library, one dependency fewer. (The engine is
//! Unix-only for now: the journal uses positioned writes from `std::os::unix`.) The lock is advisory and per open file description; on file
//! systems where `flock` is not enforced across machines (some NFS and SMB mounts) two
//! writers on different machines are not excluded — FORMAT.md "Locking" says so.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::vfs::{LockGuard, Vfs};

/// Takes the writer lock of the directory whose lock file is `path`, waiting up to `wait`.
pub(crate) fn lock_writer(vfs: &dyn Vfs, path: &Path, wait: Option<Duration>) -> Result<LockGuard> {
    let deadline = wait.map(|w| Instant::now() + w);
    let mut pause = Duration::from_millis(1);
    loop {
        match vfs.try_lock(path).map_err(Error::io("lock", path))? {
            Some(guard) => return Ok(guard),
            None => match deadline {
                Some(deadline) if Instant::now() < deadline => {
                    std::thread::sleep(
                        pause.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                _ => {
                    return Err(ErrorKind::Locked {
                        path: path.to_path_buf(),
                    }
                    .into())
                }
            },
        }
    }
}
