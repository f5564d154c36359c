//! `uidcache bench --quick` as a smoke test: every workload runs on every peer, the peers
//! agree with the floor on every answer checked, and the report is complete. Nothing about
//! time is asserted.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use uidcache_bench::{run, Options, WORKLOADS};

#[test]
fn quick_run_covers_every_workload_and_peer() {
    let report = run(&Options {
        messages: 20_000,
        quick: true,
        ..Options::default()
    })
    .unwrap();
    for w in WORKLOADS {
        let row = &report.workloads[w];
        for peer in ["uidcache", "rename", "sqlite", "floor"] {
            assert!(row.contains_key(peer), "{w} lacks {peer}");
        }
    }
    assert!(report.fsyncs_per_commit["uidcache"] >= 1.0);
    let json = report.to_json();
    assert!(
        json.starts_with('{')
            && json.contains("\"expunge_storm\"")
            && json.contains("\"rss_bytes\"")
    );
    println!("{}", report.to_table());
}
