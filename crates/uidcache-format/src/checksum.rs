//! The one checksum of the format: CRC-32 (ISO-HDLC, as zlib and Ethernet use it).
//!
//! Check value: the CRC of the nine bytes `"123456789"` is `0xCBF43926`.

/// CRC-32/ISO-HDLC of the concatenation of `parts`.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_matches_spec() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    }
}
