//! The `mixed_day` VANISHED commit (issue 12) against the least any engine with this block
//! format must do for it: after a reopen, a `VANISHED (EARLIER)` of 1% of the UIDs, spread
//! over the mailbox, names a UID in nearly every block, and a block's UIDs are known only
//! once the block has been read and its CRC checked (FORMAT.md 3: the CRC covers the whole
//! block). The floor here is that read and check alone, for every block file, through one
//! reused buffer: no lookup, no removal, no journal, no allocation.
//!
//! ```sh
//! cargo run --release -p uidcache-bench --example vanished_floor -- 1000000
//! cargo run --release -p uidcache-bench --example vanished_floor -- 10000000
//! cargo run --release -p uidcache-bench --example vanished_floor -- 1000000 dense
//! ```
//!
//! By default the UIDs have gaps, so that no slice is dense and every removal reads its
//! block. With `dense` they are `1..=N`, as a mailbox that never lost a message has them:
//! every slice is then dense (FORMAT.md 6.4) and a removal needs no block read, so the
//! floor printed (a read of every block) is what the commit no longer pays.
//!
//! Each round fills nothing again: it copies the filled cache, reopens the copy, times one
//! commit of `remove_uids` (the IMAP layer's way of applying a VANISHED set), then times
//! the floor over the copy's block files (in the page cache, as after the reopen).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a measuring tool"
)]

use std::io::Read;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::{Duration, Instant};

use uidcache_engine::{Cache, Durability, OpenOptions};

const ROUNDS: usize = 5;

/// The bench's kind of UIDs: ascending with gaps, so that no slice is dense; or, when
/// `dense`, consecutive ones.
fn uids(messages: u32, dense: bool) -> Vec<u32> {
    if dense {
        return (1..=messages).collect();
    }
    (1..=messages).map(|k| 3 * k + (k % 2)).collect()
}

fn fill(dir: &Path, uids: &[u32]) {
    let mut cache = OpenOptions::new()
        .create(true)
        .durability(Durability::NoSync)
        .open(dir)
        .unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(uids.len() as u32).unwrap();
    for (k, chunk) in uids.chunks(10_000).enumerate() {
        tx.learn_range(k as u32 * 10_000 + 1, chunk).unwrap();
    }
    tx.commit().unwrap();
    cache.close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("blocks")).unwrap();
    for sub in ["", "blocks"] {
        for e in std::fs::read_dir(from.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
}

/// Reads and CRC-checks every block file of `dir`; returns the time, files and bytes.
fn floor(dir: &Path) -> (Duration, usize, usize) {
    let files: Vec<_> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0;
    let mut check = 0u32;
    let start = Instant::now();
    for path in &files {
        let mut file = std::fs::File::open(path).unwrap();
        let mut n = 0;
        loop {
            let got = file.read(&mut buf[n..]).unwrap();
            if got == 0 {
                break;
            }
            n += got;
        }
        check ^= crc32fast::hash(&buf[..n]);
        bytes += n;
    }
    let took = start.elapsed();
    std::hint::black_box(check);
    (took, files.len(), bytes)
}

fn main() {
    let messages: u32 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let dense = std::env::args().nth(2).is_some_and(|s| s == "dense");
    let root = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let filled = root.path().join("filled");
    let all = uids(messages, dense);
    fill(&filled, &all);
    // 1% of the UIDs, spread evenly with a seeded jitter, as single-UID ranges.
    let step = 100u64;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let gone: Vec<RangeInclusive<u32>> = (0..all.len() as u64 / step)
        .map(|k| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let u = all[(k * step + seed % step) as usize];
            u..=u
        })
        .collect();
    println!(
        "{messages} messages ({}), VANISHED of {} UIDs after a reopen",
        if dense {
            "dense UIDs"
        } else {
            "UIDs with gaps"
        },
        gone.len()
    );
    for round in 0..ROUNDS {
        let dir = root.path().join(format!("round{round}"));
        copy_dir(&filled, &dir);
        let mut cache = OpenOptions::new()
            .durability(Durability::NoSync)
            .open(&dir)
            .unwrap();
        let start = Instant::now();
        let mut tx = cache.transaction().unwrap();
        let removed = tx.remove_uids(&gone).unwrap();
        let remove = start.elapsed();
        tx.commit().unwrap();
        let commit = start.elapsed();
        assert_eq!(removed.placed, gone.len() as u64);
        drop(cache);
        // A large index closes in the background, unlinking dead blocks: let it finish
        // before the floor lists them.
        uidcache_engine::wait_for_close(&dir);
        let (read, files, bytes) = floor(&dir);
        println!(
            "round {round}: commit {:.2} ms (remove_uids {:.2}); floor (read + CRC of {files} block files, {:.1} MiB) {:.2} ms; commit/floor {:.2}",
            commit.as_secs_f64() * 1e3,
            remove.as_secs_f64() * 1e3,
            bytes as f64 / f64::from(1 << 20),
            read.as_secs_f64() * 1e3,
            commit.as_secs_f64() / read.as_secs_f64(),
        );
        let _ = Cache::open(&dir).map(drop);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
