//! A peer whose every commit is timed on its own: the workloads call the same trait, and
//! the latencies and fsyncs of each commit are counted beside them.
//!
//! A commit's latency runs from its transaction's first change to the end of `commit`:
//! peers differ in where the work goes (uidcache applies its changes in `commit`, SQLite
//! runs each statement as it comes, the rename layout rewrites and renames files in
//! `expunge`), and a client waits for all of it before the change is on disk.

use std::time::Instant;

use super::{Msg, Peer};
use crate::latency::Latency;
use crate::BenchError;

/// What a run of commits cost, one commit at a time.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommitLog {
    /// Seconds of each commit.
    pub(crate) latency: Latency,
    /// fsyncs of the commit that made the most, and its label, where the peer counts them.
    pub(crate) max_fsyncs: Option<(u64, &'static str)>,
    /// fsyncs of all the commits, where the peer counts them.
    pub(crate) fsyncs: Option<u64>,
    /// fsyncs of the peer's background thread from the first commit's start to the last
    /// one's end, where it has one.
    pub(crate) background_fsyncs: Option<u64>,
}

impl CommitLog {
    /// Adds `other`'s commits.
    pub(crate) fn merge(&mut self, other: &CommitLog) {
        self.latency.merge(&other.latency);
        self.max_fsyncs = self.max_fsyncs.max(other.max_fsyncs);
        self.fsyncs = sum_of(self.fsyncs, other.fsyncs);
        self.background_fsyncs = sum_of(self.background_fsyncs, other.background_fsyncs);
    }
}

fn sum_of(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// A peer and the log of its commits.
pub(crate) struct Timed {
    inner: Box<dyn Peer>,
    log: CommitLog,
    /// The kind of the commits to come, as the slowest one's label.
    label: &'static str,
    /// When the pending transaction's first change was made.
    started: Option<Instant>,
    /// The background fsyncs counted into `log` so far.
    background_seen: Option<u64>,
}

impl Timed {
    pub(crate) fn new(inner: Box<dyn Peer>) -> Self {
        Timed {
            inner,
            log: CommitLog::default(),
            label: "",
            started: None,
            background_seen: None,
        }
    }

    /// Adds the background fsyncs since `before` (the last count) to the log.
    fn count_background(&mut self, before: Option<u64>) {
        if let (Some(b), Some(a)) = (before, self.inner.background_fsyncs()) {
            let n = a.saturating_sub(b);
            self.log.background_fsyncs = sum_of(self.log.background_fsyncs, Some(n));
            self.background_seen = Some(a);
        }
    }

    /// Starts the clock of the pending transaction at its first change.
    fn change(&mut self) -> &mut dyn Peer {
        self.started.get_or_insert_with(Instant::now);
        self.inner.as_mut()
    }

    /// Names the commits that follow (`"vanished"`, `"append"`…), so the report can say
    /// which kind of commit was the slowest.
    pub(crate) fn label(&mut self, what: &'static str) {
        self.label = what;
    }

    /// The peer itself, for loops of lookups: no second dynamic call per lookup, so the
    /// lookup figures stay comparable with those measured before commits were timed.
    pub(crate) fn untimed(&mut self) -> &mut dyn Peer {
        self.inner.as_mut()
    }

    /// The log since the last call, emptied.
    pub(crate) fn take_log(&mut self) -> CommitLog {
        std::mem::take(&mut self.log)
    }
}

impl Peer for Timed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn set_exists(&mut self, count: u32) -> Result<(), BenchError> {
        self.change().set_exists(count)
    }

    fn learn_range(&mut self, seq: u32, uids: &[u32]) -> Result<(), BenchError> {
        self.change().learn_range(seq, uids)
    }

    fn get(&mut self, seq: u32) -> Result<Option<Msg>, BenchError> {
        self.inner.get(seq)
    }

    fn seq_of(&mut self, uid: u32) -> Result<Option<u32>, BenchError> {
        self.inner.seq_of(uid)
    }

    fn expunge(&mut self, seq: u32) -> Result<(), BenchError> {
        self.change().expunge(seq)
    }

    fn remove_uid(&mut self, uid: u32) -> Result<(), BenchError> {
        self.change().remove_uid(uid)
    }

    fn set_flags(&mut self, seq: u32, flags: u32, modseq: u64) -> Result<(), BenchError> {
        self.change().set_flags(seq, flags, modseq)
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        let before = self.inner.fsyncs();
        let bg_before = self.background_seen.or(self.inner.background_fsyncs());
        let start = self.started.take().unwrap_or_else(Instant::now);
        self.inner.commit()?;
        let secs = start.elapsed().as_secs_f64();
        self.log.latency.record(secs, self.label);
        if let (Some(b), Some(a)) = (before, self.inner.fsyncs()) {
            let n = a.saturating_sub(b);
            self.log.max_fsyncs = self.log.max_fsyncs.max(Some((n, self.label)));
            self.log.fsyncs = sum_of(self.log.fsyncs, Some(n));
        }
        self.count_background(bg_before);
        Ok(())
    }

    fn fsyncs(&self) -> Option<u64> {
        self.inner.fsyncs()
    }
}
