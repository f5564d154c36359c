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
/// commit point and the error names the line.
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
    for (i, raw) in input.split(|b| *b == b'\n').enumerate() {
        let pos = i as u64 + 1;
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
    session.finish(&mut tx)?;
    tx.commit_with(durability).map_err(engine(last))?;
    stats.commits += 1;
    Ok(stats)
}
