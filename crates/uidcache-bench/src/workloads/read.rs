//! The workloads that leave the store as they found it: lookups, reopen, close, verify,
//! and the peak memory of a reopen.

use super::floors::vec_u32_lookups;
use super::timing::{each, rounds, Entry};
use super::Bench;
use crate::peers::Peer;
use crate::rss::peak_growth;
use crate::BenchError;
use uidcache_format::RECORD_SIZE;

/// One lookup of a key on a peer, as a number to sum (answers are compared across peers).
type Lookup = fn(&mut dyn Peer, u32) -> Result<u64, BenchError>;

/// `lookup_seq_first`, `lookup_seq` and `lookup_uid`: random keys, one in eight UIDs absent;
/// every peer's answers must sum to the floor's.
pub(super) fn lookups(b: &mut Bench) -> Result<(), BenchError> {
    let n = b.n;
    let seqs: Vec<u32> = (0..b.counts.lookups)
        .map(|_| 1 + b.rng.below(u64::from(n)) as u32)
        .collect();
    let probe_uids: Vec<u32> = (0..b.counts.lookups)
        .map(|_| {
            let u = b
                .uids
                .get(b.rng.below(b.uids.len() as u64) as usize)
                .copied()
                .unwrap_or(1);
            // One in eight is a UID in a gap or past the end: absent.
            if b.rng.below(8) == 0 {
                u + 1
            } else {
                u
            }
        })
        .collect();
    let mut checksums = Vec::new();
    // The first round of seq→record reads every block for the first time (a check of its
    // CRC, a mapping): the cost of a handle's first lookups, kept apart from the median.
    let lookups: [(&str, Option<&str>, &[u32], Lookup); 2] = [
        ("lookup_seq", Some("lookup_seq_first"), &seqs, |p, s| {
            Ok(u64::from(p.get(s)?.map_or(0, |m| m.uid)))
        }),
        ("lookup_uid", None, &probe_uids, |p, u| {
            Ok(u64::from(p.seq_of(u)?.unwrap_or(0)))
        }),
    ];
    for (workload, first, keys, ask) in lookups {
        let run = |e: &mut Entry| {
            let p = e.peer()?;
            let mut sum = 0u64;
            for &k in keys {
                sum = sum.wrapping_add(ask(p.untimed(), k)?);
            }
            checksums.push((workload, e.kind.name(), sum));
            Ok(())
        };
        let names = (workload, first);
        let rounds_of = b.counts.rounds;
        rounds(
            &mut b.entries,
            &mut b.report,
            names,
            rounds_of,
            |_| Ok(()),
            run,
        )?;
    }
    // The real floor of UID→seq: the same probes on a sorted Vec<u32> (a column of its own,
    // measured whatever the peers).
    let (secs, sum) = vec_u32_lookups(&b.uids, &probe_uids, b.counts.rounds);
    b.report.record("lookup_uid", "vec_u32", secs);
    checksums.push(("lookup_uid", "vec_u32", sum));
    for (workload, name, sum) in &checksums {
        let truth = if *workload == "lookup_uid" {
            "vec_u32"
        } else {
            "floor"
        };
        let floor = checksums
            .iter()
            .find(|(w, n, _)| w == workload && *n == truth);
        if floor.is_some_and(|(_, _, f)| f != sum) {
            return Err(BenchError::Mismatch {
                peer: name,
                what: format!("{workload} answers"),
            });
        }
    }
    Ok(())
}

/// `reopen`: a persistent peer opened again and its first and last record read. Closing
/// (uidcache checkpoints on close) is not part of it: the close runs first, untimed.
pub(super) fn reopen(b: &mut Bench) -> Result<(), BenchError> {
    let close = |e: &mut Entry| {
        e.close();
        Ok(())
    };
    let uids = &b.uids;
    let last = uids.len() as u32;
    let rounds_of = b.counts.rounds;
    rounds(
        &mut b.entries,
        &mut b.report,
        ("reopen", None),
        rounds_of,
        close,
        |e| {
            if !e.kind.persistent() {
                return Ok(());
            }
            e.reopen(true)?;
            let p = e.peer()?;
            let first = p.get(1)?.map(|m| m.uid);
            let end = p.get(last)?.map(|m| m.uid);
            if first != uids.first().copied() || end != uids.last().copied() {
                return Err(BenchError::Mismatch {
                    peer: p.name(),
                    what: format!("first/last {first:?}/{end:?}"),
                });
            }
            Ok(())
        },
    )
}

/// `close`: the last handles closed, then the time every handle closed between workloads
/// took, summed, and each close as a latency sample.
pub(super) fn close(b: &mut Bench) {
    for e in &mut b.entries {
        e.close();
        b.report.record("close", e.kind.name(), e.closing);
        b.report.latency.add("close", e.kind.name(), &e.closes);
        b.report
            .latency
            .add("close_settled", e.kind.name(), &e.settled);
    }
}

/// Each persistent peer's disk use after the whole bench, against the live records.
pub(super) fn disk(b: &mut Bench) -> Result<(), BenchError> {
    b.report.live_bytes = u64::from(b.exists()) * RECORD_SIZE as u64;
    for e in b.entries.iter().filter(|e| e.kind.persistent()) {
        let bytes = crate::disk::bytes_under(&e.dir)?;
        b.report.record_disk(e.kind.name(), bytes);
    }
    Ok(())
}

/// `verify`: every peer must hold the same mailbox, or the timings compare different work.
pub(super) fn verify(b: &mut Bench) -> Result<(), BenchError> {
    let last = b.exists();
    let sample: Vec<u32> = (0..2_000)
        .map(|_| 1 + b.rng.below(u64::from(last)) as u32)
        .collect();
    let uids = &b.uids;
    each(&mut b.entries, &mut b.report, ("verify", None), |e| {
        let p = e.peer()?;
        for &s in &sample {
            let got = p.get(s)?.map(|m| m.uid);
            if got != uids.get(s as usize - 1).copied() {
                return Err(BenchError::Mismatch {
                    peer: p.name(),
                    what: format!("seq {s}: {got:?}"),
                });
            }
        }
        Ok(())
    })
}

/// The peak memory of a reopen plus 1,000 lookups, within this process (`uidcache bench`
/// replaces it with a fresh process's figure, see [`super::probe_rss`]).
pub(super) fn memory(b: &mut Bench) -> Result<(), BenchError> {
    let last = b.exists();
    for e in &mut b.entries {
        e.peer = None;
        if !e.kind.persistent() {
            continue;
        }
        let lookups: Vec<u32> = (0..1_000)
            .map(|_| 1 + b.rng.below(u64::from(last)) as u32)
            .collect();
        let (result, bytes) = peak_growth(|| -> Result<(), BenchError> {
            let mut p = e.kind.open(&e.dir, true)?;
            p.get(1)?;
            p.get(last)?;
            for s in &lookups {
                p.get(*s)?;
            }
            Ok(())
        });
        result?;
        if let Some(bytes) = bytes {
            b.report.rss_bytes.insert(e.kind.name().to_string(), bytes);
        }
    }
    Ok(())
}
