//! `parse_journal_header` on arbitrary bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = uidcache_format::parse_journal_header(data);
});
