//! Crash consistency (issue 4): every write workload is crashed after **every** file
//! operation, and each crash is turned into several power-loss images (unsynced data lost,
//! kept, torn at sector boundaries, reordered; unsynced directory changes undone). Each
//! image must open, hold exactly the state of some committed prefix that includes every
//! commit that returned as durable, keep HIGHESTMODSEQ no higher than its records allow, and
//! open a second time to the same state.
//!
//! `UIDCACHE_CRASH_SEEDS` sets how many random workloads run (the long mode uses more).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::sync::Arc;

use common::simfs::{Loss, Sim, SimFs};
use common::Rng;
use uidcache::{Cache, Durability, OpenOptions, Update, View};

fn options(fs: &Arc<SimFs>) -> OpenOptions {
    OpenOptions {
        vfs: Some(Arc::new(Sim(Arc::clone(fs)))),
        journal_limit: 1500,
        ..OpenOptions::default()
    }
}

/// The whole visible state, as comparable text.
fn dump(view: &View<'_>) -> uidcache::Result<Vec<String>> {
    let mut out = vec![format!(
        "{:?} {:?} {:?} {:?}",
        view.uidvalidity(),
        view.uidnext(),
        view.highestmodseq(),
        view.exists()
    )];
    for (seq, m) in view.placed_messages()? {
        let flags = m.flags.map(|f| view.flag_names(f).unwrap());
        out.push(format!("{seq} {} {flags:?} {:?}", m.uid, m.modseq));
    }
    for m in view.unplaced_messages()? {
        let flags = m.flags.map(|f| view.flag_names(f).unwrap());
        out.push(format!("- {} {flags:?} {:?}", m.uid, m.modseq));
    }
    Ok(out)
}

/// HIGHESTMODSEQ never below a record's MODSEQ: the workload only raises it together with
/// the records it covers, so an image where it is lower mixed commits.
fn check_highestmodseq(cache: &Cache, ctx: &str) {
    let view = cache.view();
    if let Some(h) = view.highestmodseq() {
        for (seq, m) in view.placed_messages().unwrap() {
            assert!(
                m.modseq.is_none_or(|v| v <= h),
                "{ctx}: seq {seq} modseq {:?} above HIGHESTMODSEQ {h}",
                m.modseq
            );
        }
    }
}

/// What the workload got through before it failed.
#[derive(Default)]
struct Progress {
    /// State after each commit attempted, `states[0]` being the empty cache.
    states: Vec<Vec<String>>,
    /// Index into `states` of the last commit (or checkpoint) that returned as durable.
    durable: usize,
}

/// A random workload of every write kind; stops at the first error (the simulated crash).
fn workload(seed: u64, fs: &Arc<SimFs>, p: &mut Progress) -> uidcache::Result<()> {
    let mut rng = Rng::new(seed);
    p.states = vec![vec!["None None None None".to_string()]];
    p.durable = 0;
    let mut cache = Cache::open_with("/mbox", options(fs))?;
    let mut uids: Vec<u32> = Vec::new();
    let mut next_uid = 0;
    let mut modseq = 100;
    for _ in 0..8 {
        let kind = rng.below(8);
        let durable = rng.below(4) != 0;
        if kind == 6 {
            cache.compact()?;
            p.durable = p.states.len() - 1;
            continue;
        }
        if kind == 7 {
            cache.checkpoint()?;
            p.durable = p.states.len() - 1;
            continue;
        }
        let mut tx = cache.transaction()?;
        match kind {
            0 | 1 => {
                // Fill: new messages, learned in ranges out of order.
                let n = 1 + rng.below(40) as usize;
                for _ in 0..n {
                    next_uid += 1 + rng.below(3) as u32;
                    uids.push(next_uid);
                }
                tx.set_exists(uids.len() as u32)?;
                let mut starts: Vec<usize> = (0..uids.len()).step_by(7).collect();
                for i in (1..starts.len()).rev() {
                    starts.swap(i, rng.below(i as u64 + 1) as usize);
                }
                for s in starts.into_iter().take(3) {
                    let end = (s + 7).min(uids.len());
                    tx.learn_range(s as u32 + 1, &uids[s..end])?;
                }
            }
            2 => {
                for _ in 0..1 + rng.below(4) {
                    if !uids.is_empty() {
                        let i = rng.below(uids.len() as u64) as usize;
                        uids.remove(i);
                        tx.expunge(i as u32 + 1)?;
                    }
                }
            }
            3 => {
                for _ in 0..1 + rng.below(4) {
                    if !uids.is_empty() {
                        let i = rng.below(uids.len() as u64) as usize;
                        tx.remove_uid(uids.remove(i))?;
                    }
                }
            }
            4 => {
                // Flag storm, with HIGHESTMODSEQ raised in the same commit.
                for _ in 0..1 + rng.below(12) {
                    if uids.is_empty() {
                        break;
                    }
                    let seq = 1 + rng.below(uids.len() as u64) as u32;
                    if tx.view().message_at(seq)?.is_some() {
                        modseq += 1;
                        let flags: &[&[u8]] = if rng.below(2) == 0 {
                            &[b"\\Seen"]
                        } else {
                            &[b"$Junk", b"\\Flagged"]
                        };
                        tx.update_seq(
                            seq,
                            Update {
                                flags: Some(flags),
                                modseq: Some(modseq),
                            },
                        )?;
                    }
                }
                tx.set_highestmodseq(Some(modseq))?;
            }
            _ => {
                // UIDVALIDITY changed: everything goes.
                tx.clear()?;
                tx.set_uidvalidity(Some(1 + rng.below(1000) as u32))?;
                uids.clear();
                tx.set_exists(0)?;
            }
        }
        // The state this commit produces, recorded before the commit can crash.
        p.states.push(dump(&tx.view())?);
        tx.commit_with(if durable {
            Durability::Durable
        } else {
            Durability::NoSync
        })?;
        if durable {
            p.durable = p.states.len() - 1;
        }
    }
    Ok(())
}

/// Opens a crash image and checks every promise.
fn check_image(image: Arc<SimFs>, p: &Progress, ctx: &str) {
    let cache = Cache::open_with("/mbox", options(&image))
        .unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
    let state = dump(&cache.view()).unwrap_or_else(|e| panic!("{ctx}: read failed: {e}"));
    let found = p.states.iter().rposition(|s| *s == state);
    match found {
        Some(j) => assert!(
            j >= p.durable,
            "{ctx}: state of commit {j}, but commit {} returned durable",
            p.durable
        ),
        None => panic!(
            "{ctx}: state matches no committed prefix:\n{state:#?}\nlast states: {:#?}",
            p.states.last()
        ),
    }
    check_highestmodseq(&cache, ctx);
    drop(cache);
    let again = Cache::open_with("/mbox", options(&image))
        .unwrap_or_else(|e| panic!("{ctx}: second open failed: {e}"));
    assert_eq!(
        dump(&again.view()).unwrap(),
        state,
        "{ctx}: a second reopen changed the state"
    );
}

fn crash_every_operation(seed: u64) -> u64 {
    let full = SimFs::crashing_after(u64::MAX);
    let mut p = Progress::default();
    workload(seed, &full, &mut p).unwrap();
    let total = full.ops();
    let mut explored = 0;
    for k in 0..=total {
        let fs = SimFs::crashing_after(k);
        let mut p = Progress::default();
        let outcome = workload(seed, &fs, &mut p);
        assert_eq!(
            outcome.is_ok(),
            k >= total,
            "seed {seed}: crash after {k} of {total} ops"
        );
        for (i, loss) in [
            Loss::All,
            Loss::None,
            Loss::TornPrefix(k * 7 + 1),
            Loss::TornPrefix(k * 7 + 2),
            Loss::Reordered(k * 7 + 3),
            Loss::Reordered(k * 7 + 4),
        ]
        .into_iter()
        .enumerate()
        {
            check_image(
                fs.image(loss),
                &p,
                &format!("seed {seed}, crash after op {k}/{total}, loss {loss:?} ({i})"),
            );
            explored += 1;
        }
    }
    explored
}

#[test]
fn every_crash_point_recovers_a_committed_prefix() {
    let seeds: u64 = std::env::var("UIDCACHE_CRASH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut explored = 0;
    for seed in 1..=seeds {
        explored += crash_every_operation(seed);
    }
    eprintln!("crash states explored: {explored}");
    assert!(
        explored >= seeds * 100,
        "workloads too small: {explored} crash states"
    );
    if seeds >= 300 {
        assert!(
            explored >= 30_000,
            "CI must explore at least 30,000 crash states, explored {explored}"
        );
    }
}
