//! Errors that stop `check` or `repair` altogether (problems in the files are not errors:
//! they go into the [`crate::Report`]).

use std::path::PathBuf;

/// Why a cache directory could not be checked or repaired at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsckError {
    /// A file or directory could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Repair will not touch the directory as it is (for instance `blocks/` is a symbolic
    /// link, whose files may be another cache's); nothing was changed.
    #[error("{path}: {reason}; nothing was changed")]
    Refused {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A writer holds the cache's lock; repair never runs beside a writer.
    #[error("{path} is locked by a writer; close it before repairing")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

impl From<uidcache_engine::Error> for FsckError {
    /// An error of the engine's file protocol (`uidcache_engine::tools`), which fails with
    /// an I/O error or on the lock only; anything else is kept as its text, on no path.
    fn from(e: uidcache_engine::Error) -> FsckError {
        use uidcache_engine::ErrorKind;
        match e.into_kind() {
            ErrorKind::Io { op, path, source } => FsckError::Io { op, path, source },
            ErrorKind::Locked { path } => FsckError::Locked { path },
            other => FsckError::Io {
                op: "write",
                path: PathBuf::new(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

impl FsckError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> FsckError {
        let path = path.into();
        move |source| FsckError::Io { op, path, source }
    }
}

/// Result of this crate's calls.
pub type Result<T, E = FsckError> = std::result::Result<T, E>;
