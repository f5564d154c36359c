//! A second process reading the cache while the first one still holds it as the writer: a
//! UI beside a sync daemon, a notifier, a search indexer. Readers take no lock and never
//! block the writer.

use std::ops::RangeInclusive;
use std::path::Path;
use std::process::Command;

use uidcache::Cache;

use crate::page::{page, render};
use crate::Result;

/// The reader process's work: open the cache read-only and print a page of it.
pub fn print_page(dir: &Path, seqs: RangeInclusive<u32>) -> Result<String> {
    let mut cache = Cache::open_read_only(dir)?;
    // `read` rather than `view()`: if the writer checkpoints meanwhile and unlinks a block
    // this snapshot still names, `read` refreshes to the newest state and runs the closure
    // again, so the reader never fails for that reason. The closure may run more than
    // once, so it only computes.
    let rows = cache.read(|view| page(view, seqs.clone()))?;
    Ok(render(&rows))
}

/// Runs `exe reader DIR FIRST LAST` (this example's own binary in reader mode) and returns
/// what it printed.
pub fn spawn(exe: &Path, dir: &Path, seqs: RangeInclusive<u32>) -> Result<String> {
    let output = Command::new(exe)
        .arg("reader")
        .arg(dir)
        .arg(seqs.start().to_string())
        .arg(seqs.end().to_string())
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "the reader exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(output.stdout)?)
}
