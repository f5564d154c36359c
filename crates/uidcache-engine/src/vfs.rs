//! The file-operations seam: every open, write, fsync, rename, unlink and mmap of the engine
//! (and of `uidcache-fsck`'s repair) goes through [`Vfs`]. Production uses [`StdVfs`], a
//! direct call per operation (one virtual call next to a system call); crash tests plug in a
//! simulated file system that records operations and loses unsynced ones the ways POSIX
//! allows.

use std::any::Any;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

pub use crate::mmap::BlockBytes;
use crate::mmap::Mapping;

/// An open file the engine writes to.
pub trait VfsFile: Send + Sync {
    /// Writes all of `bytes` at `offset`.
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// Cuts or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// `fdatasync`: the file's data is on stable storage when this returns `Ok`.
    fn sync_data(&self) -> io::Result<()>;
}

/// A lock held until dropped.
pub type LockGuard = Box<dyn Any + Send + Sync>;

/// The file operations of the engine. Paths are those of a mailbox directory.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether a file or directory exists.
    fn exists(&self, path: &Path) -> bool;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates (or truncates) a file, writes `bytes`, and returns it open for syncing.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<Box<dyn VfsFile>>;
    /// Opens an existing file for writing.
    fn open_file(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// Renames a file, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Unlinks a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// `fsync` of a directory: its entries (creates, renames, unlinks) are durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Length of a file.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Maps a whole published block file read-only.
    fn map_block(&self, path: &Path) -> io::Result<Box<dyn BlockBytes>>;
    /// Takes an exclusive lock on `path` (created if missing); `None` when another holder has it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>>;
    /// Whether `path` itself is a symbolic link (not followed). A file system without links
    /// (the default) answers `false`.
    fn is_symlink(&self, _path: &Path) -> bool {
        false
    }
    /// What stands at `path`, without following a symbolic link (`lstat`): repair looks
    /// before it reads or replaces, so that it never opens a FIFO or writes through a link.
    fn kind(&self, path: &Path) -> io::Result<PathKind>;
}

/// What stands at a path, seen without following a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Nothing.
    Missing,
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// Anything else: a symbolic link, FIFO, device or socket.
    Other(NotARegularFile),
}

impl PathKind {
    /// The kind of an entry of type `kind`.
    pub fn of(kind: fs::FileType) -> PathKind {
        match NotARegularFile::from_type(kind) {
            None => PathKind::File,
            Some(_) if kind.is_dir() => PathKind::Directory,
            Some(found) => PathKind::Other(found),
        }
    }

    /// What stands where a regular file belongs, when it is not one (a directory included);
    /// `None` for a file or nothing.
    pub fn not_a_file(self) -> Option<NotARegularFile> {
        match self {
            PathKind::Missing | PathKind::File => None,
            PathKind::Directory => Some(NotARegularFile { kind: "directory" }),
            PathKind::Other(found) => Some(found),
        }
    }
}

/// What stands where the cache expects a regular file (a FIFO, a device, a directory, a
/// socket), carried inside the `io::Error` that [`StdVfs`] returns instead of reading it.
///
/// It is a finding about the directory, not a failed read: the engine reports it as
/// corruption of that path ([`crate::ErrorKind::Corrupt`]) and `uidcache-fsck` as damage. A
/// [`Vfs`] of tests can return it too, through [`NotARegularFile::into_io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotARegularFile {
    /// What the path is instead: "FIFO", "directory", "character device", ...
    pub kind: &'static str,
}

impl fmt::Display for NotARegularFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}, not a regular file", self.kind)
    }
}

impl std::error::Error for NotARegularFile {}

impl NotARegularFile {
    /// The `io::Error` that carries it.
    pub fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// The finding inside `e`, when `e` carries one.
    pub fn of(e: &io::Error) -> Option<NotARegularFile> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<NotARegularFile>())
            .copied()
    }

    /// The finding for a path of type `kind`; `None` for a regular file.
    pub fn from_type(kind: fs::FileType) -> Option<NotARegularFile> {
        let kind = if kind.is_file() {
            return None;
        } else if kind.is_dir() {
            "directory"
        } else if kind.is_fifo() {
            "FIFO"
        } else if kind.is_char_device() {
            "character device"
        } else if kind.is_block_device() {
            "block device"
        } else if kind.is_socket() {
            "socket"
        } else if kind.is_symlink() {
            "symbolic link"
        } else {
            "special file"
        };
        Some(NotARegularFile { kind })
    }

    fn check(kind: fs::FileType) -> io::Result<()> {
        match NotARegularFile::from_type(kind) {
            None => Ok(()),
            Some(found) => Err(found.into_io()),
        }
    }
}

/// Opens `path` for reading only if it is a regular file.
///
/// Opening a FIFO for reading waits for a writer, forever if none comes, and opening a
/// device can have side effects: the type is checked before the open (stat), and again on
/// the open file (fstat), since the name can be replaced in between. `O_NONBLOCK` makes the
/// open of a FIFO swapped in at that moment return at once, so the second check refuses it
/// instead of hanging; on a regular file the flag changes nothing. Returns the file and
/// its length, from that fstat.
pub(crate) fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    NotARegularFile::check(fs::metadata(path)?.file_type())?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    NotARegularFile::check(meta.file_type())?;
    Ok((file, meta.len()))
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdVfs;

struct StdFile(File);

impl VfsFile for StdFile {
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(bytes, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Vfs for StdVfs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let (file, len) = open_regular(path)?;
        // The length the open saw sizes the buffer (one byte more, so that the read that
        // finds the end needs no growth); `File`'s own `read_to_end` would ask the kernel
        // again (a statx and an lseek, a fifth of a small block's first read). A file that
        // grew meanwhile is still read to its end.
        let len = usize::try_from(len).unwrap_or(0);
        let mut bytes = Vec::with_capacity(len.saturating_add(1));
        (&file).take(u64::MAX).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<Box<dyn VfsFile>> {
        // O_NOFOLLOW: a symbolic link left at a temporary name must not redirect the write
        // out of the cache (the rename that follows replaces a link at the final name itself).
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        file.write_all(bytes)?;
        Ok(Box::new(StdFile(file)))
    }

    fn open_file(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(StdFile(
            OpenOptions::new().read(true).write(true).open(path)?,
        )))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            // Names are almost always UTF-8: take the string without a second copy.
            let name = entry?.file_name();
            names.push(
                name.into_string()
                    .unwrap_or_else(|name| name.to_string_lossy().into_owned()),
            );
        }
        Ok(names)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn map_block(&self, path: &Path) -> io::Result<Box<dyn BlockBytes>> {
        let (file, len) = open_regular(path)?;
        Ok(Box::new(Mapping::map_block_file(&file, len)?))
    }

    fn is_symlink(&self, path: &Path) -> bool {
        path.is_symlink()
    }

    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        match fs::symlink_metadata(path) {
            Ok(meta) => Ok(PathKind::of(meta.file_type())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(PathKind::Missing),
            Err(e) => Err(e),
        }
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(file))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}
