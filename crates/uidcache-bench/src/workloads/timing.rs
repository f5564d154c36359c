//! Timing a workload on every peer in turn: one run for workloads that change the store,
//! the median of several rounds for those that leave it as they found it.

use std::path::PathBuf;
use std::time::Instant;

use crate::latency::Latency;
use crate::peers::{CommitLog, PeerKind, Timed};
use crate::report::Report;
use crate::BenchError;

/// See [`rounds`].
const ROUNDS_BUDGET_SECS: f64 = 2.0;

/// One peer under benchmark: where its store is, its open handle.
pub(super) struct Entry {
    pub(super) kind: PeerKind,
    pub(super) dir: PathBuf,
    pub(super) peer: Option<Timed>,
    /// Seconds spent closing handles between workloads (see `close`).
    pub(super) closing: f64,
    /// Each close on its own, labelled with the workload whose handle it closed.
    pub(super) closes: Latency,
    /// Each close until the store was settled (uidcache: its background checkpoint done).
    pub(super) settled: Latency,
    /// The commits of the running workload on handles closed during it.
    pub(super) closed_log: CommitLog,
    /// The workload that last ran on this peer.
    pub(super) workload: &'static str,
}

impl Entry {
    pub(super) fn new(kind: PeerKind, dir: PathBuf) -> Self {
        Entry {
            kind,
            dir,
            peer: None,
            closing: 0.0,
            closes: Latency::new(),
            settled: Latency::new(),
            closed_log: CommitLog::default(),
            workload: "",
        }
    }

    pub(super) fn peer(&mut self) -> Result<&mut Timed, BenchError> {
        if self.peer.is_none() {
            self.peer = Some(Timed::new(self.kind.open(&self.dir, true)?));
        }
        self.peer
            .as_mut()
            .ok_or(BenchError::Format("peer not open"))
    }

    /// Reopens a persistent peer (with `durable` commits); the floor has nothing to reopen.
    pub(super) fn reopen(&mut self, durable: bool) -> Result<(), BenchError> {
        if !self.kind.persistent() && self.peer.is_some() {
            return Ok(());
        }
        self.close();
        self.peer = Some(Timed::new(self.kind.open(&self.dir, durable)?));
        Ok(())
    }

    /// Closes a persistent peer's handle, adding the time to `closing`: uidcache checkpoints
    /// (and may compact) on close, SQLite checkpoints its WAL. Kept out of the workload that
    /// happens to come next, and reported as its own row and its own latencies.
    pub(super) fn close(&mut self) {
        if !self.kind.persistent() {
            return;
        }
        let Some(mut peer) = self.peer.take() else {
            return;
        };
        self.closed_log.merge(&peer.take_log());
        let start = Instant::now();
        drop(peer);
        let secs = start.elapsed().as_secs_f64();
        self.closing += secs;
        self.closes.record(secs, self.workload);
        // What the caller no longer waits for is still work: measured, apart.
        self.kind.wait_closed(&self.dir);
        let settled = start.elapsed().as_secs_f64();
        self.settled.record(settled, self.workload);
    }

    /// The commits of the workload that just ran, on every handle it used.
    fn take_log(&mut self) -> CommitLog {
        let mut log = std::mem::take(&mut self.closed_log);
        if let Some(p) = self.peer.as_mut() {
            log.merge(&p.take_log());
        }
        log
    }
}

/// Times `f` on every peer, in turn, once (workloads that change the store); with
/// `reopen`, on a handle reopened first, untimed, with durable commits or not.
pub(super) fn each(
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
pub(super) fn rounds(
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
            entry.workload = workload;
            let start = Instant::now();
            f(entry).map_err(in_peer)?;
            times.push(start.elapsed().as_secs_f64());
            let log = entry.take_log();
            report.record_commits(workload, peer, &log);
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
