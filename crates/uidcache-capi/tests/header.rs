//! include/uidcache.h is what cbindgen makes of this crate today: a change to the C API
//! that was not regenerated into the checked-in header fails here.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::path::Path;

#[test]
fn the_checked_in_header_is_what_cbindgen_generates() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("crates/uidcache-capi/cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen")
        .write(&mut generated);
    let header = crate_dir.join("../../include/uidcache.h");
    if std::env::var_os("UIDCACHE_BLESS_HEADER").is_some() {
        std::fs::write(&header, &generated).expect("write include/uidcache.h");
    }
    let checked_in = std::fs::read(&header).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/uidcache.h is stale; regenerate it with\n    \
         UIDCACHE_BLESS_HEADER=1 cargo test --release -p uidcache-capi --test header"
    );
}
