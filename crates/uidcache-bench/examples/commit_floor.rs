//! What one durable one-expunge commit costs, against the cost of one bare `fdatasync` on the
//! same disk: uidcache, SQLite (WAL, `synchronous=FULL`) and a plain file (32-byte append and
//! `fdatasync`), in interleaved rounds so that the disk's drift hits all three alike.
//!
//! ```sh
//! cargo run --release -p uidcache-bench --example commit_floor              # all three
//! cargo run --release -p uidcache-bench --example commit_floor -- 100000 2000 sqlite
//! strace -f -c -e trace=fsync,fdatasync -- target/release/examples/commit_floor 100000 2000 sqlite
//! ```
//!
//! The arguments are the mailbox size, the number of timed commits, and optionally one peer
//! (`uidcache`, `sqlite` or `plainfile`) so that `strace -c` counts that peer's sync calls
//! alone (the setup fills without syncing, so nearly every sync counted is a commit's).
#![allow(clippy::unwrap_used, missing_docs, reason = "a measuring tool")]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use uidcache_bench::peers::{Peer, PeerKind};

const ROUNDS: usize = 4;

fn fill(kind: PeerKind, dir: &Path, messages: u32) -> Box<dyn Peer> {
    let mut p = kind.open(dir, false).unwrap();
    p.set_exists(messages).unwrap();
    p.commit().unwrap();
    let uids: Vec<u32> = (1..=messages).map(|k| 2 * k).collect();
    for (k, chunk) in uids.chunks(2_000).enumerate() {
        p.learn_range(k as u32 * 2_000 + 1, chunk).unwrap();
        p.commit().unwrap();
    }
    drop(p);
    // Reopened with durable commits for the timed part.
    kind.open(dir, true).unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let messages: u32 = args.next().map_or(100_000, |s| s.parse().unwrap());
    let commits: usize = args.next().map_or(2_000, |s| s.parse().unwrap());
    let only = args.next();
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let root = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();

    let mut uidcache =
        wants("uidcache").then(|| fill(PeerKind::Uidcache, &root.path().join("u"), messages));
    let mut sqlite =
        wants("sqlite").then(|| fill(PeerKind::Sqlite, &root.path().join("s"), messages));
    let mut plain =
        wants("plainfile").then(|| std::fs::File::create(root.path().join("plain")).unwrap());

    let per_round = commits.div_ceil(ROUNDS);
    let (mut t_u, mut t_s, mut t_p) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut exists = messages;
    let syncs_before = uidcache.as_ref().and_then(|p| p.fsyncs());
    for _ in 0..ROUNDS {
        if let Some(file) = plain.as_mut() {
            let start = Instant::now();
            for _ in 0..per_round {
                file.write_all(&[0x5A; 32]).unwrap();
                file.sync_data().unwrap();
            }
            t_p += start.elapsed();
        }
        for (peer, total) in [(&mut uidcache, &mut t_u), (&mut sqlite, &mut t_s)] {
            let Some(p) = peer.as_mut() else { continue };
            let start = Instant::now();
            for k in 0..per_round as u32 {
                // Spread over the mailbox, each one a commit of its own.
                p.expunge(1 + (k * 7_919) % (exists - k)).unwrap();
                p.commit().unwrap();
            }
            *total += start.elapsed();
        }
        exists -= per_round as u32;
    }
    let n = (per_round * ROUNDS) as f64;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n;
    println!(
        "{messages} messages, {} durable one-expunge commits each",
        per_round * ROUNDS
    );
    if plain.is_some() {
        println!(
            "plainfile (32-byte append + fdatasync): {:8.1} us per commit",
            us(t_p)
        );
    }
    for (name, peer, total) in [("uidcache", &uidcache, t_u), ("sqlite", &sqlite, t_s)] {
        if peer.is_none() {
            continue;
        }
        let ratio = if plain.is_some() {
            us(total) / us(t_p)
        } else {
            f64::NAN
        };
        println!(
            "{name:<38}  {:8.1} us per commit, {ratio:.2}x the bare fdatasync",
            us(total)
        );
    }
    if let (Some(p), Some(before)) = (&uidcache, syncs_before) {
        let after = p.fsyncs().unwrap_or(before);
        println!(
            "uidcache fsyncs per commit: {:.2}",
            (after - before) as f64 / n
        );
    }
    if uidcache.is_some() && sqlite.is_some() {
        println!("sqlite/uidcache: {:.2}x", us(t_s) / us(t_u));
    }
}
