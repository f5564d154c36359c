//! Choosing a cache identity (FORMAT.md section 1.5).

/// A new random cache identity: never [`uidcache_format::NO_IDENTITY`] (0), which marks a
/// format-v1 cache. Also for tools such as fsck that rebuild a cache.
///
/// From the operating system's random source; should that fail (it does not on the systems
/// uidcache supports), from a randomly seeded hash of the time and process ID, which still
/// differs between any two caches created in practice.
pub fn fresh_cache_id() -> u64 {
    let id = getrandom::u64().unwrap_or_else(|_| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        h.finish()
    });
    if id == uidcache_format::NO_IDENTITY {
        1
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn identities_are_nonzero_and_differ() {
        let a = super::fresh_cache_id();
        let b = super::fresh_cache_id();
        assert_ne!(a, 0);
        assert_ne!(a, b);
    }
}
