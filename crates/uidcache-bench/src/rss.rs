//! Peak resident memory of a step, from Linux's /proc: the high-water mark is reset
//! (`clear_refs` 5), the step runs, and its peak above the starting RSS is the figure.

use std::fs;

fn status_kib(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The peak resident set size of this whole process so far, in bytes (Linux).
pub(crate) fn process_peak() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

/// Runs `step` and returns its peak RSS growth in bytes (`None` off Linux).
pub(crate) fn peak_growth<T>(step: impl FnOnce() -> T) -> (T, Option<u64>) {
    let reset = fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kib("VmRSS:");
    let out = step();
    let peak = status_kib("VmHWM:");
    let growth = match (reset, before, peak) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b) * 1024),
        _ => None,
    };
    (out, growth)
}
