//! Real processes (issue 4): a writer child doing random committed work is SIGKILLed at
//! random times, and one writer with three reader processes runs a long random workload.
//! The writer records, for every commit, a checksum of the state it commits (before the
//! commit, as "pending", and after it returns, as "done"); whoever opens the cache checks
//! that what it sees is one of those states.
//!
//! The children are this test binary run again with `UIDCACHE_CHILD` set.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::collections::HashSet;
use std::fs::OpenOptions as FileOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::Rng;
use uidcache::{Cache, Durability, ErrorKind, OpenOptions, Update, View};

/// FNV-1a over the whole visible state (flag-set IDs stand for flag sets: they are part of
/// the committed state and the same for every process).
fn checksum(view: &View<'_>) -> uidcache::Result<u64> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: u64| {
        for b in v.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for v in [
        view.uidvalidity().map(u64::from),
        view.uidnext().map(u64::from),
        view.highestmodseq(),
        view.exists().map(u64::from),
    ] {
        eat(v.map_or(u64::MAX, |v| v));
    }
    for (seq, m) in view.placed_messages()? {
        eat(u64::from(seq) << 32 | u64::from(m.uid));
        eat(m.flags.map_or(u64::MAX, |f| u64::from(f.0)));
        eat(m.modseq.unwrap_or(u64::MAX));
    }
    for m in view.unplaced_messages()? {
        eat(u64::from(m.uid));
        eat(m.flags.map_or(u64::MAX, |f| u64::from(f.0)));
        eat(m.modseq.unwrap_or(u64::MAX));
    }
    Ok(h)
}

fn writer_options() -> OpenOptions {
    OpenOptions::new()
        .journal_limit(16 << 10)
        .lock_wait(Some(Duration::from_secs(30)))
}

/// The writer child: random commits until `commits` are done, each logged.
fn writer_child(dir: &Path, log: &Path, seed: u64, commits: u64) {
    let mut log = FileOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cache = Cache::open_with(dir, writer_options()).unwrap();
    let mut rng = Rng::new(seed);
    let mut uids: Vec<u32> = cache
        .view()
        .placed_messages()
        .unwrap()
        .iter()
        .map(|(_, m)| m.uid)
        .collect();
    let mut next_uid = uids.last().copied().unwrap_or(0);
    writeln!(log, "start 0 {}", checksum(&cache.view()).unwrap()).unwrap();
    if cache.view().exists() != Some(uids.len() as u32) {
        let mut tx = cache.transaction().unwrap();
        tx.clear().unwrap();
        tx.set_exists(0).unwrap();
        let sum = checksum(&tx.view()).unwrap();
        writeln!(log, "pending 0 {sum}").unwrap();
        tx.commit().unwrap();
        writeln!(log, "done 0 {sum}").unwrap();
        uids.clear();
    }
    for n in 0..commits {
        let mut tx = cache.transaction().unwrap();
        // Fills keep the mailbox around a thousand messages, so a commit stays cheap.
        let fill = if uids.len() < 1000 { 0 } else { 4 };
        match rng.below(10).max(fill) {
            0..=3 => {
                let k = 1 + rng.below(60) as usize;
                let first = uids.len() as u32 + 1;
                for _ in 0..k {
                    next_uid += 1 + rng.below(2) as u32;
                    uids.push(next_uid);
                }
                tx.set_exists(uids.len() as u32).unwrap();
                tx.learn_range(first, &uids[first as usize - 1..]).unwrap();
            }
            4 | 5 => {
                for _ in 0..1 + rng.below(5) {
                    if !uids.is_empty() {
                        let i = rng.below(uids.len() as u64) as usize;
                        uids.remove(i);
                        tx.expunge(i as u32 + 1).unwrap();
                    }
                }
            }
            6 => {
                if !uids.is_empty() {
                    let i = rng.below(uids.len() as u64) as usize;
                    tx.remove_uid(uids.remove(i)).unwrap();
                }
            }
            _ => {
                for _ in 0..1 + rng.below(20) {
                    if !uids.is_empty() {
                        let seq = 1 + rng.below(uids.len() as u64) as u32;
                        let flags: &[&[u8]] = if rng.below(2) == 0 {
                            &[b"\\Seen"]
                        } else {
                            &[b"$Work"]
                        };
                        tx.update_seq(
                            seq,
                            Update {
                                flags: Some(flags),
                                modseq: Some(n + 1),
                            },
                        )
                        .unwrap();
                    }
                }
            }
        }
        let sum = checksum(&tx.view()).unwrap();
        writeln!(log, "pending {n} {sum}").unwrap();
        let durable = rng.below(3) == 0;
        tx.commit_with(if durable {
            Durability::Durable
        } else {
            Durability::NoSync
        })
        .unwrap();
        writeln!(log, "done {n} {sum}").unwrap();
        if rng.below(200) == 0 {
            cache.compact().unwrap();
        }
    }
}

/// A reader child: refreshes until `stop` exists, records every state checksum it saw.
fn reader_child(dir: &Path, seen: &Path, stop: &Path) {
    let mut out = FileOptions::new()
        .create(true)
        .append(true)
        .open(seen)
        .unwrap();
    let mut reader = loop {
        match Cache::open_read_only(dir) {
            Ok(r) => break r,
            Err(_) if !stop.exists() => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("reader open: {e}"),
        }
    };
    let mut last = None;
    while !stop.exists() {
        // A read can race a checkpoint that unlinked a block of an older snapshot: refresh
        // and read again, as the engine documents.
        let sum = match checksum(&reader.view()) {
            Ok(sum) => sum,
            Err(e) if matches!(e.kind(), ErrorKind::Io { .. }) => {
                reader.refresh().unwrap();
                continue;
            }
            Err(e) => panic!("reader: {e}"),
        };
        if last != Some(sum) {
            writeln!(out, "{sum}").unwrap();
            last = Some(sum);
        }
        reader.refresh().unwrap();
    }
}

/// Dispatches to a child role when this binary was started as one.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("UIDCACHE_CHILD") else {
        return;
    };
    let arg = |k: &str| std::env::var(k).unwrap();
    match role.as_str() {
        "writer" => writer_child(
            Path::new(&arg("CHILD_DIR")),
            Path::new(&arg("CHILD_LOG")),
            arg("CHILD_SEED").parse().unwrap(),
            arg("CHILD_COMMITS").parse().unwrap(),
        ),
        "reader" => reader_child(
            Path::new(&arg("CHILD_DIR")),
            Path::new(&arg("CHILD_LOG")),
            Path::new(&arg("CHILD_STOP")),
        ),
        other => panic!("unknown child role {other}"),
    }
}

fn spawn(role: &str, vars: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("UIDCACHE_CHILD", role);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::null());
    cmd.spawn().unwrap()
}

/// (pending, done) checksums per commit number, from a writer log; a torn last line ignored.
fn read_log(path: &Path) -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split(' ');
            Some((
                it.next()?.to_string(),
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn sigkilled_writers_leave_the_last_or_the_in_flight_commit() {
    let kills: u64 = std::env::var("UIDCACHE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    let mut rng = Rng::new(42);
    for round in 0..kills {
        let log: PathBuf = root.path().join(format!("log-{round}"));
        let mut child = spawn(
            "writer",
            &[
                ("CHILD_DIR", dir.display().to_string()),
                ("CHILD_LOG", log.display().to_string()),
                ("CHILD_SEED", round.to_string()),
                ("CHILD_COMMITS", "1000000".into()),
            ],
        );
        std::thread::sleep(Duration::from_millis(5 + rng.below(40)));
        child.kill().unwrap();
        child.wait().unwrap();
        let entries = read_log(&log);
        let cache = Cache::open(&dir)
            .unwrap_or_else(|e| panic!("round {round}: reopen after SIGKILL: {e}"));
        let sum = checksum(&cache.view()).unwrap();
        // Killed processes lose nothing written to the page cache: the state is the last
        // commit that returned, or the one in flight.
        let acceptable: Vec<u64> = entries.iter().rev().take(2).map(|(_, _, s)| *s).collect();
        if let Some(last) = entries.last() {
            assert!(acceptable.contains(&sum), "round {round}: state {sum:x} is neither the last commit nor the one in flight ({last:?})");
        }
        drop(cache);
    }
}

#[test]
fn one_writer_three_readers_see_only_committed_states() {
    let commits: u64 = std::env::var("UIDCACHE_CONCURRENT_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    drop(Cache::open(&dir).unwrap());
    let stop = root.path().join("stop");
    let log = root.path().join("writer-log");
    let readers: Vec<(Child, PathBuf)> = (0..3)
        .map(|i| {
            let seen = root.path().join(format!("seen-{i}"));
            let child = spawn(
                "reader",
                &[
                    ("CHILD_DIR", dir.display().to_string()),
                    ("CHILD_LOG", seen.display().to_string()),
                    ("CHILD_STOP", stop.display().to_string()),
                ],
            );
            (child, seen)
        })
        .collect();
    let started = Instant::now();
    let mut writer = spawn(
        "writer",
        &[
            ("CHILD_DIR", dir.display().to_string()),
            ("CHILD_LOG", log.display().to_string()),
            ("CHILD_SEED", "7".into()),
            ("CHILD_COMMITS", commits.to_string()),
        ],
    );
    // While the writer runs, a second writer is refused with the clear error.
    std::thread::sleep(Duration::from_millis(50));
    if writer.try_wait().unwrap().is_none() {
        let err = Cache::open(&dir).unwrap_err();
        assert!(err.is_locked(), "{err}");
    }
    assert!(writer.wait().unwrap().success(), "writer failed");
    let writer_secs = started.elapsed().as_secs_f64();
    std::fs::write(&stop, b"").unwrap();
    let committed: HashSet<u64> = read_log(&log).into_iter().map(|(_, _, s)| s).collect();
    let mut observed = 0;
    for (mut child, seen) in readers {
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "a reader failed (a panic, or a signal such as SIGBUS): {status:?}"
        );
        let text = std::fs::read_to_string(&seen).unwrap_or_default();
        for line in text.lines() {
            let sum: u64 = line.parse().unwrap();
            observed += 1;
            assert!(
                committed.contains(&sum),
                "a reader saw a state no commit made: {sum:x}"
            );
        }
    }
    eprintln!(
        "{commits} commits in {writer_secs:.1} s; readers observed {observed} distinct states"
    );
    assert!(observed > 0, "readers observed nothing");
}
