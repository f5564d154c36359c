//! The yardsticks beside the peers (a plain file written with as many fsyncs, one
//! fdatasync per commit) and the memory probe that runs in a fresh process.

use crate::peers::PeerKind;
use crate::rng::Rng;
use crate::BenchError;

/// The memory workload, meant to run in a fresh process (the peak is the process's): open
/// the peer's store in `dir`, read the first and the `last` record and 1,000 random ones, and
/// return the process's peak RSS in bytes.
pub fn probe_rss(
    kind: PeerKind,
    dir: &std::path::Path,
    last: u32,
    seed: u64,
) -> Result<u64, BenchError> {
    let mut rng = Rng::new(seed);
    let mut peer = kind.open(dir, true)?;
    peer.get(1)?;
    peer.get(last)?;
    for _ in 0..1_000 {
        peer.get(1 + rng.below(u64::from(last.max(1))) as u32)?;
    }
    crate::rss::process_peak().ok_or(BenchError::Format("no /proc/self/status"))
}

/// Appends `messages` 16-byte records to one file in `commits` writes, spreading `fsyncs`
/// fsyncs over them.
pub(super) fn plain_file_fill(
    path: &std::path::Path,
    messages: u32,
    commits: u64,
    fsyncs: u64,
) -> Result<(), BenchError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    let per_commit = (messages as usize).div_ceil(commits.max(1) as usize);
    let chunk = vec![0x5Au8; per_commit * uidcache_format::RECORD_SIZE];
    let mut synced = 0;
    for c in 0..commits {
        file.write_all(&chunk)?;
        let due = fsyncs * (c + 1) / commits.max(1);
        while synced < due {
            file.sync_data()?;
            synced += 1;
        }
    }
    Ok(())
}

/// `commits` appends of 32 bytes to one file, each followed by fdatasync.
pub(super) fn fsync_floor(path: &std::path::Path, commits: usize) -> Result<(), BenchError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    for _ in 0..commits {
        file.write_all(&[0x5A; 32])?;
        file.sync_data()?;
    }
    Ok(())
}
