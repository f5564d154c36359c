//! The shared library's soname carries the ABI's major version (`UIDCACHE_ABI_MAJOR` in
//! src/open.rs): programs linked against `libuidcache_capi.so.1` never load an
//! incompatible major.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os != "macos") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libuidcache_capi.so.1");
    }
}
