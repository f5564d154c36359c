//! `uidcache bench --quick` as a smoke test (issue 5): every workload runs on every peer,
//! the peers agree on every answer checked (the run fails otherwise), and the JSON report
//! is complete. Nothing about time is asserted.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::process::Command;

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
    let json = String::from_utf8(out.stdout).unwrap();
    for workload in uidcache_bench::WORKLOADS {
        let at = json
            .find(&format!("\"{workload}\": {{"))
            .unwrap_or_else(|| panic!("{workload} missing: {json}"));
        let row = &json[at..at + json[at..].find('}').unwrap()];
        for peer in ["uidcache", "rename", "sqlite", "floor"] {
            assert!(
                row.contains(&format!("\"{peer}\"")),
                "{workload} lacks {peer}: {row}"
            );
        }
    }
    let rss = &json[json.find("\"rss_bytes\": {").unwrap()..];
    for peer in ["uidcache", "rename", "sqlite"] {
        assert!(rss.contains(&format!("\"{peer}\": ")), "{json}");
    }
    assert!(
        json.contains("\"fsyncs_per_commit\": {") && json.contains("\"uidcache\": 1.000"),
        "{json}"
    );
}
