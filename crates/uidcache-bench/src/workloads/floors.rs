//! The yardsticks beside the peers (a plain file written with as many fsyncs, one
//! fdatasync per commit, an in-memory `Vec<u32>` of the UIDs for UID→seq) and the memory
//! probe that runs in a fresh process.

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

/// UID→seq in the fastest form a client keeps in memory: binary search of a sorted
/// `Vec<u32>` of the UIDs (what the SQLite peer rebuilds at open). Times `rounds` passes over
/// `probes` and returns the median seconds and the sum of the answers (0 when absent).
pub(super) fn vec_u32_lookups(uids: &[u32], probes: &[u32], rounds: usize) -> (f64, u64) {
    let uids = uids.to_vec();
    let mut times = Vec::with_capacity(rounds.max(1));
    let mut sum = 0u64;
    for _ in 0..rounds.max(1) {
        let start = std::time::Instant::now();
        sum = 0;
        for &u in probes {
            let seq = uids.binary_search(&u).map_or(0, |i| i as u64 + 1);
            sum = sum.wrapping_add(seq);
        }
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times.get(times.len() / 2).copied().unwrap_or(0.0), sum)
}
