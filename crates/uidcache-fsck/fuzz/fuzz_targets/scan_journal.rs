//! `scan_journal` on arbitrary bytes (the cache identity recovered from them, else the v1
//! one), then `Op::decode_all` on every frame it keeps.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let cache_id = uidcache_format::journal_identity(data).unwrap_or(uidcache_format::NO_IDENTITY);
    if let Ok(scan) = uidcache_format::scan_journal(data, cache_id) {
        assert!(scan.end <= data.len() as u64);
        for f in &scan.frames {
            let _ = uidcache_format::Op::decode_all(f.payload, f.payload_offset);
        }
    }
});
