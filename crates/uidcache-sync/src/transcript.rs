//! The session written in the replay format of `uidcache replay` (`C: ` and `S: ` lines),
//! so that replaying it into an empty cache gives the same dump as the sync did.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A transcript file being written.
pub(crate) struct Transcript {
    out: BufWriter<File>,
    path: PathBuf,
}

impl Transcript {
    /// Appends to `path` (created if missing): a resumed or repeated sync adds its session
    /// after the earlier ones, and the whole file still replays in order.
    pub(crate) fn open(path: &Path) -> Result<Transcript> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Transcript {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Transcript {
            out: BufWriter::new(file),
            path: path.to_path_buf(),
        })
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Transcript {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// A client line (the command without CRLF, secrets already replaced).
    pub(crate) fn client(&mut self, line: &[u8]) -> Result<()> {
        let r = self
            .out
            .write_all(b"C: ")
            .and_then(|()| self.out.write_all(line))
            .and_then(|()| self.out.write_all(b"\n"));
        r.map_err(|e| self.io(e))
    }

    /// A server message without its final CRLF. The replay format has one line per
    /// response, so a response carrying a literal (which contains line breaks) is recorded
    /// as a comment: the commands `uidcache sync` sends are answered without literals.
    pub(crate) fn server(&mut self, message: &[u8]) -> Result<()> {
        let r = if message.contains(&b'\n') {
            let first = message.split(|b| *b == b'\n').next().unwrap_or(message);
            writeln!(
                self.out,
                "# a {}-byte response with a literal, not replayable: {}",
                message.len(),
                crate::error::printable(first)
            )
        } else {
            self.out
                .write_all(b"S: ")
                .and_then(|()| self.out.write_all(message))
                .and_then(|()| self.out.write_all(b"\n"))
        };
        r.map_err(|e| self.io(e))
    }

    /// A comment line (connection events), ignored by replay.
    pub(crate) fn note(&mut self, text: &str) -> Result<()> {
        let r = writeln!(self.out, "# {text}");
        r.map_err(|e| self.io(e))
    }

    /// Makes what was written reach the file; called at every cache commit so that the
    /// transcript never lags behind the cache by more than the current command.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let r = self.out.flush();
        r.map_err(|e| self.io(e))
    }
}
