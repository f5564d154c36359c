//! `uidcache bench`: every workload on every peer in one run, as a table of seconds and of
//! ratios against uidcache, or as JSON. Peak memory is measured in a fresh child process per
//! peer (`uidcache bench-probe`), since a process's peak RSS cannot be reset reliably.

use crate::stdout::{out, outln};
use std::path::Path;
use std::process::Command;

use uidcache_bench::peers::PeerKind;
use uidcache_bench::{probe_rss, run, Options};

use crate::failure::Failure;

fn bench_failure(e: uidcache_bench::BenchError) -> Failure {
    Failure::Input(format!("bench: {e}"))
}

/// Runs the benchmark and prints the report.
pub fn bench(messages: u32, quick: bool, json: bool, peers: &str) -> Result<(), Failure> {
    let peers: Vec<PeerKind> = peers
        .split(',')
        .map(|name| {
            PeerKind::from_name(name.trim())
                .ok_or_else(|| Failure::Io(format!("unknown peer {name}")))
        })
        .collect::<Result<_, _>>()?;
    if peers.first() != Some(&PeerKind::Uidcache) {
        return Err(Failure::Io(
            "--peers must start with uidcache (ratios are against it)".into(),
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| Failure::Io(format!("temporary directory: {e}")))?;
    let options = Options {
        messages,
        quick,
        peers: peers.clone(),
        dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    let mut report = run(&options).map_err(bench_failure)?;
    // The last handles' background closes still hold the stores' locks; a probe that
    // opened one before they end failed ("locked by another process").
    uidcache_engine::wait_for_closes();
    let exe = std::env::current_exe().map_err(|e| Failure::Io(format!("own executable: {e}")))?;
    report.rss_bytes.clear();
    for kind in peers.into_iter().filter(|k| k.persistent()) {
        let out = Command::new(&exe)
            .arg("bench-probe")
            .arg(kind.name())
            .arg(dir.path().join(kind.name()))
            .arg(report.final_messages.to_string())
            .output()
            .map_err(|e| Failure::Io(format!("bench-probe: {e}")))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.trim().parse::<u64>() {
            Ok(bytes) if out.status.success() => {
                report.rss_bytes.insert(kind.name().to_string(), bytes);
            }
            _ => {
                return Err(Failure::Input(format!(
                    "bench-probe {} failed: {}",
                    kind.name(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )))
            }
        }
    }
    if json {
        let json = report
            .to_json()
            .map_err(|e| Failure::Input(format!("bench: the report as JSON: {e}")))?;
        outln!("{json}");
    } else {
        out!("{}", report.to_table());
    }
    Ok(())
}

/// The child side: prints the peak RSS of opening `dir` and 1,000 lookups.
pub fn probe(peer: &str, dir: &Path, last: u32) -> Result<(), Failure> {
    let kind =
        PeerKind::from_name(peer).ok_or_else(|| Failure::Io(format!("unknown peer {peer}")))?;
    let bytes = probe_rss(kind, dir, last, 7).map_err(bench_failure)?;
    outln!("{bytes}");
    Ok(())
}
