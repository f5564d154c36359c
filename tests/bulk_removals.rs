//! Runs of removals over a fragmented layout (issue 12, "bulk removals"): a VANISHED set of
//! many UIDs in one commit and an expunge range, applied with the placed slices' lazy
//! sequence shift (engine `placed.rs`), must leave what a plain model says, and a reopen
//! that replays those frames from the journal must rebuild exactly the state the commits
//! left in memory: a commit and recovery go through the same `State::apply`.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::path::Path;

use common::Rng;
use uidcache::{Cache, Durability, OpenOptions, Segment, Update, View};

/// Everything a reader can see, in one comparable value.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    exists: Option<u32>,
    placed: Vec<(u32, u32, Option<u64>)>,
    unplaced: Vec<u32>,
    segments: Vec<Segment>,
}

fn seen(view: &View<'_>) -> Seen {
    Seen {
        exists: view.exists(),
        placed: view
            .placed_messages()
            .unwrap()
            .into_iter()
            .map(|(s, m)| (s, m.uid, m.modseq))
            .collect(),
        unplaced: view
            .unplaced_messages()
            .unwrap()
            .into_iter()
            .map(|m| m.uid)
            .collect(),
        segments: view.segments(),
    }
}

fn options() -> OpenOptions {
    // No checkpoint anywhere: the reopen must replay every frame.
    OpenOptions::new()
        .checkpoint_on_drop(false)
        .auto_compact(false)
        .journal_limit(1 << 40)
        .durability(Durability::NoSync)
}

/// Closes `cache` without a checkpoint, reopens it from the journal, and checks that the
/// replay rebuilt `committed`, what the commits left in memory.
fn assert_replays(cache: Cache, dir: &Path, committed: &Seen) {
    drop(cache);
    let reopened = Cache::open_with(dir, options()).unwrap();
    assert!(
        reopened.layout().journal_frames >= 3,
        "the frames are replayed"
    );
    assert_eq!(
        &seen(&reopened.view()),
        committed,
        "journal replay rebuilt another state"
    );
}

/// A mailbox of `n` messages in thousands of slices: learnt in one commit, then cut by
/// scattered expunges (each splits a slice). Returns the UIDs left, by sequence number.
fn fragmented(cache: &mut Cache, rng: &mut Rng, n: u32) -> Vec<u32> {
    let mut uids: Vec<u32> = (0..n).map(|k| 3 * k + 1).collect();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(n).unwrap();
    tx.learn_range(1, &uids).unwrap();
    tx.commit().unwrap();
    let mut tx = cache.transaction().unwrap();
    for _ in 0..n / 20 {
        let seq = 1 + rng.below(uids.len() as u64) as u32;
        tx.expunge(seq).unwrap();
        uids.remove(seq as usize - 1);
    }
    tx.commit().unwrap();
    uids
}

#[test]
fn a_vanished_run_and_an_expunge_range_replay_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(12);
    let mut cache = Cache::open_with(dir.path(), options()).unwrap();
    let mut uids = fragmented(&mut cache, &mut rng, 60_000);
    assert!(
        cache.layout().placed_entries > 1_000,
        "the layout is fragmented: {} slices",
        cache.layout().placed_entries
    );

    // ~2% of the UIDs in one VANISHED, ascending, with UIDs that were never there.
    let mut vanished: Vec<u32> = (0..1_200)
        .map(|_| uids[rng.below(uids.len() as u64) as usize])
        .collect();
    vanished.extend((0..200).map(|k| 3 * k + 2));
    vanished.sort_unstable();
    vanished.dedup();
    let ranges: Vec<_> = vanished.iter().map(|&u| u..=u).collect();
    let mut tx = cache.transaction().unwrap();
    let removed = tx.remove_uids(&ranges).unwrap();
    tx.commit().unwrap();
    let before = uids.len();
    uids.retain(|u| vanished.binary_search(u).is_err());
    assert_eq!(removed.placed, (before - uids.len()) as u64);
    assert_eq!(removed.from_holes + removed.unplaced, 0);

    // The same seq expunged 50 times, then single removals spread over the mailbox in
    // descending order (the gap moves back across the slices), in one commit.
    let mut tx = cache.transaction().unwrap();
    let at = uids.len() as u32 / 3;
    for _ in 0..50 {
        tx.expunge(at).unwrap();
        uids.remove(at as usize - 1);
    }
    let mut spread: Vec<u32> = (0..300)
        .map(|_| uids[rng.below(uids.len() as u64) as usize])
        .collect();
    spread.sort_unstable_by(|a, b| b.cmp(a));
    spread.dedup();
    for uid in &spread {
        tx.remove_uid(*uid).unwrap();
    }
    uids.retain(|u| !spread.contains(u));
    // A flag change and a read in the middle of the run (the read collects the slices,
    // the next removal drops that copy).
    tx.update_seq(
        1,
        Update {
            flags: None,
            modseq: Some(77),
        },
    )
    .unwrap();
    assert_eq!(
        tx.view().message_at(2).unwrap().map(|m| m.uid),
        Some(uids[1])
    );
    tx.remove_uid(uids[1]).unwrap();
    uids.remove(1);
    tx.commit().unwrap();

    let committed = seen(&cache.view());
    let want: Vec<u32> = uids.clone();
    let got: Vec<u32> = committed.placed.iter().map(|p| p.1).collect();
    assert_eq!(got, want, "the records left after the commits");
    assert!(committed
        .placed
        .iter()
        .enumerate()
        .all(|(k, p)| p.0 == k as u32 + 1));
    assert_eq!(committed.placed[0].2, Some(77));
    assert_replays(cache, dir.path(), &committed);
}

#[test]
fn removals_next_to_holes_and_unplaced_records_replay_the_same() {
    // Holes (forgotten records), unplaced records and overlay entries in the way of the
    // runs: the per-op rules for them (a hole position taken, an unplaced record dropped,
    // gaps pruned) must come out the same in the commit and in the replay.
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(7);
    let mut cache = Cache::open_with(dir.path(), options()).unwrap();
    let uids = fragmented(&mut cache, &mut rng, 20_000);
    let mut tx = cache.transaction().unwrap();
    for _ in 0..200 {
        let uid = uids[rng.below(uids.len() as u64) as usize];
        tx.forget_uid(uid).unwrap();
    }
    let a = 1 + rng.below(uids.len() as u64 - 100) as u32;
    tx.unplace(a, a + 60).unwrap();
    for _ in 0..100 {
        let seq = 1 + rng.below(uids.len() as u64) as u32;
        tx.update_seq(
            seq,
            Update {
                flags: None,
                modseq: Some(5),
            },
        )
        .ok();
    }
    tx.commit().unwrap();
    let mut tx = cache.transaction().unwrap();
    let mut vanished: Vec<u32> = (0..800)
        .map(|_| 1 + rng.below(u64::from(uids[uids.len() - 1])) as u32)
        .collect();
    vanished.sort_unstable();
    vanished.dedup();
    let ranges: Vec<_> = vanished.iter().map(|&u| u..=u).collect();
    let removed = tx.remove_uids(&ranges).unwrap();
    assert!(removed.placed > 0);
    let seq = 1 + rng.below(u64::from(tx.view().exists().unwrap()) / 2) as u32;
    for _ in 0..40 {
        tx.expunge(seq).unwrap();
    }
    tx.commit().unwrap();
    let committed = seen(&cache.view());
    assert_replays(cache, dir.path(), &committed);
}
