//! The report as a table.

use std::fmt::Write;

use super::{Report, HEADLINE, HEADLINE_DURABLE};

impl Report {
    /// A table of seconds and of ratios against uidcache.
    pub fn to_table(&self) -> String {
        let peers: Vec<&str> = [
            "uidcache",
            "rename",
            "sqlite",
            "floor",
            "vec_u32",
            "plainfile",
        ]
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
        self.headline(&mut out, &peers);
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
            let _ = writeln!(
                out,
                "fsyncs per durable one-expunge commit on the committing thread, {p}: {f:.2}"
            );
        }
        for (p, f) in &self.mixed_day_fsyncs {
            let _ = writeln!(
                out,
                "fsyncs per {HEADLINE_DURABLE} commit on the committing thread, {p}: mean {:.2}, \
                 max {} ({}); background syncer: mean {:.2}",
                f.mean, f.max, f.max_commit, f.background_mean
            );
        }
        for (p, bytes) in &self.disk_bytes {
            let ratio = self.disk_ratio.get(p).copied().unwrap_or(f64::NAN);
            let _ = writeln!(
                out,
                "disk after the bench, {p}: {:.1} MiB, {ratio:.2}x the live records ({:.1} MiB)",
                mib(*bytes),
                mib(self.live_bytes)
            );
        }
        self.latency_table(&mut out, &peers);
        out
    }

    /// The slowest commit of `mixed_day` and of its durable variant, per peer, with its
    /// p99.9 and what that commit was.
    fn headline(&self, out: &mut String, peers: &[&str]) {
        for workload in [HEADLINE, HEADLINE_DURABLE] {
            let Some(row) = self.latency.0.get(workload) else {
                continue;
            };
            let _ = write!(out, "** max commit latency, {workload}:");
            for (p, l) in peers.iter().filter_map(|p| Some((p, row.get(*p)?))) {
                let s = l.summary();
                let _ = write!(
                    out,
                    " {p} {} (p99.9 {}, {});",
                    ms(s.max),
                    ms(s.p999),
                    l.slowest().unwrap_or("-")
                );
            }
            out.push_str(" **\n");
            for (p, l) in peers.iter().filter_map(|p| Some((p, row.get(*p)?))) {
                let kinds: Vec<String> = l
                    .slowest_by_kind()
                    .iter()
                    .map(|(what, secs)| format!("{what} {}", ms(*secs)))
                    .collect();
                if !kinds.is_empty() {
                    let _ = writeln!(
                        out,
                        "slowest of each kind, {workload}, {p}: {}",
                        kinds.join(", ")
                    );
                }
            }
        }
    }

    /// One line per workload and peer: p50 / p99 / p99.9 / max of one commit (of one close
    /// for `close`), the number of samples and the slowest one's kind where known.
    fn latency_table(&self, out: &mut String, peers: &[&str]) {
        let _ = writeln!(
            out,
            "{:<22}{:<10}{:>8}{:>14}{:>14}{:>14}{:>14}  slowest",
            "latency", "peer", "samples", "p50", "p99", "p99.9", "max"
        );
        for (workload, row) in &self.latency.0 {
            for (p, l) in peers.iter().filter_map(|p| Some((p, row.get(*p)?))) {
                let s = l.summary();
                let _ = writeln!(
                    out,
                    "{workload:<22}{p:<10}{:>8}{:>14}{:>14}{:>14}{:>14}  {}",
                    l.len(),
                    ms(s.p50),
                    ms(s.p99),
                    ms(s.p999),
                    ms(s.max),
                    l.slowest().unwrap_or("-")
                );
            }
        }
    }
}

fn ms(secs: f64) -> String {
    format!("{:.3}ms", secs * 1e3)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}
