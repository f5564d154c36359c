//! Choosing a cache identity (FORMAT.md section 1.5).

/// A new random cache identity: never [`uidcache_format::NO_IDENTITY`] (0), which marks a
/// format-v1 cache. Also for tools such as fsck that rebuild a cache.
///
/// From the operating system's random source (`/dev/urandom`, present on every Unix);
/// should that fail (a chroot without `/dev`), from a randomly seeded hash of the time and
/// process ID, which still differs between any two caches created in practice.
pub fn fresh_cache_id() -> u64 {
    let id = urandom_u64().unwrap_or_else(|_| {
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

/// Eight bytes of the kernel's random source. Read as a file rather than through a crate:
/// an identity is read once per cache created, and the facade's embedders get one
/// dependency fewer.
fn urandom_u64() -> std::io::Result<u64> {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
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
