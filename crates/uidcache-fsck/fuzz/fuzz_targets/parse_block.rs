//! `parse_block` and `block_identity` on arbitrary bytes; the first 8 bytes pick the
//! expected ID, the next 8 the cache identity (0: a format-v1 cache).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let word = |at: usize| {
        data.get(at..at + 8)
            .map_or(1, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let (id, cache_id) = (word(0), word(8));
    let bytes = data.get(16..).unwrap_or_default();
    let _ = uidcache_format::parse_block(bytes, id, cache_id);
    if let Some(found) = uidcache_format::block_identity(bytes, id) {
        assert!(uidcache_format::parse_block(bytes, id, found).is_ok());
    }
});
