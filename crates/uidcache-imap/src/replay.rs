//! Replaying a transcript (`C: ` / `S: ` lines) into a cache, committing at every tagged
//! completion and at the end of the input.

use uidcache_engine::{Cache, Durability};

use crate::error::{Error, LineError};
use crate::session::{Session, Step};

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Lines read.
    pub lines: u64,
    /// Commit points passed (tagged completions and the end of input).
    pub commits: u64,
}

/// Replays `input` (a whole transcript) into `cache`. On error the cache stays at the last
/// commit point and the error names the line. A last line without a line terminator is torn
/// input: not applied, an error. The end of the input is a commit point, except inside a
/// SELECT/EXAMINE whose completion never came (see [`Session::finish`]).
pub fn replay(
    cache: &mut Cache,
    input: &[u8],
    durability: Durability,
) -> Result<ReplayStats, LineError> {
    let mut session = Session::new();
    let mut stats = ReplayStats::default();
    let engine = |line: u64| {
        move |e: uidcache_engine::Error| LineError {
            line,
            source: e.into(),
        }
    };
    let mut tx = cache.transaction().map_err(engine(0))?;
    let mut last = 0;
    // What follows the last line terminator is a line only if it is empty: anything else
    // was cut short (a `VANISHED 1000:1002` torn to `1000:1` would remove 1,000 messages).
    let mut lines = input.split(|b| *b == b'\n').peekable();
    let mut i = 0usize;
    while let Some(raw) = lines.next() {
        i += 1;
        let pos = i as u64;
        if lines.peek().is_none() {
            if raw.is_empty() {
                break;
            }
            return Err(LineError {
                line: pos,
                source: Error::TornLine,
            });
        }
        last = pos;
        stats.lines = pos;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) || line.first() == Some(&b'#') {
            continue;
        }
        if let Some(cmd) = line.strip_prefix(b"C: ") {
            session.command(&mut tx, cmd)?;
        } else if let Some(resp) = line.strip_prefix(b"S: ") {
            if session.response(&mut tx, pos, resp)? == Step::Commit {
                tx.commit_with(durability).map_err(engine(pos))?;
                stats.commits += 1;
                tx = cache.transaction().map_err(engine(pos))?;
            }
        } else {
            return Err(LineError {
                line: pos,
                source: Error::BadLine,
            });
        }
    }
    if session.finish() == Step::Commit {
        tx.commit_with(durability).map_err(engine(last))?;
        stats.commits += 1;
    }
    Ok(stats)
}
