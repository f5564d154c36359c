//! `scan_journal` on arbitrary bytes, then `Op::decode_all` on every frame it keeps.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(scan) = uidcache_format::scan_journal(data) {
        assert!(scan.end <= data.len() as u64);
        for f in &scan.frames {
            let _ = uidcache_format::Op::decode_all(f.payload, f.payload_offset);
        }
    }
});
