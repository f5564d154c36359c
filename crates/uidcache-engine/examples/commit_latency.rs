//! Foreground work per commit and at close (issue 12): fills a mailbox of N messages, then
//! plays expunges, flag changes and a resync (1% VANISHED + 1% flags in one commit) and
//! reports the slowest commits, the resync and the close, with their fsyncs.
//!
//! `cargo run --release -p uidcache-engine --example commit_latency -- 1000000 [nosync]`

use std::time::Instant;

use uidcache_engine::{Cache, Durability, OpenOptions, Update};

/// A small deterministic generator (xorshift), so that runs compare.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let durability = match args.next().as_deref() {
        Some("nosync") => Durability::NoSync,
        _ => Durability::Durable,
    };
    let dir = tempfile::tempdir()?;
    let options = OpenOptions::new().durability(durability);
    let mut cache = Cache::open_with(dir.path(), options.clone())?;
    let mut tx = cache.transaction()?;
    tx.set_exists(n)?;
    let uids: Vec<u32> = (1..=n).collect();
    for (k, chunk) in uids.chunks(100_000).enumerate() {
        tx.learn_range(1 + 100_000 * k as u32, chunk)?;
    }
    tx.commit()?;
    cache.checkpoint()?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut exists = n;
    let mut times: Vec<f64> = Vec::new();
    let mut worst_fsyncs = 0;
    // 20,000 one-expunge commits and 20,000 one-flag commits, interleaved.
    for k in 0..40_000u64 {
        let before = cache.stats().fsyncs;
        let start = Instant::now();
        let mut tx = cache.transaction()?;
        let seq = 1 + rng.below(u64::from(exists)) as u32;
        if k % 2 == 0 {
            tx.expunge(seq)?;
            exists -= 1;
        } else {
            tx.update_seq(
                seq,
                Update {
                    flags: Some(&[b"\\Seen"]),
                    modseq: Some(k + 2),
                },
            )?;
        }
        tx.commit()?;
        times.push(start.elapsed().as_secs_f64());
        worst_fsyncs = worst_fsyncs.max(cache.stats().fsyncs - before);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let k = ((times.len() - 1) as f64 * q) as usize;
        times.get(k).copied().unwrap_or(0.0) * 1e3
    };
    println!(
        "{n} messages, {:?}: 40,000 small commits: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms, most fsyncs {worst_fsyncs}",
        durability,
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
    // The resync: 1% VANISHED and 1% flag changes in one commit.
    let one_percent = (exists / 100).max(1);
    let before = cache.stats();
    let start = Instant::now();
    let mut tx = cache.transaction()?;
    for _ in 0..one_percent {
        let uid = 1 + rng.below(u64::from(n)) as u32;
        tx.remove_uid(uid)?;
    }
    let now = tx.view().exists().unwrap_or(0);
    for i in 0..one_percent {
        let seq = 1 + rng.below(u64::from(now)) as u32;
        tx.update_seq(
            seq,
            Update {
                flags: Some(&[b"\\Flagged"]),
                modseq: Some(100_000 + u64::from(i)),
            },
        )?;
    }
    tx.commit()?;
    let after = cache.stats();
    println!(
        "resync: {:.3} ms, {} fsyncs, {} checkpoints, {} records compacted",
        start.elapsed().as_secs_f64() * 1e3,
        after.fsyncs - before.fsyncs,
        after.checkpoints - before.checkpoints,
        after.compacted_records - before.compacted_records
    );
    // A thousand more small commits, so that the close has a journal to checkpoint.
    for k in 0..1_000u64 {
        let mut tx = cache.transaction()?;
        let seq = 1 + rng.below(u64::from(now)) as u32;
        tx.update_seq(
            seq,
            Update {
                flags: Some(&[b"\\Seen"]),
                modseq: Some(200_000 + k),
            },
        )?;
        tx.commit()?;
    }
    let layout = cache.layout();
    let start = Instant::now();
    cache.close()?;
    println!(
        "close: {:.3} ms ({} index entries, overlay {}, journal {} bytes)",
        start.elapsed().as_secs_f64() * 1e3,
        layout.placed_entries + layout.unplaced_entries,
        layout.overlay,
        layout.journal_bytes
    );
    Ok(())
}
