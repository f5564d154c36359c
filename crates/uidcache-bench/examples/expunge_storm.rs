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

use std::collections::BTreeMap;
use std::time::Instant;

use uidcache_engine::{Cache, Durability, OpenOptions, Stats, Update};

const STORM: u32 = 10_000;

/// A deterministic draw below `n` (an LCG), so that runs compare.
fn draws(seed: u64) -> impl FnMut(u32) -> u32 {
    let mut x = seed;
    move |n| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 33) % u64::from(n.max(1))) as u32
    }
}

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

/// p50, p99, p99.9 and max of `secs`, in ms.
fn quantiles(mut secs: Vec<f64>) -> String {
    secs.sort_by(f64::total_cmp);
    let q = |p: f64| secs[((secs.len() - 1) as f64 * p) as usize] * 1e3;
    format!(
        "p50 {:.4} p99 {:.4} p99.9 {:.4} max {:.3} ms",
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0)
    )
}

fn fill(cache: &mut Cache, uids: &[u32], draw: &mut impl FnMut(u32) -> u32) {
    let n = uids.len() as u32;
    let mut ranges: Vec<u32> = (0..n).step_by(2_000).collect();
    for i in (1..ranges.len()).rev() {
        ranges.swap(i, draw(i as u32 + 1) as usize);
    }
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(n).unwrap();
    tx.commit().unwrap();
    for &s in &ranges {
        let e = (s + 2_000).min(n);
        let mut tx = cache.transaction().unwrap();
        tx.learn_range(s + 1, &uids[s as usize..e as usize])
            .unwrap();
        tx.commit().unwrap();
    }
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
    let mut uids = Vec::with_capacity(n as usize);
    let mut next = 0u32;
    for _ in 0..n {
        next += 1 + draw(3);
        uids.push(next);
    }
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
    let perf = std::env::var("STORM_PERF").ok().map(|out| {
        let pid = std::process::id().to_string();
        let child = std::process::Command::new("perf")
            .args(["record", "-g", "-F", "4000", "-o", &out, "-p", &pid])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        child
    });
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
    if let Some(mut child) = perf {
        let pid = child.id().to_string();
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        child.wait().unwrap();
    }
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
