//! The benchmark report: seconds per workload and peer, ratios against uidcache, commit
//! latencies, disk use, JSON (here) and a table (`table.rs`).

mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::latency::Latencies;
use crate::peers::CommitLog;

/// The workload whose slowest commit is the headline figure (issue 12).
pub const HEADLINE: &str = "mixed_day";
/// Its durable variant, whose fsyncs per commit are counted.
pub const HEADLINE_DURABLE: &str = "mixed_day_durable";

/// Results of one [`crate::run`]. Its JSON form (see [`Report::to_json`]) is what scripts
/// read: the field names are the keys, so renaming a field breaks them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Messages in the mailbox.
    pub messages: u32,
    /// Whether the quick counts were used.
    pub quick: bool,
    /// Messages left after every workload (what the memory probe reads).
    #[serde(skip)]
    pub final_messages: u32,
    /// Workload → peer → seconds.
    pub workloads: BTreeMap<String, BTreeMap<String, f64>>,
    /// Peer → peak RSS of reopen plus 1,000 lookups, bytes (in a fresh process when run by
    /// `uidcache bench`; the growth within this process otherwise).
    pub rss_bytes: BTreeMap<String, u64>,
    /// Peer → fsyncs per durable commit of one expunge.
    pub fsyncs_per_commit: BTreeMap<String, f64>,
    /// Workload → peer → p50 / p99 / p99.9 / max seconds of one commit; `close` holds each
    /// close of a handle (the drop after a workload) as one sample.
    pub latency: Latencies,
    /// Peer → fsyncs per commit of `mixed_day_durable`, where the peer counts them.
    pub mixed_day_fsyncs: BTreeMap<String, FsyncFigure>,
    /// Bytes of the live records after the whole bench: messages × record size.
    pub live_bytes: u64,
    /// Peer → bytes of its store's files after the whole bench (handles closed).
    pub disk_bytes: BTreeMap<String, u64>,
    /// Peer → `disk_bytes` over `live_bytes`.
    pub disk_ratio: BTreeMap<String, f64>,
}

/// fsyncs of the commits of one workload on one peer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FsyncFigure {
    /// Mean over the commits.
    pub mean: f64,
    /// The commit with the most.
    pub max: u64,
    /// What that commit was (table only).
    #[serde(skip)]
    pub max_commit: &'static str,
    /// fsyncs of the peer's background thread (uidcache's syncer, FORMAT.md 7.4) over the
    /// same commits, per commit: not in `mean` and `max`, which count the committing
    /// thread's. 0 for a peer without one.
    pub background_mean: f64,
}

impl Report {
    pub(crate) fn new(messages: u32, quick: bool) -> Self {
        Report {
            messages,
            quick,
            ..Report::default()
        }
    }

    pub(crate) fn record(&mut self, workload: &str, peer: &str, secs: f64) {
        self.workloads
            .entry(workload.to_string())
            .or_default()
            .insert(peer.to_string(), secs);
    }

    /// Counts the commits of `workload` on `peer`, one latency sample each.
    pub(crate) fn record_commits(&mut self, workload: &str, peer: &str, log: &CommitLog) {
        self.latency.add(workload, peer, &log.latency);
        let commits = log.latency.len();
        if workload == HEADLINE_DURABLE && commits > 0 {
            if let (Some(total), Some((max, max_commit))) = (log.fsyncs, log.max_fsyncs) {
                let mean = total as f64 / commits as f64;
                let background = log.background_fsyncs.unwrap_or(0);
                let figure = FsyncFigure {
                    mean,
                    max,
                    max_commit,
                    background_mean: background as f64 / commits as f64,
                };
                self.mixed_day_fsyncs.insert(peer.to_string(), figure);
            }
        }
    }

    /// Records `peer`'s store size after the bench, against the live records.
    pub(crate) fn record_disk(&mut self, peer: &str, bytes: u64) {
        self.disk_bytes.insert(peer.to_string(), bytes);
        if self.live_bytes > 0 {
            self.disk_ratio
                .insert(peer.to_string(), bytes as f64 / self.live_bytes as f64);
        }
    }

    /// `peer`'s time over uidcache's for `workload`: above 1 means uidcache is faster.
    pub fn ratio(&self, workload: &str, peer: &str) -> Option<f64> {
        let w = self.workloads.get(workload)?;
        let ours = *w.get("uidcache")?;
        let theirs = *w.get(peer)?;
        (ours > 0.0).then_some(theirs / ours)
    }

    /// The report as JSON: `{"messages": N, "quick": b, "workloads": {NAME: {PEER: secs}},
    /// "rss_bytes": {PEER: n}, "fsyncs_per_commit": {PEER: x}, "latency": {NAME: {PEER:
    /// {"p50": s, "p99": s, "p999": s, "max": s}}}, "mixed_day_fsyncs": {PEER: {"mean": x,
    /// "max": n}}, "live_bytes": n, "disk_bytes": {PEER: n}, "disk_ratio": {PEER: x}}`.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}
