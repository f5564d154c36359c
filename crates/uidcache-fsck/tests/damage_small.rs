//! Exhaustive damage of small caches (issue 3): every single-byte flip of every file,
//! truncation at every length, each kind of file deleted, zero-filled tails. `check` must
//! report a problem (or the damage left what the engine reads unchanged), nothing may panic,
//! and `repair` must leave a clean cache holding a subset of a committed state.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::{caches, committed_states, frame_ends, run_case, scratch, Damage, Snapshot, Tally};

/// Every damage case of one cache.
fn cases(snap: &Snapshot) -> Vec<Damage> {
    let mut out = Vec::new();
    for (file, bytes) in &snap.files {
        let file: PathBuf = file.clone();
        for at in 0..bytes.len() {
            for mask in [0x01, 0x80] {
                out.push(Damage::Flip {
                    file: file.clone(),
                    at,
                    mask,
                });
            }
        }
        for len in 0..bytes.len() {
            out.push(Damage::Truncate {
                file: file.clone(),
                len,
            });
        }
        out.push(Damage::Delete { file: file.clone() });
        for k in [1usize, 8, 16, bytes.len() / 2] {
            if k > 0 && k <= bytes.len() && bytes[bytes.len() - k..].iter().any(|b| *b != 0) {
                out.push(Damage::ZeroTail {
                    file: file.clone(),
                    from: bytes.len() - k,
                });
            }
        }
        out.push(Damage::AppendZeros {
            file: file.clone(),
            len: 4096,
        });
    }
    let blocks: Vec<&PathBuf> = snap
        .files
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with("blocks"))
        .collect();
    for pair in blocks.windows(2) {
        out.push(Damage::CopyOver {
            file: pair[0].clone(),
            other: pair[1].clone(),
        });
    }
    out
}

fn exhaust(name: &str, build: fn(&Path)) -> Tally {
    let original = scratch();
    build(original.path());
    let snap = Snapshot::take(original.path());
    let report = uidcache_fsck::check(original.path()).unwrap();
    assert!(
        report.is_clean(),
        "the undamaged cache must check clean: {:?}",
        report.problems
    );
    let states = committed_states(original.path());
    let ends = frame_ends(&snap);
    let work = scratch();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for damage in cases(&snap) {
        let flip_in_file =
            matches!(&damage, Damage::Flip { file, .. } if file != Path::new("lock"));
        let before = tally.detected;
        if let Err(e) = run_case(&snap, &states, &ends, work.path(), &damage, &mut tally) {
            failures.push(e);
        }
        // Every byte of index, journal and block files is inside a checksummed region.
        if flip_in_file && tally.detected == before {
            failures.push(format!("{damage:?}: flip not detected"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures, first: {}",
        failures.len(),
        failures[0]
    );
    assert_eq!(tally.panics, 0);
    eprintln!("{name}: {tally:?}");
    tally
}

#[test]
fn checkpoint_then_frames_survives_every_damage() {
    let t = exhaust("checkpoint_then_frames", caches::checkpoint_then_frames);
    assert!(t.detected > 1000, "{t:?}");
}

#[test]
fn journal_only_survives_every_damage() {
    let t = exhaust("journal_only", caches::journal_only);
    assert!(t.detected > 1000, "{t:?}");
}

#[test]
fn split_block_survives_every_damage() {
    let t = exhaust("split_block", caches::split_block);
    assert!(t.detected > 1000, "{t:?}");
}
