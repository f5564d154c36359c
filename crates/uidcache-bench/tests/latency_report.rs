//! Issue 12: a small bench run reports every commit's latency per workload and peer, the
//! slowest commit of `mixed_day`, each close, the fsyncs of durable `mixed_day` commits and
//! each store's disk use, in the JSON shape scripts read. Nothing about time is asserted
//! beyond the order of the percentiles.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use serde_json::Value;
use uidcache_bench::peers::PeerKind;
use uidcache_bench::{run, Options, WORKLOADS};

/// The workloads that commit (the others only read, or time the closes).
fn committing() -> Vec<&'static str> {
    let reading = [
        "lookup_seq_first",
        "lookup_seq",
        "lookup_uid",
        "reopen",
        "close",
        "verify",
    ];
    WORKLOADS
        .into_iter()
        .filter(|w| !reading.contains(w))
        .collect()
}

fn assert_ordered(json: &Value, workload: &str, peer: &str) {
    let entry = &json["latency"][workload][peer];
    let figure = |k: &str| {
        entry[k]
            .as_f64()
            .unwrap_or_else(|| panic!("latency.{workload}.{peer}.{k} missing: {entry}"))
    };
    let (p50, p99, p999, max) = (figure("p50"), figure("p99"), figure("p999"), figure("max"));
    assert!(
        0.0 <= p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
        "latency.{workload}.{peer}: {entry}"
    );
    assert_eq!(entry.as_object().unwrap().len(), 4, "{entry}");
}

#[test]
fn small_bench_reports_latency_close_fsyncs_and_disk_for_every_peer() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        messages: 10_000,
        quick: true,
        dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    let report = run(&options).unwrap();
    let json: Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();

    for workload in committing() {
        for peer in PeerKind::ALL {
            assert_ordered(&json, workload, peer.name());
        }
    }
    let persistent: Vec<&str> = PeerKind::ALL
        .into_iter()
        .filter(|k| k.persistent())
        .map(|k| k.name())
        .collect();
    for peer in &persistent {
        // Every close of a handle is a sample of its own.
        assert_ordered(&json, "close", peer);
        let ratio = json["disk_ratio"][peer].as_f64().unwrap();
        let bytes = json["disk_bytes"][peer].as_u64().unwrap();
        assert!(ratio > 0.0 && bytes > 0, "{peer}: {ratio} {bytes}");
    }
    assert_eq!(
        json["live_bytes"].as_u64(),
        Some(u64::from(report.final_messages) * 16)
    );
    // Only stores have a disk figure, and only reads and closes have no commit latency.
    assert!(json["disk_ratio"].get("floor").is_none(), "{json}");
    assert!(json["latency"].get("lookup_uid").is_none(), "{json}");
    // uidcache counts its fsyncs: a durable commit of the day makes at least one.
    let fsyncs = &json["mixed_day_fsyncs"]["uidcache"];
    assert!(fsyncs["mean"].as_f64().unwrap() >= 1.0, "{fsyncs}");
    assert!(fsyncs["max"].as_u64().unwrap() >= 1, "{fsyncs}");
    assert!(fsyncs["background_mean"].as_f64().is_some(), "{fsyncs}");
    // The UID→seq floor: a sorted Vec<u32>, measured beside the peers.
    assert!(json["workloads"]["lookup_uid"]["vec_u32"]
        .as_f64()
        .is_some());
    // The table names the headline figure.
    let table = report.to_table();
    assert!(table.contains("max commit latency, mixed_day:"), "{table}");
    assert!(
        table.contains("max commit latency, mixed_day_durable:"),
        "{table}"
    );
    // And the slowest commit of each kind of the day, so that the kind that was the
    // slowest stays visible once another one is.
    assert!(
        table.contains("slowest of each kind, mixed_day, uidcache: ")
            && table.contains("vanished "),
        "{table}"
    );
    // The committing thread's fsyncs, with the background syncer's beside them.
    assert!(
        table.contains(
            "fsyncs per mixed_day_durable commit on the committing thread, uidcache: mean"
        ),
        "{table}"
    );
    assert!(table.contains("background syncer: mean"), "{table}");
}
