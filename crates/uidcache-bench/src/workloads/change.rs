//! The workloads that change the store, each timed once per peer: fill, flag storms,
//! expunge storms, append, resync.

use std::time::Instant;

use super::floors::{fsync_floor, plain_file_fill};
use super::timing::each;
use super::Bench;
use crate::peers::{Peer, PeerKind};
use crate::BenchError;

/// Messages per learned range, as a client walking a big mailbox asks for them.
const RANGE: u32 = 2_000;

/// `fill`: the UIDs learned in ranges of 2,000 in random order, a commit each.
pub(super) fn fill(b: &mut Bench) -> Result<(), BenchError> {
    let n = b.n;
    let mut ranges: Vec<u32> = (0..n).step_by(RANGE as usize).collect();
    for i in (1..ranges.len()).rev() {
        ranges.swap(i, b.rng.below(i as u64 + 1) as usize);
    }
    let uids = &b.uids;
    let mut fill_fsyncs = None;
    each(&mut b.entries, &mut b.report, ("fill", None), |e| {
        let is_uidcache = e.kind == PeerKind::Uidcache;
        let p = e.peer()?;
        let before = p.fsyncs();
        p.set_exists(n)?;
        p.commit()?;
        for &start in &ranges {
            let end = (start + RANGE).min(n);
            let range = uids
                .get(start as usize..end as usize)
                .ok_or(BenchError::Range(start))?;
            p.learn_range(start + 1, range)?;
            p.commit()?;
        }
        if is_uidcache {
            fill_fsyncs = p.fsyncs().zip(before).map(|(a, b)| a - b);
        }
        Ok(())
    })?;
    // The fill target's yardstick: the same record bytes appended to one plain file with
    // as many fsyncs as uidcache made.
    if let Some(fsyncs) = fill_fsyncs {
        let start = Instant::now();
        plain_file_fill(
            &b.root.join("plainfile"),
            n,
            ranges.len() as u64 + 1,
            fsyncs,
        )?;
        b.report
            .record("fill", "plainfile", start.elapsed().as_secs_f64());
    }
    Ok(())
}

/// `flag_storm` and `flag_storm_nosync`: random FLAGS+MODSEQ changes, a commit per 1,000.
pub(super) fn flag_storms(b: &mut Bench) -> Result<(), BenchError> {
    let n = b.n;
    for (workload, durable) in [("flag_storm", true), ("flag_storm_nosync", false)] {
        let updates: Vec<(u32, u32)> = (0..b.counts.flag_updates)
            .map(|_| (1 + b.rng.below(u64::from(n)) as u32, b.rng.below(4) as u32))
            .collect();
        let base = b.modseq;
        let timed = (workload, Some(durable));
        each(&mut b.entries, &mut b.report, timed, |e| {
            let p = e.peer()?;
            for (i, (seq, flags)) in updates.iter().enumerate() {
                p.set_flags(*seq, *flags, base + i as u64)?;
                if i % 1_000 == 999 {
                    p.commit()?;
                }
            }
            p.commit()
        })?;
        b.modseq += updates.len() as u64;
    }
    Ok(())
}

/// `expunge_storm` and `expunge_storm_nosync`: random EXPUNGEs, a commit each; the durable
/// one also gives each peer's fsyncs per commit and the fdatasync yardstick.
pub(super) fn expunge_storms(b: &mut Bench) -> Result<(), BenchError> {
    let mut fsync_figures: Vec<(&'static str, f64)> = Vec::new();
    for (workload, durable) in [("expunge_storm", true), ("expunge_storm_nosync", false)] {
        let exists = b.exists();
        let expunges: Vec<u32> = (0..b.counts.expunges as u32)
            .map(|i| 1 + b.rng.below(u64::from(exists - i)) as u32)
            .collect();
        let timed = (workload, Some(durable));
        each(&mut b.entries, &mut b.report, timed, |e| {
            let p = e.peer()?;
            let before = p.fsyncs();
            for &seq in &expunges {
                p.expunge(seq)?;
                p.commit()?;
            }
            if let (true, Some(b), Some(a)) = (durable, before, p.fsyncs()) {
                fsync_figures.push((e.kind.name(), (a - b) as f64 / expunges.len() as f64));
            }
            Ok(())
        })?;
        if durable {
            // The yardstick of a durable small commit: one small write and one fdatasync.
            let start = Instant::now();
            fsync_floor(&b.root.join("fsync-floor"), expunges.len())?;
            b.report
                .record(workload, "plainfile", start.elapsed().as_secs_f64());
        }
        for &seq in &expunges {
            b.uids.remove(seq as usize - 1);
        }
    }
    for (name, per_commit) in fsync_figures {
        b.report
            .fsyncs_per_commit
            .insert(name.to_string(), per_commit);
    }
    Ok(())
}

/// `append`: new messages one at a time, a durable commit each, as IDLE reports them.
pub(super) fn append(b: &mut Bench) -> Result<(), BenchError> {
    let exists = b.exists();
    let appended: Vec<u32> = (0..b.counts.appends as u32)
        .map(|k| b.next + 1 + 2 * k)
        .collect();
    each(&mut b.entries, &mut b.report, ("append", Some(true)), |e| {
        let p = e.peer()?;
        for (k, uid) in appended.iter().enumerate() {
            let seq = exists + k as u32 + 1;
            p.set_exists(seq)?;
            p.learn_range(seq, &[*uid])?;
            p.commit()?;
        }
        Ok(())
    })?;
    b.uids.extend_from_slice(&appended);
    Ok(())
}

/// `resync`: what a reconnect brings, in one commit: 1% VANISHED and 1% flag changes.
pub(super) fn resync(b: &mut Bench) -> Result<(), BenchError> {
    let exists = b.exists();
    let one_percent = (exists / 100).max(1) as usize;
    let vanished = b.vanishing(one_percent);
    let flag_changes: Vec<u32> = (0..one_percent)
        .map(|_| 1 + b.rng.below(u64::from(exists - vanished.len() as u32)) as u32)
        .collect();
    let modseq = b.modseq;
    each(&mut b.entries, &mut b.report, ("resync", None), |e| {
        let p = e.peer()?;
        for uid in &vanished {
            p.remove_uid(*uid)?;
        }
        for (i, seq) in flag_changes.iter().enumerate() {
            p.set_flags(*seq, 1, modseq + i as u64)?;
        }
        p.commit()
    })?;
    b.uids.retain(|u| vanished.binary_search(u).is_err());
    Ok(())
}
