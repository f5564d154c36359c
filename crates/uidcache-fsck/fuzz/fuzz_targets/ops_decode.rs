//! `Op::decode_all` on arbitrary bytes; what decodes re-encodes to ops that decode the same
//! (a forgotten header value's ignored bytes are not kept, so bytes need not match).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(ops) = uidcache_format::Op::decode_all(data, 0) {
        let mut out = Vec::new();
        for op in &ops {
            op.encode(&mut out);
        }
        assert_eq!(uidcache_format::Op::decode_all(&out, 0), Ok(ops));
    }
});
