//! The benchmark report: seconds per workload and peer, ratios against uidcache, JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

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

    /// `peer`'s time over uidcache's for `workload`: above 1 means uidcache is faster.
    pub fn ratio(&self, workload: &str, peer: &str) -> Option<f64> {
        let w = self.workloads.get(workload)?;
        let ours = *w.get("uidcache")?;
        let theirs = *w.get(peer)?;
        (ours > 0.0).then_some(theirs / ours)
    }

    /// The report as JSON: `{"messages": N, "quick": b, "workloads": {NAME: {PEER: secs}},
    /// "rss_bytes": {PEER: n}, "fsyncs_per_commit": {PEER: x}}`.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// A table of seconds and of ratios against uidcache.
    pub fn to_table(&self) -> String {
        let peers: Vec<&str> = ["uidcache", "rename", "sqlite", "floor", "plainfile"]
            .into_iter()
            .filter(|p| self.workloads.values().any(|w| w.contains_key(*p)))
            .collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} messages{}",
            self.messages,
            if self.quick { " (quick)" } else { "" }
        );
        let _ = write!(out, "{:<22}", "workload");
        for p in &peers {
            let _ = write!(out, "{p:>12}");
        }
        for p in peers.iter().skip(1) {
            let _ = write!(out, "{:>15}", format!("{p}/ours"));
        }
        out.push('\n');
        for (name, row) in &self.workloads {
            let _ = write!(out, "{name:<22}");
            for p in &peers {
                match row.get(*p) {
                    Some(s) => {
                        let _ = write!(out, "{:>12}", format!("{s:.4}s"));
                    }
                    None => {
                        let _ = write!(out, "{:>12}", "-");
                    }
                }
            }
            for p in peers.iter().skip(1) {
                match self.ratio(name, p) {
                    Some(r) => {
                        let _ = write!(out, "{:>15}", format!("{r:.2}x"));
                    }
                    None => {
                        let _ = write!(out, "{:>15}", "-");
                    }
                }
            }
            out.push('\n');
        }
        for (p, b) in &self.rss_bytes {
            let _ = writeln!(
                out,
                "peak RSS, reopen + 1,000 lookups, {p}: {:.1} MiB",
                *b as f64 / 1048576.0
            );
        }
        for (p, f) in &self.fsyncs_per_commit {
            let _ = writeln!(out, "fsyncs per durable one-expunge commit, {p}: {f:.2}");
        }
        out
    }
}
