//! The bench's `expunge_storm_nosync` on its own (issue 12): where its time goes, commit by
//! commit, and the NoSync appends after it.
//!
//! ```sh
//! cargo run --release -p uidcache-bench --example expunge_storm -- 1000000
//! # perf of the storm alone (not the fill), with a build that keeps frame pointers:
//! STORM_PERF=/tmp/storm.data cargo run --release -p uidcache-bench --example expunge_storm
//! ```
//!
//! The mailbox is made as the bench makes it (UIDs with gaps, learned in ranges of 2,000 in
//! random order, 200 commits of 1,000 flag changes, a first storm of 10,000 expunges), then
//! 10,000 one-expunge NoSync commits at random positions are timed, each classed by what
//! it ran besides its change: a compaction step, a checkpoint, an fsync on this thread.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a measuring tool"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::{draws, quantiles};
use uidcache_engine::{Cache, Durability, OpenOptions, Stats, Update};

const STORM: u32 = 10_000;

/// What a commit ran besides its change, from the handle's counters around it.
fn kind(before: &Stats, after: &Stats) -> &'static str {
    match (
        after.compactions > before.compactions,
        after.checkpoints > before.checkpoints,
        after.fsyncs > before.fsyncs,
    ) {
        (_, _, true) => "with an fsync",
        (false, false, _) => "plain",
        (true, false, _) => "step",
        (false, true, _) => "checkpoint",
        (true, true, _) => "step and checkpoint",
    }
}

/// The bench's fill, then the 200 commits of 1,000 flag changes before its storms.
fn fill(cache: &mut Cache, uids: &[u32], draw: &mut impl FnMut(u32) -> u32) {
    common::fill(cache, uids, draw);
    let n = uids.len() as u32;
    for modseq in (1..=200_000u64).step_by(1_000) {
        let mut tx = cache.transaction().unwrap();
        for m in modseq..modseq + 1_000 {
            let update = Update {
                flags: Some(&[b"\\Seen"]),
                modseq: Some(m),
            };
            tx.update_seq(1 + draw(n), update).unwrap();
        }
        tx.commit().unwrap();
    }
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        OpenOptions::new()
            .create(true)
            .durability(Durability::NoSync)
            .open(dir.path())
            .unwrap()
    };
    let mut draw = draws(0x9E37_79B9_7F4A_7C15);
    let (mut uids, next) = common::mailbox(n, &mut draw);
    fill(&mut open(), &uids, &mut draw);
    let mut exists = n;
    {
        // The durable storm's changes (NoSync here: only the layout it leaves matters).
        let mut cache = open();
        for _ in 0..STORM {
            let mut tx = cache.transaction().unwrap();
            tx.expunge(1 + draw(exists)).unwrap();
            tx.commit().unwrap();
            exists -= 1;
        }
    }
    let mut cache = open();
    let seqs: Vec<u32> = (0..STORM).map(|i| 1 + draw(exists - i)).collect();
    // With STORM_PERF=FILE, perf records this process during the storm only.
    let perf = common::perf_start("STORM_PERF", &["-g", "-F", "4000"]);
    let mut kinds = BTreeMap::<&str, (usize, f64)>::new();
    let mut lat = Vec::with_capacity(seqs.len());
    let start = Instant::now();
    for &seq in &seqs {
        let before = cache.stats();
        let t = Instant::now();
        let mut tx = cache.transaction().unwrap();
        tx.expunge(seq).unwrap();
        tx.commit().unwrap();
        let secs = t.elapsed().as_secs_f64();
        lat.push(secs);
        let e = kinds.entry(kind(&before, &cache.stats())).or_default();
        e.0 += 1;
        e.1 += secs;
    }
    let total = start.elapsed().as_secs_f64();
    common::perf_stop(perf);
    println!("storm {total:.4} s; {}", quantiles(lat));
    for (k, (count, secs)) in &kinds {
        println!("  {k}: {count} commits, {secs:.4} s");
    }
    // Appends one at a time after it, as the bench's `append` (without its fsyncs).
    let mut exists = exists - STORM;
    let mut lat = Vec::with_capacity(STORM as usize);
    let start = Instant::now();
    for k in 0..STORM {
        let t = Instant::now();
        exists += 1;
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(exists).unwrap();
        tx.learn_range(exists, &[next + 1 + 2 * k]).unwrap();
        tx.commit().unwrap();
        lat.push(t.elapsed().as_secs_f64());
    }
    let total = start.elapsed().as_secs_f64();
    println!("appends {total:.4} s; {}", quantiles(lat));
    // Then a VANISHED (EARLIER) of 1% of the UIDs in one commit, as `mixed_day`'s resync,
    // on the many slices the storms left; three times, each on what the last one left.
    for _ in 0..3 {
        let mut gone: Vec<u32> = (0..exists / 100)
            .map(|_| uids[draw(uids.len() as u32) as usize])
            .collect();
        gone.sort_unstable();
        gone.dedup();
        let ranges: Vec<_> = gone.iter().map(|&u| u..=u).collect();
        let t = Instant::now();
        let mut tx = cache.transaction().unwrap();
        let removed = tx.remove_uids(&ranges).unwrap();
        tx.commit().unwrap();
        let secs = t.elapsed().as_secs_f64();
        exists -= removed.placed as u32;
        uids.retain(|u| gone.binary_search(u).is_err());
        println!("vanished {} UIDs: {:.3} ms", removed.placed, secs * 1e3);
    }
    let t = Instant::now();
    drop(cache);
    println!("close {:.4} s", t.elapsed().as_secs_f64());
}
