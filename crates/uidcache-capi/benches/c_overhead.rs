//! Overhead of `uidcache_message_at` called from C over `View::message_at` called from
//! Rust, on the same cache and the same sequence numbers (issue 15's target: ≤ 1.5×).
//!
//! `cargo bench -p uidcache-capi --bench c_overhead [-- EXISTS LOOKUPS ROUNDS]`
//! (defaults 1000000 2000000 9). Builds a cache of EXISTS messages; then, for random and
//! for ascending sequence numbers, ROUNDS rounds each time one pass of LOOKUPS lookups in
//! the C program (after its warm-up pass), in Rust through `View::message_at`, and in Rust
//! through the exported function; it prints the medians and the median of the rounds'
//! ratios. The C loop is benches/c/message_at.c, built with `cc -O2` against the static
//! library.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a bench: a panic is a failure report"
)]

#[path = "../tests/support/cbuild.rs"]
mod cbuild;

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use uidcache::{Cache, Durability, OpenOptions, View};

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn fill(dir: &Path, exists: u32) {
    let mut cache = OpenOptions::new()
        .durability(Durability::NoSync)
        .open(dir)
        .unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_uidvalidity(Some(1)).unwrap();
    tx.set_exists(exists).unwrap();
    tx.commit().unwrap();
    let chunk = 65_536u32;
    let mut seq = 1u32;
    while seq <= exists {
        let n = chunk.min(exists - seq + 1);
        let uids: Vec<u32> = (seq..seq + n).map(|s| 2 * s + 7).collect();
        let mut tx = cache.transaction().unwrap();
        tx.learn_range(seq, &uids).unwrap();
        tx.commit().unwrap();
        seq += n;
    }
    cache.close().unwrap();
}

/// One pass of Rust lookups; returns ns per call.
fn rust_pass(view: &View<'_>, exists: u32, lookups: u64, ascending: bool, sum: &mut u64) -> f64 {
    let mut s = SEED;
    let start = Instant::now();
    for i in 0..lookups {
        let seq = if ascending {
            (i % u64::from(exists)) as u32 + 1
        } else {
            (xorshift(&mut s) % u64::from(exists)) as u32 + 1
        };
        if let Some(m) = black_box(view.message_at(black_box(seq)).unwrap()) {
            *sum += u64::from(m.uid);
        }
    }
    start.elapsed().as_nanos() as f64 / lookups as f64
}

/// One pass through the exported function, called from Rust: the call's own cost without
/// the C program's process.
fn ffi_pass(
    cache: *mut uidcache_capi::UidcacheCache,
    exists: u32,
    lookups: u64,
    ascending: bool,
    sum: &mut u64,
) -> f64 {
    let mut s = SEED;
    let start = Instant::now();
    for i in 0..lookups {
        let seq = if ascending {
            (i % u64::from(exists)) as u32 + 1
        } else {
            (xorshift(&mut s) % u64::from(exists)) as u32 + 1
        };
        let mut m = uidcache_capi::types::UidcacheMessage::default();
        let mut found = false;
        let status =
            uidcache_capi::read::uidcache_message_at(cache, black_box(seq), &mut m, &mut found);
        assert_eq!(status, uidcache_capi::UidcacheStatus::UidcacheOk);
        if found {
            *sum += u64::from(m.uid);
        }
    }
    start.elapsed().as_nanos() as f64 / lookups as f64
}

/// One timed pass of the C program (after its own warm-up pass); returns ns per call.
fn c_pass(exe: &Path, dir: &Path, exists: u32, lookups: u64, ascending: bool) -> f64 {
    let out = std::process::Command::new(exe)
        .arg(dir)
        .arg(exists.to_string())
        .arg(lookups.to_string())
        .arg(SEED.to_string())
        .arg("1")
        .arg(if ascending { "1" } else { "0" })
        .output()
        .unwrap();
    cbuild::assert_success("message_at", &out);
    let text = String::from_utf8(out.stdout).unwrap();
    let ns = text
        .lines()
        .find_map(|l| l.strip_prefix("ns_per_call "))
        .expect("a timed pass");
    ns.parse().unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let exists = args.first().copied().unwrap_or(1_000_000) as u32;
    let lookups = args.get(1).copied().unwrap_or(2_000_000);
    let rounds = args.get(2).copied().unwrap_or(9) as usize;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("INBOX");
    fill(&dir, exists);
    let exe = tmp.path().join("message_at");
    let src = cbuild::repo_root().join("crates/uidcache-capi/benches/c/message_at.c");
    cbuild::compile(&[src], &exe, &["-O2"]);

    let cache = Cache::open_read_only(&dir).unwrap();
    let view = cache.view();
    let mut handle = std::ptr::null_mut();
    let mut options = uidcache_capi::open::UidcacheOpenOptions {
        size: 0,
        flags: 0,
        lock_wait_ms: 0,
        journal_limit: 0,
    };
    uidcache_capi::open::uidcache_open_options_init(&mut options);
    options.flags = uidcache_capi::open::UIDCACHE_OPEN_READ_ONLY;
    let cdir = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let status = uidcache_capi::open::uidcache_open(cdir.as_ptr(), &options, &mut handle);
    assert_eq!(status, uidcache_capi::UidcacheStatus::UidcacheOk);
    println!("C API overhead, message at seq: {exists} messages, {lookups} lookups a pass, {rounds} passes");
    for (label, ascending) in [("random", false), ("ascending", true)] {
        let mut sum = 0u64;
        // Warm-up: every block read once on each side.
        rust_pass(&view, exists, lookups, ascending, &mut sum);
        ffi_pass(handle, exists, lookups, ascending, &mut sum);
        let (mut rust, mut c, mut ffi, mut ratio) = (vec![], vec![], vec![], vec![]);
        // The machine is shared: each round times the three loops back to back, and the
        // figure is the median of the rounds' own ratios, so that a slow spell of the
        // machine slows both sides of a ratio alike.
        for _ in 0..rounds {
            let cm = c_pass(&exe, &dir, exists, lookups, ascending);
            let r = rust_pass(&view, exists, lookups, ascending, &mut sum);
            let fm = ffi_pass(handle, exists, lookups, ascending, &mut sum);
            ratio.push(cm / r);
            rust.push(r);
            c.push(cm);
            ffi.push(fm);
        }
        black_box(sum);
        let ffi_ratio: Vec<f64> = ffi.iter().zip(&rust).map(|(f, r)| f / r).collect();
        println!(
            "{label:>9}: Rust View::message_at {:.2} ns/call; uidcache_message_at from C {:.2} \
             ns/call, from Rust {:.2} ns/call (medians); C / Rust {:.2} (median of the \
             rounds' ratios), extern fn from Rust / Rust {:.2}",
            median(rust),
            median(c),
            median(ffi),
            median(ratio),
            median(ffi_ratio)
        );
    }
    uidcache_capi::open::uidcache_close(handle);
}
