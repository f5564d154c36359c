//! Commit latencies: every commit (and every close) timed on its own and counted in an HDR
//! histogram per workload and peer, so the report gives p50 / p99 / p99.9 / max and not only
//! a workload's total (a stall of one commit hides in a sum of ten thousand).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Highest latency the histograms resolve, in nanoseconds (one hour); longer ones are
/// counted as one hour.
const HIGHEST_NS: u64 = 3_600 * 1_000_000_000;
/// Significant decimal digits kept for every value: 0.1% resolution, the HDR default.
const SIGFIG: u8 = 3;

/// The latencies of one workload on one peer, in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
    /// What the slowest commit was, when the workload labelled its commits.
    slowest: Option<(u64, &'static str)>,
    /// The slowest sample of each label: which kinds of commit come near the maximum, and
    /// how a kind that was the slowest fares once another one is.
    by_kind: BTreeMap<&'static str, u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    /// An empty record.
    pub fn new() -> Self {
        // Only bad bounds fail, and these are constants that meet the crate's rules
        // (1 ≤ low, high ≥ 2 × low, sigfig ≤ 5): no input reaches this.
        let histogram = Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIG)
            .expect("constant histogram bounds are valid");
        Latency {
            histogram,
            slowest: None,
            by_kind: BTreeMap::new(),
        }
    }

    /// Counts one sample of `secs`, labelled `what` (the kind of commit).
    pub fn record(&mut self, secs: f64, what: &'static str) {
        let ns = (secs * 1e9).round().clamp(0.0, HIGHEST_NS as f64) as u64;
        self.histogram.saturating_record(ns);
        if self.slowest.is_none_or(|(max, _)| ns > max) {
            self.slowest = Some((ns, what));
        }
        if !what.is_empty() {
            let max = self.by_kind.entry(what).or_default();
            *max = (*max).max(ns);
        }
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Both histograms have the same bounds, so adding cannot fail; were it to, the
        // samples are recorded one by one (saturating).
        if self.histogram.add(&other.histogram).is_err() {
            for v in other.histogram.iter_recorded() {
                self.histogram
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        if let Some((ns, what)) = other.slowest {
            if self.slowest.is_none_or(|(max, _)| ns > max) {
                self.slowest = Some((ns, what));
            }
        }
        for (what, ns) in &other.by_kind {
            let max = self.by_kind.entry(what).or_default();
            *max = (*max).max(*ns);
        }
    }

    /// Samples counted.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The label of the slowest sample, if the workload gave one.
    pub fn slowest(&self) -> Option<&'static str> {
        self.slowest.map(|(_, what)| what).filter(|w| !w.is_empty())
    }

    /// The slowest sample of each label, in seconds, slowest first.
    pub fn slowest_by_kind(&self) -> Vec<(&'static str, f64)> {
        let mut kinds: Vec<(&'static str, f64)> = self
            .by_kind
            .iter()
            .map(|(what, ns)| (*what, *ns as f64 / 1e9))
            .collect();
        kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
        kinds
    }

    /// p50, p99, p99.9 and max, in seconds.
    pub fn summary(&self) -> Summary {
        let at = |q: f64| self.histogram.value_at_quantile(q) as f64 / 1e9;
        Summary {
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: self.histogram.max() as f64 / 1e9,
        }
    }
}

/// The figures the report gives of a [`Latency`], in seconds. Each is the highest value
/// equivalent to the sample at that rank (HDR rounding, 0.1%), so `p50 ≤ p99 ≤ p999 ≤ max`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

/// Workload → peer → latencies. Serializes as
/// `{WORKLOAD: {PEER: {"p50": s, "p99": s, "p999": s, "max": s}}}`.
#[derive(Debug, Clone, Default)]
pub struct Latencies(pub BTreeMap<String, BTreeMap<String, Latency>>);

impl Latencies {
    /// Adds `samples` to `workload` on `peer` (nothing when there are none).
    pub(crate) fn add(&mut self, workload: &str, peer: &str, samples: &Latency) {
        if samples.is_empty() {
            return;
        }
        self.0
            .entry(workload.to_string())
            .or_default()
            .entry(peer.to_string())
            .or_default()
            .merge(samples);
    }

    /// The latencies of `workload` on `peer`.
    pub fn get(&self, workload: &str, peer: &str) -> Option<&Latency> {
        self.0.get(workload)?.get(peer)
    }
}

impl Serialize for Latencies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (workload, peers) in &self.0 {
            let summaries: BTreeMap<&str, Summary> = peers
                .iter()
                .map(|(p, l)| (p.as_str(), l.summary()))
                .collect();
            map.serialize_entry(workload, &summaries)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_near_the_samples() {
        let mut l = Latency::new();
        for i in 1..=1_000u32 {
            l.record(f64::from(i) * 1e-6, "small");
        }
        l.record(0.25, "big");
        let s = l.summary();
        assert!(
            s.p50 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max,
            "{s:?}"
        );
        // 0.1% resolution: the median of 1..=1000 µs (and one outlier) is ~500 µs.
        assert!((s.p50 - 500e-6).abs() < 2e-6, "{s:?}");
        assert!((s.max - 0.25).abs() < 0.25 * 1e-3, "{s:?}");
        assert_eq!(l.slowest(), Some("big"));
        assert_eq!(l.len(), 1_001);
    }

    #[test]
    fn merge_adds_samples_and_keeps_the_slowest_label() {
        let mut a = Latency::new();
        a.record(0.001, "a");
        let mut b = Latency::new();
        b.record(0.002, "b");
        b.record(0.0005, "b");
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.slowest(), Some("b"));
        let kinds: Vec<&str> = a.slowest_by_kind().iter().map(|k| k.0).collect();
        assert_eq!(kinds, ["b", "a"]);
        assert!((a.slowest_by_kind()[0].1 - 0.002).abs() < 1e-9);
        assert!((a.summary().max - 0.002).abs() < 0.002 * 1e-3);
    }

    #[test]
    fn latencies_serialize_as_four_figures_per_workload_and_peer() {
        let mut all = Latencies::default();
        let mut l = Latency::new();
        l.record(0.003, "");
        all.add("append", "uidcache", &l);
        all.add("append", "sqlite", &Latency::new());
        let json = serde_json::to_value(&all).unwrap_or_default();
        let entry = &json["append"]["uidcache"];
        for key in ["p50", "p99", "p999", "max"] {
            assert!(entry[key].as_f64().is_some_and(|s| s > 0.0029), "{json}");
        }
        assert_eq!(entry.as_object().map(|o| o.len()), Some(4), "{json}");
        // An empty record is not reported: a peer without samples has no figures.
        assert!(json["append"].get("sqlite").is_none(), "{json}");
    }
}
