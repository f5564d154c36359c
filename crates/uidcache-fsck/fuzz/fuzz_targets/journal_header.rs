//! `parse_journal_header` on arbitrary bytes, against a v1 cache and a v2 identity.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = uidcache_format::parse_journal_header(data, uidcache_format::NO_IDENTITY);
    let _ = uidcache_format::parse_journal_header(data, 0x0123_4567_89AB_CDEF);
});
