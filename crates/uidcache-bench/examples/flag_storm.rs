//! The bench's durable `flag_storm` on its own: where the time of its 101 commits goes
//! (BENCHMARKS.md, "Durable flag storms after placed runs").
//!
//! ```sh
//! cargo run --release -p uidcache-bench --example flag_storm -- 1000000 3
//! # perf of the storms alone (not the fill):
//! FLAG_PERF=/tmp/flag.data cargo run --release -p uidcache-bench --example flag_storm
//! # with call graphs (a build with debug info):
//! FLAG_PERF=/tmp/flag.data FLAG_PERF_DWARF=1 CARGO_PROFILE_RELEASE_DEBUG=true \
//!     cargo run --release -p uidcache-bench --example flag_storm
//! ```
//!
//! The mailbox is made as the bench makes it (UIDs with gaps, learned in ranges of 2,000 in
//! random order, a commit each), then the handle is reopened with durable commits and
//! storms of 100,000 random FLAGS+MODSEQ changes, a commit per 1,000, are timed one after
//! the other, each on what the last one left (the bench's `flag_storm` is the first). Each
//! storm prints its wall time and this thread's CPU time (the fsyncs wait on a shared disk;
//! the CPU time is the steadier figure), and the commits that ran a checkpoint.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a measuring tool"
)]

mod common;

use std::time::Instant;

use common::{draws, fill, quantiles};
use uidcache_engine::{Durability, OpenOptions, Stats, Update};

const UPDATES: u32 = 100_000;

/// The bench's flag values mapped to flag names.
const FLAG_SETS: [&[&[u8]]; 4] = [&[b"\\Seen"], &[b"\\Seen", b"\\Flagged"], &[b"$Junk"], &[]];

/// This thread's CPU time so far, in seconds (0 where /proc does not say): the storm's own
/// work, without the fsync waits that make wall time noisy.
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

fn counters(s: &Stats) -> [u64; 3] {
    [s.fsyncs, s.compactions, s.checkpoints]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().map_or(1_000_000, |s| s.parse().unwrap());
    let storms: u32 = args.next().map_or(3, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let open = |durability| {
        OpenOptions::new()
            .create(true)
            .durability(durability)
            .open(dir.path())
            .unwrap()
    };
    let mut draw = draws(0x9E37_79B9_7F4A_7C15);
    let (uids, _) = common::mailbox(n, &mut draw);
    // Durable, as the bench fills: the layout its commits and steps leave.
    fill(&mut open(Durability::Durable), &uids, &mut draw);
    let mut cache = open(Durability::Durable);
    // With FLAG_PERF=FILE, perf records this process during the storms only.
    // FLAG_PERF_DWARF=1 adds call graphs (and perf's own load: it loses samples).
    let perf = match std::env::var("FLAG_PERF_DWARF") {
        Ok(_) => common::perf_start("FLAG_PERF", &["-q", "-F", "20000", "--call-graph", "dwarf"]),
        Err(_) => common::perf_start("FLAG_PERF", &["-q", "-F", "20000"]),
    };
    let mut modseq = 1u64;
    for round in 0..storms {
        let updates: Vec<(u32, usize)> = (0..UPDATES)
            .map(|_| (1 + draw(n), draw(4) as usize))
            .collect();
        let before = counters(&cache.stats());
        let mut lat = Vec::with_capacity(101);
        // The commits (from 0) that ran a checkpoint.
        let mut at = Vec::new();
        let cpu = thread_cpu();
        let start = Instant::now();
        for batch in updates.chunks(1_000) {
            let checkpoints = cache.stats().checkpoints;
            let t = Instant::now();
            let mut tx = cache.transaction().unwrap();
            for &(seq, flags) in batch {
                let update = Update {
                    flags: Some(FLAG_SETS[flags]),
                    modseq: Some(modseq),
                };
                tx.update_seq(seq, update).unwrap();
                modseq += 1;
            }
            tx.commit().unwrap();
            lat.push(t.elapsed().as_secs_f64());
            if cache.stats().checkpoints > checkpoints {
                at.push(lat.len() - 1);
            }
        }
        // The bench's last, empty commit.
        cache.transaction().unwrap().commit().unwrap();
        let total = start.elapsed().as_secs_f64();
        let cpu = thread_cpu() - cpu;
        let after = counters(&cache.stats());
        println!(
            "storm {round}: {total:.4} s, cpu {cpu:.4} s; {}; fsyncs {} steps {} checkpoints {} at {at:?}",
            quantiles(lat),
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2],
        );
    }
    common::perf_stop(perf);
    // Not before the storms: `layout` reads every placed slice, which the bench does not.
    println!("placed slices {}", cache.layout().placed_entries);
    let t = Instant::now();
    drop(cache);
    println!("close {:.4} s", t.elapsed().as_secs_f64());
}
