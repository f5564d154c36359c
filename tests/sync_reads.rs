//! The reads a sync makes in O(changes) (issue 12, item 3), against naive models built from
//! every record: the holes from the index, the runs of unknown flags, the QRESYNC parameter
//! from the slice extents, and the change tracker against a before/after comparison of
//! every message. Random states from random transactions (committed or dropped), seeded.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::collections::BTreeMap;

use common::Rng;
use uidcache::{Cache, QresyncParam, Segment, Transaction, UidSet, Update, View};

/// uid → (flag names, MODSEQ) of every record, placed and unplaced.
type Everything = BTreeMap<u32, (Option<Vec<Vec<u8>>>, Option<u64>)>;

fn everything(view: &View<'_>) -> Everything {
    let names = |m: &uidcache::Message| {
        m.flags.map(|id| {
            view.flag_names(id)
                .unwrap()
                .iter()
                .map(|n| n.to_vec())
                .collect()
        })
    };
    let mut out = BTreeMap::new();
    for (_, m) in view.placed_messages().unwrap() {
        out.insert(m.uid, (names(&m), m.modseq));
    }
    for m in view.unplaced_messages().unwrap() {
        out.insert(m.uid, (names(&m), m.modseq));
    }
    out
}

fn naive_holes(view: &View<'_>) -> Vec<(u32, u32)> {
    view.segments()
        .into_iter()
        .filter_map(|s| match s {
            Segment::Hole(a, b) => Some((a, b)),
            Segment::Known(..) => None,
        })
        .collect()
}

fn naive_unknown_flags(view: &View<'_>) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for (seq, m) in view.placed_messages().unwrap() {
        if m.flags.is_some() {
            continue;
        }
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => runs.push((seq, seq)),
        }
    }
    runs
}

/// The parameter as it was built before issue 12: from every placed and unplaced UID.
fn naive_qresync(view: &View<'_>) -> Option<String> {
    let (uidvalidity, modseq) = (view.uidvalidity()?, view.highestmodseq()?);
    let placed: Vec<(u32, u32)> = view
        .placed_messages()
        .unwrap()
        .into_iter()
        .map(|(seq, m)| (seq, m.uid))
        .collect();
    let mut uids: Vec<u32> = placed.iter().map(|p| p.1).collect();
    uids.extend(view.unplaced_messages().unwrap().iter().map(|m| m.uid));
    uids.sort_unstable();
    let known: UidSet = uids.iter().copied().collect();
    let set = match known.to_string() {
        s if s.len() > 2000 => format!("1:{}", uids.last().unwrap()),
        s => s,
    };
    Some(render(uidvalidity, modseq, &set, &placed))
}

fn render(uidvalidity: u32, modseq: u64, set: &str, placed: &[(u32, u32)]) -> String {
    let mut sample = Vec::new();
    let (mut k, mut step) = (placed.len(), 1usize);
    while k > 0 {
        sample.push(placed[k - 1]);
        k = k.saturating_sub(step);
        step = step.saturating_mul(2);
    }
    sample.reverse();
    let mut out = format!("(QRESYNC ({uidvalidity} {modseq}");
    if !set.is_empty() {
        out += &format!(" {set}");
        if !sample.is_empty() {
            let seqs: Vec<String> = sample.iter().map(|p| p.0.to_string()).collect();
            let uids: Vec<String> = sample.iter().map(|p| p.1.to_string()).collect();
            out += &format!(" ({} {})", seqs.join(","), uids.join(","));
        }
    }
    out + "))"
}

const FLAGS: [&[&[u8]]; 3] = [&[b"\\Seen"], &[b"\\Seen", b"$Work"], &[]];

/// One random change; refused ones (invalid ops) are part of the test too.
fn random_op(rng: &mut Rng, tx: &mut Transaction<'_>, big: bool) {
    let exists = tx.view().exists().unwrap_or(0);
    let seq = 1 + rng.below(u64::from(exists.max(1))) as u32;
    let span = if big { 3000 } else { 40 };
    let _ = match rng.below(12) {
        0 => tx.set_exists(exists + rng.below(span) as u32 + 1),
        1 | 2 => {
            // A run of UIDs whose density decides whether its slice is one range.
            let n = 1 + rng.below(span) as u32;
            let mut uid = 1 + rng.below(u64::from(seq) * 4) as u32 + seq;
            let dense = rng.below(2) == 0;
            let uids: Vec<u32> = (0..n.min(exists.saturating_sub(seq) + 1))
                .map(|_| {
                    uid += 1 + if dense { 0 } else { rng.below(3) as u32 };
                    uid
                })
                .collect();
            if rng.below(2) == 0 {
                tx.learn_range(seq, &uids)
            } else {
                let flags = FLAGS[rng.below(3) as usize];
                let entries: Vec<(u32, Update<'_>)> = uids
                    .iter()
                    .map(|&u| {
                        let update = Update {
                            flags: Some(flags),
                            modseq: Some(u64::from(u)),
                        };
                        (u, update)
                    })
                    .collect();
                tx.learn_many(seq, &entries)
            }
        }
        3 | 4 => tx.update_seq(
            seq,
            Update {
                flags: Some(FLAGS[rng.below(3) as usize]),
                modseq: Some(rng.below(1000)),
            },
        ),
        5 | 6 => tx.expunge(seq),
        7 => tx.remove_uid(1 + rng.below(200) as u32).map(|_| ()),
        8 => tx.forget_uid(1 + rng.below(200) as u32).map(|_| ()),
        9 => tx.unplace(seq, seq + rng.below(5) as u32),
        10 => tx.set_highestmodseq(Some(rng.below(1000))),
        _ => {
            if rng.below(30) == 0 {
                tx.clear()
            } else {
                tx.set_uidvalidity(Some(7))
            }
        }
    };
}

fn check_reads(view: &View<'_>, what: &str) {
    assert_eq!(
        view.holes().collect::<Vec<_>>(),
        naive_holes(view),
        "{what}"
    );
    let runs: Vec<(u32, u32)> = view.unknown_flags().map(|r| r.unwrap()).collect();
    assert_eq!(runs, naive_unknown_flags(view), "{what}");
    // The second call skips what the first proved, and must say the same.
    let again: Vec<(u32, u32)> = view.unknown_flags().map(|r| r.unwrap()).collect();
    assert_eq!(again, runs, "{what}: second call");
    let param = view.qresync_param().unwrap();
    assert_eq!(
        param.as_ref().map(QresyncParam::to_string),
        naive_qresync(view),
        "{what}"
    );
}

fn run_case(seed: u64, big: bool) {
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let mut tracking: Option<Everything> = None;
    for step in 0..60 {
        let what = format!("seed {seed} step {step}");
        if rng.below(4) == 0 {
            tracking = Some(everything(&cache.view()));
            cache.track_changes();
        }
        {
            let mut tx = cache.transaction().unwrap();
            for _ in 0..1 + rng.below(6) {
                random_op(&mut rng, &mut tx, big);
            }
            if rng.below(5) > 0 {
                let _ = tx.commit();
            }
        }
        if rng.below(8) == 0 {
            drop(cache);
            cache = Cache::open(dir.path()).unwrap();
            tracking = None;
        }
        check_reads(&cache.view(), &what);
        let Some(before) = &tracking else {
            assert_eq!(cache.tracked_changes().unwrap(), None, "{what}");
            continue;
        };
        let after = everything(&cache.view());
        let t = cache.tracked_changes().unwrap().unwrap();
        if t.cleared {
            assert_eq!(t.new, after.len() as u64, "{what}");
            assert_eq!(t.gone, before.len() as u64, "{what}");
            continue;
        }
        let new = after.keys().filter(|u| !before.contains_key(u)).count() as u64;
        let gone = before.keys().filter(|u| !after.contains_key(u)).count() as u64;
        let changed = before
            .iter()
            .filter(|(u, v)| after.get(u).is_some_and(|w| w != *v))
            .count() as u64;
        assert_eq!((t.new, t.gone, t.changed), (new, gone, changed), "{what}");
    }
}

#[test]
fn streaming_reads_and_the_tracker_match_the_naive_model() {
    for seed in 0..150 {
        run_case(seed, false);
    }
}

/// Slices of thousands of records and an exact UID set past its 2000-character limit.
#[test]
fn the_same_on_big_mailboxes() {
    for seed in 1000..1012 {
        run_case(seed, true);
    }
}

/// A sync of an unchanged mailbox asks the engine for nothing proportional to it: the
/// holes and the QRESYNC parameter walk no record, and the tracker none.
#[test]
fn the_index_answers_without_walking_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_uidvalidity(Some(1)).unwrap();
    tx.set_highestmodseq(Some(5)).unwrap();
    tx.set_exists(200_000).unwrap();
    let entries: Vec<(u32, Update<'_>)> = (1..=200_000)
        .map(|u| {
            let update = Update {
                flags: Some(FLAGS[0]),
                modseq: Some(1),
            };
            (u, update)
        })
        .collect();
    tx.learn_many(1, &entries).unwrap();
    tx.commit().unwrap();
    let before = uidcache::tools::records_walked();
    cache.track_changes();
    let view = cache.view();
    assert_eq!(view.holes().count(), 0);
    let param = view.qresync_param().unwrap().unwrap();
    assert_eq!(param.known_uids.ranges(), &[(1, 200_000)]);
    assert_eq!(cache.tracked_changes().unwrap().unwrap().changed, 0);
    assert_eq!(uidcache::tools::records_walked(), before);
    // The streaming reads that do walk count what they walked.
    assert_eq!(cache.view().messages().count(), 200_000);
    assert_eq!(uidcache::tools::records_walked(), before + 200_000);
}

fn walked_by_unknown_flags(view: &View<'_>) -> (Vec<(u32, u32)>, u64) {
    let before = uidcache::tools::records_walked();
    let runs = view.unknown_flags().map(|r| r.unwrap()).collect();
    (runs, uidcache::tools::records_walked() - before)
}

/// A new cache in `dir` holding messages `1..=n` (UID = sequence number), each learned with
/// the flags `flags` gives it, in one commit.
fn learned(
    dir: &std::path::Path,
    n: u32,
    flags: impl Fn(u32) -> Option<&'static [&'static [u8]]>,
) -> Cache {
    let mut cache = Cache::open(dir).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(n).unwrap();
    let entries: Vec<(u32, Update<'_>)> = (1..=n)
        .map(|u| {
            let update = Update {
                flags: flags(u),
                modseq: Some(1),
            };
            (u, update)
        })
        .collect();
    tx.learn_many(1, &entries).unwrap();
    tx.commit().unwrap();
    cache
}

/// Issue 12: a sync of an unchanged mailbox whose flags are all known reads no record to
/// find the flags still to fetch: learned with flags, the index's per-slice bit says so;
/// after an expunge, a checkpoint and a reopen still.
#[test]
fn unknown_flags_of_an_unchanged_mailbox_reads_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = learned(dir.path(), 200_000, |u| Some(FLAGS[(u % 3) as usize]));
    assert_eq!(walked_by_unknown_flags(&cache.view()), (vec![], 0));
    let mut tx = cache.transaction().unwrap();
    for seq in [150_000, 70_000, 3] {
        tx.expunge(seq).unwrap();
    }
    tx.commit().unwrap();
    assert_eq!(walked_by_unknown_flags(&cache.view()), (vec![], 0));
    cache.checkpoint().unwrap();
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(walked_by_unknown_flags(&cache.view()), (vec![], 0));
}

/// Positions learned without flags (an ESEARCH answer), then every flag learned into the
/// overlay (a FETCH of known positions): the first scan reads those slices and proves
/// them; from then on no scan reads them, also after a change elsewhere, and the proof is
/// written into the index, so a reopened cache reads none either.
#[test]
fn flags_learned_into_the_overlay_are_read_once() {
    let n = 50_000u32;
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(n).unwrap();
    let uids: Vec<u32> = (1..=n).map(|u| 2 * u).collect();
    tx.learn_range(1, &uids).unwrap();
    tx.commit().unwrap();
    let (runs, walked) = walked_by_unknown_flags(&cache.view());
    assert_eq!((runs, walked), (vec![(1, n)], u64::from(n)));
    let mut tx = cache.transaction().unwrap();
    for seq in 1..=n {
        let update = Update {
            flags: Some(FLAGS[1]),
            modseq: None,
        };
        // All but one: that one's slice must keep being read and reported.
        if seq != 777 {
            tx.update_seq(seq, update).unwrap();
        }
    }
    tx.commit().unwrap();
    let (runs, walked) = walked_by_unknown_flags(&cache.view());
    assert_eq!(runs, vec![(777, 777)]);
    assert_eq!(
        walked,
        u64::from(n),
        "the first scan reads every slice without the bit"
    );
    let (runs, second) = walked_by_unknown_flags(&cache.view());
    assert_eq!(runs, vec![(777, 777)]);
    assert!(
        second > 0 && second < u64::from(n),
        "{second}: only the slice with 777"
    );
    // A change drops the read index; the proofs were kept in the slices. (The commit's
    // compaction step may rewrite the slices around 777 into one: a few blocks' worth.)
    let mut tx = cache.transaction().unwrap();
    tx.expunge(n).unwrap();
    tx.commit().unwrap();
    let few = 4 * 2048;
    let (runs, after_change) = walked_by_unknown_flags(&cache.view());
    assert_eq!(runs, vec![(777, 777)]);
    assert!(after_change <= few, "{after_change}");
    cache.checkpoint().unwrap();
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    let (runs, reopened) = walked_by_unknown_flags(&cache.view());
    assert_eq!(runs, vec![(777, 777)]);
    assert!(
        reopened <= few,
        "{reopened}: the proofs went into the index"
    );
}

/// Compaction writes slices whose bit it computes from the records it copies (and the
/// overlay entries that stay): flags learned into the overlay and folded by `compact` are
/// known without a read, in memory and after a reopen; a compaction step's slices too.
#[test]
fn compaction_sets_the_bit_of_the_slices_it_writes() {
    let n = 20_000u32;
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    // Positions in many small commits (many small slices: compaction has work), flags
    // for all of them into the overlay afterwards.
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(n).unwrap();
    tx.commit().unwrap();
    for start in (1..=n).step_by(500) {
        let mut tx = cache.transaction().unwrap();
        let uids: Vec<u32> = (start..start + 500).map(|s| 3 * s).collect();
        tx.learn_range(start, &uids).unwrap();
        tx.commit().unwrap();
    }
    let mut tx = cache.transaction().unwrap();
    for seq in 1..=n {
        let update = Update {
            flags: Some(FLAGS[0]),
            modseq: None,
        };
        tx.update_seq(seq, update).unwrap();
    }
    tx.commit().unwrap();
    // Expunges cut the slices into crowded runs of short ones, which steps rewrite (the
    // commit's own credit, and one more step).
    let mut tx = cache.transaction().unwrap();
    for seq in (1..=n).rev().step_by(4) {
        tx.expunge(seq).unwrap();
    }
    tx.commit().unwrap();
    cache.compact_step(4000).unwrap();
    // The slices the expunges cut kept the clear bit of the learned ones: only a rewrite
    // can have set it.
    let left = u64::from(n - n / 4);
    let (runs, walked) = walked_by_unknown_flags(&cache.view());
    assert_eq!(runs, vec![]);
    assert!(
        walked < left,
        "{walked} of {left}: the rewritten slices were read"
    );
    let stats = cache.compact().unwrap();
    assert!(stats.overlay_folded > 0);
    assert_eq!(walked_by_unknown_flags(&cache.view()), (vec![], 0));
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(walked_by_unknown_flags(&cache.view()), (vec![], 0));
}

/// An index written before the flags-known bit (every entry's word zero, as earlier v2
/// writers wrote it) opens unchanged and answers the same; the first scan reads it all and
/// proves it, and the next checkpoint writes the bits, so later opens read nothing.
#[test]
fn an_index_without_the_bit_opens_and_gains_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = learned(dir.path(), 10_000, |u| (u != 5_000).then_some(FLAGS[2]));
    cache.checkpoint().unwrap();
    drop(cache);
    let path = dir.path().join("index");
    let mut image = uidcache_format::IndexImage::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert!(image.placed.iter().any(|e| e.flags_known()));
    for e in &mut image.placed {
        *e = e.with_flags_known(false);
    }
    std::fs::write(&path, image.encode()).unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let (runs, walked) = walked_by_unknown_flags(&cache.view());
    assert_eq!((runs, walked), (vec![(5_000, 5_000)], 10_000));
    cache.checkpoint().unwrap();
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    let (runs, walked) = walked_by_unknown_flags(&cache.view());
    assert_eq!(runs, vec![(5_000, 5_000)]);
    assert!(
        walked < 10_000 / 2,
        "{walked}: only the slice of 5000 is read"
    );
}
