//! A directory of arbitrary files: `index`, `journal` and up to three block files cut from
//! the input at 2-byte length prefixes. The engine must open it or fail with a typed error,
//! `check` must not panic, and `repair` must leave a cache that checks clean.
#![no_main]

use std::fs;

fn take<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let len = data.get(..2).map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let rest = data.get(2..).unwrap_or_default();
    let (part, tail) = rest.split_at(len.min(rest.len()));
    *data = tail;
    part
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("blocks")).expect("blocks");
    fs::write(dir.path().join("index"), take(&mut data)).expect("index");
    fs::write(dir.path().join("journal"), take(&mut data)).expect("journal");
    for id in 1..=3u64 {
        let bytes = take(&mut data);
        if !bytes.is_empty() {
            fs::write(uidcache_engine::tools::block_path(dir.path(), id), bytes).expect("block");
        }
    }
    if let Ok(cache) = uidcache_engine::Cache::open_read_only(dir.path()) {
        let view = cache.view();
        let _ = view.placed_messages();
        let _ = view.unplaced_messages();
    }
    let _ = uidcache_fsck::check(dir.path()).expect("check");
    uidcache_fsck::repair(dir.path()).expect("repair");
    // Notes about header values the server gave (a stale UIDNEXT) survive a repair.
    assert!(!uidcache_fsck::check(dir.path()).expect("check").has_damage());
});
