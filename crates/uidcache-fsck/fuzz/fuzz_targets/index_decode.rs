//! `IndexImage::decode` on arbitrary bytes; what decodes re-encodes to an image that decodes
//! to the same value (reserved bytes are not kept, so bytes need not match).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(image) = uidcache_format::IndexImage::decode(data) {
        assert_eq!(uidcache_format::IndexImage::decode(&image.encode()), Ok(image));
    }
});
