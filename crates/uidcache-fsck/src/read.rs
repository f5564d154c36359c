//! Reading one file of the cache, with its outcomes told apart: bytes to check; a file that
//! is missing or is not a regular file (findings about the directory); and a read that
//! failed (EIO, EACCES, ...), which proves nothing about the file and so is never damage: it
//! stops the check and the repair with an I/O error.

use std::io::ErrorKind;
use std::path::Path;

use uidcache_engine::tools::{NotARegularFile, PathKind, Vfs};
use uidcache_engine::{Error as EngineError, ErrorKind as EngineErrorKind};

use crate::error::{FsckError, Result};

/// What reading a file of the cache found.
pub(crate) enum Read {
    /// The whole file.
    Bytes(Vec<u8>),
    /// Nothing at the path.
    Missing,
    /// A directory, FIFO, device, socket or symbolic link where a file belongs.
    NotAFile(NotARegularFile),
}

/// Reads `dir/rel` through `vfs`.
///
/// The type is looked at first with lstat: a FIFO is never opened (that would wait for a
/// writer forever) and a symbolic link never followed (it can lead out of the cache, into
/// another one).
pub(crate) fn read(vfs: &dyn Vfs, dir: &Path, rel: &Path) -> Result<Read> {
    let path = dir.join(rel);
    match vfs.kind(&path).map_err(FsckError::io("stat", &path))? {
        PathKind::Missing => return Ok(Read::Missing),
        kind => {
            if let Some(found) = kind.not_a_file() {
                return Ok(Read::NotAFile(found));
            }
        }
    }
    match vfs.read(&path) {
        Ok(bytes) => Ok(Read::Bytes(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Read::Missing),
        Err(e) => match NotARegularFile::of(&e) {
            Some(found) => Ok(Read::NotAFile(found)),
            None => Err(FsckError::io("read", &path)(e)),
        },
    }
}

/// An engine error met while replaying, split: a failed read is an I/O error that stops the
/// survey; the rest is a finding about the files. A missing file is a finding, and so is a
/// path through something that is not a directory (`blocks` a regular file: ENOTDIR).
pub(crate) fn finding(e: EngineError) -> Result<EngineError> {
    let stops = matches!(
        e.kind(),
        EngineErrorKind::Io { source, .. }
            if !matches!(source.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
    );
    if !stops {
        return Ok(e);
    }
    match e.into_kind() {
        EngineErrorKind::Io { op, path, source } => Err(FsckError::Io { op, path, source }),
        other => Ok(other.into()),
    }
}
