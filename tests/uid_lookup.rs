//! UID → sequence number (issue 12, item 4): `position_of_uid` against a plain model on
//! random mailboxes: dense and sparse UID runs, huge UID jumps, holes, many short slices,
//! removals that thin slices out or empty them, compaction and reopening. Every UID of the
//! mailbox is probed, with its neighbours (absent UIDs in gaps, past the ends), through the
//! read index (`Cache::view`) and without it (a transaction's view).
//!
//! `PROPTEST_CASES` sets how many mailboxes run (default 64).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::collections::BTreeMap;

use common::Rng;
use proptest::prelude::*;
use proptest::sample::Index;
use uidcache::{Cache, Durability, OpenOptions, UidPosition};

/// One run of consecutive messages: how many, how their UIDs rise, whether the cache
/// learns them, and in what range sizes.
#[derive(Debug, Clone)]
struct Run {
    len: u32,
    style: Style,
    known: bool,
    chunk: u32,
}

/// How UIDs rise within a run.
#[derive(Debug, Clone, Copy)]
enum Style {
    /// By one: what interpolation lands on exactly.
    Dense,
    /// By 1 to 3, as in `uidcache bench`.
    Gaps,
    /// By 1 to 1,000.
    Sparse,
    /// A jump of up to a million, then by one.
    JumpThenDense,
}

#[derive(Debug, Clone)]
struct Mailbox {
    runs: Vec<Run>,
    seed: u64,
    /// Messages removed by UID (VANISHED), known or not, after the learning.
    removals: Vec<Index>,
    /// Runs of up to 300 consecutive messages removed (whole slices go).
    cuts: Vec<(Index, u32)>,
    compact: bool,
    reopen: bool,
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Dense),
        Just(Style::Gaps),
        Just(Style::Sparse),
        Just(Style::JumpThenDense),
    ]
}

fn mailbox() -> impl Strategy<Value = Mailbox> {
    let run = (1u32..500, style(), prop::bool::weighted(0.7), 1u32..300).prop_map(
        |(len, style, known, chunk)| Run {
            len,
            style,
            known,
            chunk,
        },
    );
    (
        prop::collection::vec(run, 1..10),
        any::<u64>(),
        prop::collection::vec(any::<Index>(), 0..40),
        prop::collection::vec((any::<Index>(), 1u32..300), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(runs, seed, removals, cuts, compact, reopen)| Mailbox {
            runs,
            seed,
            removals,
            cuts,
            compact,
            reopen,
        })
}

/// The mailbox as the server holds it: every message's UID and whether the cache knows it,
/// by sequence number.
fn truth(m: &Mailbox) -> Vec<(u32, bool)> {
    let mut rng = Rng::new(m.seed);
    let mut uid = 0u32;
    let mut out = Vec::new();
    for run in &m.runs {
        for k in 0..run.len {
            uid += match run.style {
                Style::Dense => 1,
                Style::Gaps => 1 + rng.below(3) as u32,
                Style::Sparse => 1 + rng.below(1_000) as u32,
                Style::JumpThenDense if k == 0 => 1 + rng.below(1_000_000) as u32,
                Style::JumpThenDense => 1,
            };
            out.push((uid, run.known));
        }
    }
    out
}

/// What `position_of_uid` must say, from the known messages alone (UID → sequence number).
fn expected(known: &BTreeMap<u32, u32>, exists: u32, uid: u32) -> UidPosition {
    if let Some(&seq) = known.get(&uid) {
        return UidPosition::Placed(seq);
    }
    let lo = known.range(..uid).next_back().map_or(1, |(_, &s)| s + 1);
    let hi = known.range(uid..).next().map_or(exists, |(_, &s)| s - 1);
    if lo <= hi {
        UidPosition::InHole {
            first: lo,
            last: hi,
        }
    } else {
        UidPosition::Absent
    }
}

fn run_case(m: &Mailbox) -> Result<(), TestCaseError> {
    let mut truth = truth(m);
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions::new().durability(Durability::NoSync);
    let mut cache = Cache::open_with(dir.path(), options.clone()).unwrap();

    // Learn the known runs in ranges of the run's chunk size, in a shuffled order, a few
    // ranges per transaction: many short slices, out of order.
    let mut ranges = Vec::new();
    let mut seq = 1u32;
    for run in &m.runs {
        if run.known {
            let uids: Vec<u32> = truth[seq as usize - 1..][..run.len as usize]
                .iter()
                .map(|&(u, _)| u)
                .collect();
            for (k, chunk) in uids.chunks(run.chunk as usize).enumerate() {
                ranges.push((seq + k as u32 * run.chunk, chunk.to_vec()));
            }
        }
        seq += run.len;
    }
    let mut rng = Rng::new(m.seed ^ 0x5eed);
    for k in (1..ranges.len()).rev() {
        ranges.swap(k, rng.below(k as u64 + 1) as usize);
    }
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(truth.len() as u32).unwrap();
    for (k, (seq, uids)) in ranges.iter().enumerate() {
        tx.learn_range(*seq, uids).unwrap();
        if k % 7 == 6 {
            tx.commit().unwrap();
            tx = cache.transaction().unwrap();
        }
    }
    tx.commit().unwrap();

    // Removals by UID: a known message leaves its slice; an unknown one shrinks its hole.
    let mut doomed: Vec<u32> = m
        .removals
        .iter()
        .map(|i| truth[i.index(truth.len())].0)
        .collect();
    for (at, len) in &m.cuts {
        let from = at.index(truth.len());
        let to = (from + *len as usize).min(truth.len());
        doomed.extend(truth[from..to].iter().map(|&(u, _)| u));
    }
    doomed.sort_unstable();
    doomed.dedup();
    let mut tx = cache.transaction().unwrap();
    for &uid in &doomed {
        tx.remove_uid(uid).unwrap();
    }
    tx.commit().unwrap();
    truth.retain(|(u, _)| doomed.binary_search(u).is_err());

    if m.compact {
        cache.compact().unwrap();
    }
    if m.reopen {
        drop(cache);
        cache = Cache::open_with(dir.path(), options).unwrap();
    }

    let known: BTreeMap<u32, u32> = truth
        .iter()
        .zip(1u32..)
        .filter(|((_, k), _)| *k)
        .map(|(&(u, _), s)| (u, s))
        .collect();
    let exists = truth.len() as u32;
    let top = truth.last().map_or(0, |&(u, _)| u);
    let mut probes = vec![0, 1, top + 1, top + 1_000_000, u32::MAX - 1, u32::MAX];
    for &(u, _) in &truth {
        probes.extend([u - 1, u, u + 1]);
    }
    for &uid in &doomed {
        probes.push(uid);
    }
    let check = |path: &str, ask: &dyn Fn(u32) -> UidPosition| -> Result<(), TestCaseError> {
        for &uid in &probes {
            let want = expected(&known, exists, uid);
            prop_assert_eq!(ask(uid), want, "{}, uid {}", path, uid);
        }
        Ok(())
    };
    // Twice through the read index (the first pass reads each block for the first time,
    // the second finds them remembered), then through a transaction (no read index).
    check("first pass", &|uid| {
        cache.view().position_of_uid(uid).unwrap()
    })?;
    check("second pass", &|uid| {
        cache.view().position_of_uid(uid).unwrap()
    })?;
    let tx = cache.transaction().unwrap();
    check("transaction", &|uid| tx.position_of_uid(uid).unwrap())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn position_of_uid_agrees_with_the_model(m in mailbox()) {
        run_case(&m)?;
    }
}

/// 3,000 dense UIDs and one up to a million above them, compacted into one slice: the
/// straight line from the first to the last record points near the start for every UID
/// but the last, and the search must still find the exact record.
#[test]
fn a_far_outlier_does_not_mislead_the_search() {
    let m = Mailbox {
        runs: vec![
            Run {
                len: 3_000,
                style: Style::Dense,
                known: true,
                chunk: 3_000,
            },
            Run {
                len: 1,
                style: Style::JumpThenDense,
                known: true,
                chunk: 1,
            },
        ],
        seed: 7,
        removals: vec![],
        cuts: vec![],
        compact: true,
        reopen: false,
    };
    run_case(&m).unwrap();
}
