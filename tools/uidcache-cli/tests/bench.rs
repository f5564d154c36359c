//! `uidcache bench --quick` as a smoke test (issue 5): every workload runs on every peer,
//! the peers agree on every answer checked (the run fails otherwise), and the JSON report
//! keeps the shape that scripts read. Nothing about time is asserted.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::process::Command;

use serde_json::Value;

/// Every leaf of `value` as `path: type`, sorted: the shape of the report without its figures.
fn shape(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                shape(v, &path, out);
            }
        }
        Value::Bool(_) => out.push(format!("{path}: bool")),
        Value::Number(_) => out.push(format!("{path}: number")),
        other => out.push(format!("{path}: {other}")),
    }
}

/// The shape `--json` had when it was formatted by hand (issue 14 moved it to serde): a
/// script written against it must keep working.
fn expected_shape() -> Vec<String> {
    let mut want = vec!["messages: number".to_string(), "quick: bool".to_string()];
    for workload in uidcache_bench::WORKLOADS {
        for peer in ["floor", "rename", "sqlite", "uidcache"] {
            want.push(format!("workloads.{workload}.{peer}: number"));
        }
    }
    for workload in ["fill", "expunge_storm"] {
        want.push(format!("workloads.{workload}.plainfile: number"));
    }
    // Issue 12: the UID→seq floor, commit latencies, fsyncs of durable day commits, disk.
    want.push("workloads.lookup_uid.vec_u32: number".to_string());
    let reading = [
        "lookup_seq_first",
        "lookup_seq",
        "lookup_uid",
        "reopen",
        "verify",
    ];
    for workload in uidcache_bench::WORKLOADS {
        if reading.contains(&workload) {
            continue;
        }
        for peer in ["floor", "rename", "sqlite", "uidcache"] {
            // Each close is a sample; the floor has nothing to close.
            if workload == "close" && peer == "floor" {
                continue;
            }
            for figure in ["p50", "p99", "p999", "max"] {
                want.push(format!("latency.{workload}.{peer}.{figure}: number"));
            }
        }
    }
    // Each close again, until the store is settled (uidcache: its background checkpoint).
    for peer in ["rename", "sqlite", "uidcache"] {
        for figure in ["p50", "p99", "p999", "max"] {
            want.push(format!("latency.close_settled.{peer}.{figure}: number"));
        }
    }
    for peer in ["floor", "rename", "uidcache"] {
        for figure in ["background_mean", "mean", "max"] {
            want.push(format!("mixed_day_fsyncs.{peer}.{figure}: number"));
        }
    }
    want.push("live_bytes: number".to_string());
    for peer in ["rename", "sqlite", "uidcache"] {
        want.push(format!("disk_bytes.{peer}: number"));
        want.push(format!("disk_ratio.{peer}: number"));
    }
    for peer in ["rename", "sqlite", "uidcache"] {
        want.push(format!("rss_bytes.{peer}: number"));
    }
    // SQLite does not say how many fsyncs it made.
    for peer in ["floor", "rename", "uidcache"] {
        want.push(format!("fsyncs_per_commit.{peer}: number"));
    }
    want.sort();
    want
}

#[test]
fn quick_bench_reports_every_workload_for_every_peer() {
    let out = Command::new(env!("CARGO_BIN_EXE_uidcache"))
        .args(["bench", "--quick", "--messages", "20000", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let mut got = Vec::new();
    shape(&json, "", &mut got);
    got.sort();
    assert_eq!(got, expected_shape(), "{text}");
    assert_eq!(json["messages"], 20_000, "{text}");
    assert_eq!(json["quick"], true, "{text}");
    // One durable expunge costs uidcache one fsync, plus its share of the compaction steps'
    // and checkpoints' fsyncs, amortised over many commits (GUARANTEES.md).
    let fsyncs = json["fsyncs_per_commit"]["uidcache"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (1.0..=1.5).contains(&fsyncs),
        "{fsyncs} fsyncs per commit: {text}"
    );
}
