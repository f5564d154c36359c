//! A file system that fails chosen reads: the real one (`StdVfs`), except that reading,
//! mapping or listing a path ending in one of the given suffixes fails with the given OS
//! error (EIO, EACCES, ...), as a bad sector, a flaky network file system or a permission
//! change does. Tests run as root, where chmod does not deny reads; this does.
//!
//! Shared by the root tests, the fsck tests and the CLI's unit tests (through `#[path]`).
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test code; each test binary uses a different part"
)]

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use uidcache_engine::tools::{BlockBytes, LockGuard, PathKind, StdVfs, Vfs, VfsFile};

/// EIO.
pub const EIO: i32 = 5;
/// EACCES.
pub const EACCES: i32 = 13;

/// `StdVfs` with injected read failures.
#[derive(Debug, Default)]
pub struct FaultVfs {
    fail: Mutex<Vec<(String, i32)>>,
    /// Every path passed to `read`, in order.
    reads: Mutex<Vec<String>>,
    /// Every path passed to `map_block`, in order.
    maps: Mutex<Vec<String>>,
    /// The background syncer's directory fsyncs wait while this is set (`hold_syncer`).
    held: Mutex<bool>,
    released: Condvar,
    /// Directory fsyncs the background syncer began (past any hold).
    syncer_dir_syncs: Mutex<u64>,
}

/// The name of the engine's background syncer thread (`crate::syncer` in the engine).
const SYNCER_THREAD: &str = "uidcache-sync";

impl FaultVfs {
    /// A file system that fails nothing yet.
    pub fn new() -> Arc<FaultVfs> {
        Arc::new(FaultVfs::default())
    }

    /// Every read of a path ending in `suffix` fails with OS error `errno` from now on.
    pub fn fail_reads(&self, suffix: &str, errno: i32) {
        self.fail.lock().unwrap().push((suffix.to_string(), errno));
    }

    /// How many times a path ending in `suffix` was read with `Vfs::read`.
    pub fn reads_of(&self, suffix: &str) -> usize {
        self.reads
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.ends_with(suffix))
            .count()
    }

    /// How many times a path ending in `suffix` was mapped with `Vfs::map_block`.
    pub fn maps_of(&self, suffix: &str) -> usize {
        self.maps
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.ends_with(suffix))
            .count()
    }

    /// From now on (`true`) or no longer (`false`), a directory fsync on the engine's
    /// background syncer thread waits until the hold is released: every later job of the
    /// syncer waits behind it, as behind a slow disk.
    pub fn hold_syncer(&self, hold: bool) {
        *self.held.lock().unwrap() = hold;
        self.released.notify_all();
    }

    /// Directory fsyncs the background syncer has begun so far (past any hold).
    pub fn syncer_dir_syncs(&self) -> u64 {
        *self.syncer_dir_syncs.lock().unwrap()
    }

    fn check(&self, path: &Path) -> io::Result<()> {
        let path = path.to_string_lossy();
        match self
            .fail
            .lock()
            .unwrap()
            .iter()
            .find(|(suffix, _)| path.ends_with(suffix.as_str()))
        {
            Some((_, errno)) => Err(io::Error::from_raw_os_error(*errno)),
            None => Ok(()),
        }
    }
}

impl Vfs for FaultVfs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.reads
            .lock()
            .unwrap()
            .push(path.to_string_lossy().into_owned());
        self.check(path)?;
        StdVfs.read(path)
    }
    fn exists(&self, path: &Path) -> bool {
        StdVfs.exists(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdVfs.create_dir_all(path)
    }
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<Box<dyn VfsFile>> {
        StdVfs.write_file(path, bytes)
    }
    fn open_file(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        StdVfs.open_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdVfs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdVfs.remove_file(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.check(path)?;
        StdVfs.list_dir(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if std::thread::current().name() != Some(SYNCER_THREAD) {
            return StdVfs.sync_dir(path);
        }
        let mut held = self.held.lock().unwrap();
        while *held {
            held = self.released.wait(held).unwrap();
        }
        // Counted while the hold's lock is taken: a sync that got past the hold before
        // `hold_syncer(true)` is then counted before a test can read the count (counted
        // after the fsync, a slow disk let it land after the read, and look like a held job
        // that ran).
        *self.syncer_dir_syncs.lock().unwrap() += 1;
        drop(held);
        StdVfs.sync_dir(path)
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.check(path)?;
        StdVfs.file_len(path)
    }
    fn map_block(&self, path: &Path) -> io::Result<Box<dyn BlockBytes>> {
        self.maps
            .lock()
            .unwrap()
            .push(path.to_string_lossy().into_owned());
        self.check(path)?;
        StdVfs.map_block(path)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        StdVfs.try_lock(path)
    }
    fn is_symlink(&self, path: &Path) -> bool {
        StdVfs.is_symlink(path)
    }
    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        StdVfs.kind(path)
    }
}
