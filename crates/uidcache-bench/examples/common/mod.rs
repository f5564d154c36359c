//! What the storm examples share: the bench's mailbox, its fill, latency quantiles and perf
//! attached to the running example.

use std::process::{Child, Command};

use uidcache_engine::Cache;

/// A deterministic draw below `n` (an LCG), so that runs compare.
pub fn draws(seed: u64) -> impl FnMut(u32) -> u32 {
    let mut x = seed;
    move |n| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 33) % u64::from(n.max(1))) as u32
    }
}

/// `n` increasing UIDs with gaps of 0 to 2, as the bench makes them, and the last one.
pub fn mailbox(n: u32, draw: &mut impl FnMut(u32) -> u32) -> (Vec<u32>, u32) {
    let mut uids = Vec::with_capacity(n as usize);
    let mut next = 0u32;
    for _ in 0..n {
        next += 1 + draw(3);
        uids.push(next);
    }
    (uids, next)
}

/// The bench's `fill`: the UIDs learned in ranges of 2,000 in random order, a commit each.
pub fn fill(cache: &mut Cache, uids: &[u32], draw: &mut impl FnMut(u32) -> u32) {
    let n = uids.len() as u32;
    let mut ranges: Vec<u32> = (0..n).step_by(2_000).collect();
    for i in (1..ranges.len()).rev() {
        ranges.swap(i, draw(i as u32 + 1) as usize);
    }
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(n).unwrap();
    tx.commit().unwrap();
    for &s in &ranges {
        let e = (s + 2_000).min(n);
        let mut tx = cache.transaction().unwrap();
        tx.learn_range(s + 1, &uids[s as usize..e as usize])
            .unwrap();
        tx.commit().unwrap();
    }
}

/// p50, p99, p99.9 and max of `secs`, in ms.
pub fn quantiles(mut secs: Vec<f64>) -> String {
    secs.sort_by(f64::total_cmp);
    let q = |p: f64| secs[((secs.len() - 1) as f64 * p) as usize] * 1e3;
    format!(
        "p50 {:.4} p99 {:.4} p99.9 {:.4} max {:.3} ms",
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0)
    )
}

/// With the environment variable `var` naming a file, `perf record` of this process into
/// it with `args` until [`perf_stop`]; the half second it waits lets perf attach.
pub fn perf_start(var: &str, args: &[&str]) -> Option<Child> {
    let out = std::env::var(var).ok()?;
    let pid = std::process::id().to_string();
    let child = Command::new("perf")
        .args(["record", "-o", &out, "-p", &pid])
        .args(args)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    Some(child)
}

/// Stops a recording [`perf_start`] began (SIGINT, so that perf writes its file).
pub fn perf_stop(perf: Option<Child>) {
    if let Some(mut child) = perf {
        let pid = child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        child.wait().unwrap();
    }
}
