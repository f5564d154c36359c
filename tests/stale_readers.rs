//! Readers never fail because the writer moved on: while a writer expunges, compacts and
//! checkpoints (unlinking blocks that older snapshots name), readers that refresh and read
//! the whole state with `Cache::read` see every read succeed, each one a committed state.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::Rng;
use uidcache::{Cache, Durability, OpenOptions};

const READS: u64 = 10_000;
const READERS: u64 = 4;

#[test]
fn ten_thousand_reads_beside_a_compacting_writer_never_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let options = OpenOptions::new().durability(Durability::NoSync);
    let mut writer = Cache::open_with(&dir, options).unwrap();
    let n = 40_000u32;
    let mut tx = writer.transaction().unwrap();
    tx.set_exists(n).unwrap();
    tx.learn_range(1, &(1..=n).collect::<Vec<_>>()).unwrap();
    tx.commit().unwrap();
    writer.checkpoint().unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let unlinks = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (dir, done, failures) = (dir.clone(), Arc::clone(&done), Arc::clone(&failures));
            std::thread::spawn(move || {
                let mut cache = Cache::open_read_only(&dir).unwrap();
                for _ in 0..READS / READERS {
                    cache.refresh().unwrap();
                    let r = cache.read(|v| {
                        let placed = v.placed_messages()?;
                        Ok::<_, uidcache::Error>((v.exists(), placed.len()))
                    });
                    match r {
                        // A committed state: every message placed (the writer expunges
                        // placed messages only and keeps the count in step).
                        Ok((exists, placed)) => assert_eq!(exists, Some(placed as u32)),
                        Err(e) => {
                            eprintln!("read failed: {e}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                done.store(true, Ordering::Relaxed);
            })
        })
        .collect();
    // Expunges split slices; compaction rewrites the small ones into new blocks and the
    // checkpoint unlinks the old ones, under the readers' feet.
    let mut rng = Rng::new(5);
    let blocks = dir.join(uidcache::tools::BLOCKS_DIR);
    let count_blocks = || std::fs::read_dir(&blocks).unwrap().count() as u64;
    while !done.load(Ordering::Relaxed) {
        let before = count_blocks();
        let mut tx = writer.transaction().unwrap();
        for _ in 0..20 {
            let count = tx.view().exists().unwrap();
            if count > 1000 {
                tx.expunge(1 + rng.below(u64::from(count)) as u32).unwrap();
            }
        }
        tx.commit().unwrap();
        writer.compact().unwrap();
        writer.checkpoint().unwrap();
        unlinks.fetch_add(before.saturating_sub(count_blocks()), Ordering::Relaxed);
    }
    for r in readers {
        r.join().unwrap();
    }
    assert!(
        unlinks.load(Ordering::Relaxed) > 0,
        "the writer never unlinked a block: the test proved nothing"
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0, "reads failed");
}
