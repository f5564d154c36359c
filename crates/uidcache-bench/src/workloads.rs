//! The workloads of issue 5, run on every peer with the same operations.

use std::path::PathBuf;
use std::time::Instant;

use crate::peers::{Peer, PeerKind};
use crate::report::Report;
use crate::rng::Rng;
use crate::rss::peak_growth;
use crate::BenchError;

/// Every workload name, in the order they run.
pub const WORKLOADS: [&str; 13] = [
    "fill",
    "lookup_seq_first",
    "lookup_seq",
    "lookup_uid",
    "flag_storm",
    "flag_storm_nosync",
    "expunge_storm",
    "expunge_storm_nosync",
    "append",
    "resync",
    "reopen",
    "close",
    "verify",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages in the mailbox.
    pub messages: u32,
    /// Fewer operations per workload (a smoke test).
    pub quick: bool,
    /// The peers, uidcache first (ratios are against it).
    pub peers: Vec<PeerKind>,
    /// Where the stores go (a temporary directory when `None`).
    pub dir: Option<PathBuf>,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            messages: 1_000_000,
            quick: false,
            peers: PeerKind::ALL.to_vec(),
            dir: None,
            seed: 42,
        }
    }
}

/// One lookup of a key on a peer, as a number to sum (answers are compared across peers).
type Lookup = fn(&mut dyn Peer, u32) -> Result<u64, BenchError>;

/// See [`rounds`].
const ROUNDS_BUDGET_SECS: f64 = 2.0;

struct Counts {
    /// Rounds of the workloads that leave the store as they found it (lookups, reopen,
    /// verify): each is timed that many times, peers alternating, and the median is kept.
    rounds: usize,
    lookups: usize,
    flag_updates: usize,
    expunges: usize,
    appends: usize,
}

impl Options {
    fn counts(&self) -> Counts {
        if self.quick {
            Counts {
                rounds: 1,
                lookups: 20_000,
                flag_updates: 5_000,
                expunges: 300,
                appends: 300,
            }
        } else {
            Counts {
                rounds: 5,
                lookups: 1_000_000,
                flag_updates: 100_000,
                expunges: 10_000,
                appends: 10_000,
            }
        }
    }
}

struct Entry {
    kind: PeerKind,
    dir: PathBuf,
    peer: Option<Box<dyn Peer>>,
    /// Seconds spent closing handles between workloads (see `close`).
    closing: f64,
}

impl Entry {
    fn peer(&mut self) -> Result<&mut Box<dyn Peer>, BenchError> {
        if self.peer.is_none() {
            self.peer = Some(self.kind.open(&self.dir, true)?);
        }
        self.peer
            .as_mut()
            .ok_or(BenchError::Format("peer not open"))
    }

    /// Reopens a persistent peer (with `durable` commits); the floor has nothing to reopen.
    fn reopen(&mut self, durable: bool) -> Result<(), BenchError> {
        if !self.kind.persistent() && self.peer.is_some() {
            return Ok(());
        }
        self.close();
        self.peer = Some(self.kind.open(&self.dir, durable)?);
        Ok(())
    }

    /// Closes a persistent peer's handle, adding the time to `closing`: uidcache checkpoints
    /// (and may compact) on close, SQLite checkpoints its WAL. Kept out of the workload that
    /// happens to come next, and reported as its own row.
    fn close(&mut self) {
        if self.kind.persistent() {
            let start = Instant::now();
            self.peer = None;
            self.closing += start.elapsed().as_secs_f64();
        }
    }
}

/// Times `f` on every peer, in turn, once (workloads that change the store); with
/// `reopen`, on a handle reopened first, untimed, with durable commits or not.
fn each(
    entries: &mut [Entry],
    report: &mut Report,
    (workload, reopen): (&'static str, Option<bool>),
    f: impl FnMut(&mut Entry) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let untimed = |e: &mut Entry| match reopen {
        Some(durable) => e.reopen(durable),
        None => Ok(()),
    };
    rounds(entries, report, (workload, None), 1, untimed, f)
}

/// Times `f` on every peer, in turn, `rounds` times, and records each peer's median; the
/// first round's times also go to `first`, when given. For workloads that leave the store as
/// they found them: on a shared machine one sample of a few milliseconds says little.
/// `untimed` runs before each timed call. A peer whose rounds have taken
/// [`ROUNDS_BUDGET_SECS`] already skips the rest: a slow peer's one sample is long enough.
fn rounds(
    entries: &mut [Entry],
    report: &mut Report,
    (workload, first): (&'static str, Option<&'static str>),
    rounds: usize,
    mut untimed: impl FnMut(&mut Entry) -> Result<(), BenchError>,
    mut f: impl FnMut(&mut Entry) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); entries.len()];
    for _ in 0..rounds.max(1) {
        for (entry, times) in entries.iter_mut().zip(&mut samples) {
            if times.iter().sum::<f64>() >= ROUNDS_BUDGET_SECS {
                continue;
            }
            let peer = entry.kind.name();
            let in_peer = |e| BenchError::InPeer {
                workload,
                peer,
                source: Box::new(e),
            };
            untimed(entry).map_err(in_peer)?;
            let start = Instant::now();
            f(entry).map_err(in_peer)?;
            times.push(start.elapsed().as_secs_f64());
        }
    }
    for (entry, mut times) in entries.iter().zip(samples) {
        if let (Some(first), Some(t)) = (first, times.first()) {
            report.record(first, entry.kind.name(), *t);
        }
        times.sort_by(f64::total_cmp);
        if let Some(median) = times.get(times.len() / 2) {
            report.record(workload, entry.kind.name(), *median);
        }
    }
    Ok(())
}

/// Runs every workload on every peer and returns the report.
pub fn run(options: &Options) -> Result<Report, BenchError> {
    let temp = tempfile::tempdir()?;
    let root = options
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let n = options.messages.max(2_000);
    let counts = options.counts();
    let mut rng = Rng::new(options.seed);
    let mut entries: Vec<Entry> = options
        .peers
        .iter()
        .map(|k| Entry {
            kind: *k,
            dir: root.join(k.name()),
            peer: None,
            closing: 0.0,
        })
        .collect();
    let mut report = Report::new(n, options.quick);

    // The mailbox: increasing UIDs with gaps, learned in ranges of 2,000 in random order.
    let mut uids: Vec<u32> = Vec::with_capacity(n as usize);
    let mut next = 0u32;
    for _ in 0..n {
        next += 1 + rng.below(3) as u32;
        uids.push(next);
    }
    let mut ranges: Vec<u32> = (0..n).step_by(2_000).collect();
    for i in (1..ranges.len()).rev() {
        ranges.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut fill_fsyncs = None;
    each(&mut entries, &mut report, ("fill", None), |e| {
        let is_uidcache = e.kind == PeerKind::Uidcache;
        let p = e.peer()?;
        let before = p.fsyncs();
        p.set_exists(n)?;
        p.commit()?;
        for &start in &ranges {
            let end = (start + 2_000).min(n);
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
        plain_file_fill(&root.join("plainfile"), n, ranges.len() as u64 + 1, fsyncs)?;
        report.record("fill", "plainfile", start.elapsed().as_secs_f64());
    }

    let seqs: Vec<u32> = (0..counts.lookups)
        .map(|_| 1 + rng.below(u64::from(n)) as u32)
        .collect();
    let probe_uids: Vec<u32> = (0..counts.lookups)
        .map(|_| {
            let u = uids
                .get(rng.below(uids.len() as u64) as usize)
                .copied()
                .unwrap_or(1);
            // One in eight is a UID in a gap or past the end: absent.
            if rng.below(8) == 0 {
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
                sum = sum.wrapping_add(ask(p.as_mut(), k)?);
            }
            checksums.push((workload, e.kind.name(), sum));
            Ok(())
        };
        let names = (workload, first);
        rounds(
            &mut entries,
            &mut report,
            names,
            counts.rounds,
            |_| Ok(()),
            run,
        )?;
    }
    for (workload, name, sum) in &checksums {
        let floor = checksums
            .iter()
            .find(|(w, n, _)| w == workload && *n == "floor");
        if floor.is_some_and(|(_, _, f)| f != sum) {
            return Err(BenchError::Mismatch {
                peer: name,
                what: format!("{workload} answers"),
            });
        }
    }

    let mut modseq = 1u64;
    for (workload, durable) in [("flag_storm", true), ("flag_storm_nosync", false)] {
        let updates: Vec<(u32, u32)> = (0..counts.flag_updates)
            .map(|_| (1 + rng.below(u64::from(n)) as u32, rng.below(4) as u32))
            .collect();
        let base = modseq;
        each(&mut entries, &mut report, (workload, Some(durable)), |e| {
            let p = e.peer()?;
            for (i, (seq, flags)) in updates.iter().enumerate() {
                p.set_flags(*seq, *flags, base + i as u64)?;
                if i % 1_000 == 999 {
                    p.commit()?;
                }
            }
            p.commit()
        })?;
        modseq += updates.len() as u64;
    }

    let mut exists = n;
    let mut fsync_figures: Vec<(&'static str, f64)> = Vec::new();
    for (workload, durable) in [("expunge_storm", true), ("expunge_storm_nosync", false)] {
        let expunges: Vec<u32> = (0..counts.expunges as u32)
            .map(|i| 1 + rng.below(u64::from(exists - i)) as u32)
            .collect();
        each(&mut entries, &mut report, (workload, Some(durable)), |e| {
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
            fsync_floor(&root.join("fsync-floor"), expunges.len())?;
            report.record(workload, "plainfile", start.elapsed().as_secs_f64());
        }
        for &seq in &expunges {
            uids.remove(seq as usize - 1);
        }
        exists -= expunges.len() as u32;
    }
    for (name, per_commit) in fsync_figures {
        report
            .fsyncs_per_commit
            .insert(name.to_string(), per_commit);
    }

    let appended: Vec<u32> = (0..counts.appends as u32)
        .map(|k| next + 1 + 2 * k)
        .collect();
    each(&mut entries, &mut report, ("append", Some(true)), |e| {
        let p = e.peer()?;
        for (k, uid) in appended.iter().enumerate() {
            let seq = exists + k as u32 + 1;
            p.set_exists(seq)?;
            p.learn_range(seq, &[*uid])?;
            p.commit()?;
        }
        Ok(())
    })?;
    uids.extend_from_slice(&appended);
    exists += appended.len() as u32;

    let one_percent = (exists / 100).max(1) as usize;
    let mut vanished: Vec<u32> = (0..one_percent)
        .filter_map(|_| uids.get(rng.below(uids.len() as u64) as usize).copied())
        .collect();
    vanished.sort_unstable();
    vanished.dedup();
    let flag_changes: Vec<u32> = (0..one_percent)
        .map(|_| 1 + rng.below(u64::from(exists - vanished.len() as u32)) as u32)
        .collect();
    each(&mut entries, &mut report, ("resync", None), |e| {
        let p = e.peer()?;
        for uid in &vanished {
            p.remove_uid(*uid)?;
        }
        for (i, seq) in flag_changes.iter().enumerate() {
            p.set_flags(*seq, 1, modseq + i as u64)?;
        }
        p.commit()
    })?;
    uids.retain(|u| vanished.binary_search(u).is_err());
    let last = uids.len() as u32;
    report.final_messages = last;

    // Closing (uidcache checkpoints on close) is not part of reopening: close first, untimed.
    let close = |e: &mut Entry| {
        e.close();
        Ok(())
    };
    rounds(
        &mut entries,
        &mut report,
        ("reopen", None),
        counts.rounds,
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
    )?;

    for e in &entries {
        report.record("close", e.kind.name(), e.closing);
    }

    // Every peer must hold the same mailbox, or the timings compare different work.
    let sample: Vec<u32> = (0..2_000)
        .map(|_| 1 + rng.below(u64::from(last)) as u32)
        .collect();
    each(&mut entries, &mut report, ("verify", None), |e| {
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
    })?;
    for e in &mut entries {
        e.peer = None;
        if !e.kind.persistent() {
            continue;
        }
        let lookups: Vec<u32> = (0..1_000)
            .map(|_| 1 + rng.below(u64::from(last)) as u32)
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
            report.rss_bytes.insert(e.kind.name().to_string(), bytes);
        }
    }
    Ok(report)
}

/// The memory workload, meant to run in a fresh process (the peak is the process's): open
/// the peer's store in `dir`, read the first and the `last` record and 1,000 random ones, and
/// return the process's peak RSS in bytes.
pub fn probe_rss(
    kind: PeerKind,
    dir: &std::path::Path,
    last: u32,
    seed: u64,
) -> Result<u64, BenchError> {
    let mut rng = Rng::new(seed);
    let mut peer = kind.open(dir, true)?;
    peer.get(1)?;
    peer.get(last)?;
    for _ in 0..1_000 {
        peer.get(1 + rng.below(u64::from(last.max(1))) as u32)?;
    }
    crate::rss::process_peak().ok_or(BenchError::Format("no /proc/self/status"))
}

/// Appends `messages` 16-byte records to one file in `commits` writes, spreading `fsyncs`
/// fsyncs over them.
fn plain_file_fill(
    path: &std::path::Path,
    messages: u32,
    commits: u64,
    fsyncs: u64,
) -> Result<(), BenchError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    let per_commit = (messages as usize).div_ceil(commits.max(1) as usize);
    let chunk = vec![0x5Au8; per_commit * uidcache_format::RECORD_SIZE];
    let mut synced = 0;
    for c in 0..commits {
        file.write_all(&chunk)?;
        let due = fsyncs * (c + 1) / commits.max(1);
        while synced < due {
            file.sync_data()?;
            synced += 1;
        }
    }
    Ok(())
}

/// `commits` appends of 32 bytes to one file, each followed by fdatasync.
fn fsync_floor(path: &std::path::Path, commits: usize) -> Result<(), BenchError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    for _ in 0..commits {
        file.write_all(&[0x5A; 32])?;
        file.sync_data()?;
    }
    Ok(())
}
