//! `parse_block` on arbitrary bytes; the first 8 bytes pick the expected ID.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let id = data.get(..8).map_or(1, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    let _ = uidcache_format::parse_block(data.get(8..).unwrap_or_default(), id);
});
