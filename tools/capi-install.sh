#!/usr/bin/env bash
# Installs the C library under PREFIX:
#   PREFIX/include/uidcache.h
#   PREFIX/lib/libuidcache_capi.so.1 (+ the libuidcache_capi.so link) and libuidcache_capi.a
#   PREFIX/lib/pkgconfig/uidcache.pc  (from crates/uidcache-capi/uidcache.pc.in)
# Then: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc app.c $(pkg-config --cflags --libs uidcache)
# (static: pkg-config --static --cflags --libs uidcache, and link libuidcache_capi.a).
#
# Usage: tools/capi-install.sh PREFIX [BUILT_DIR]
# Without BUILT_DIR it runs `cargo build --release -p uidcache-capi` and takes the
# libraries from the target directory; with it, from BUILT_DIR (the tests pass theirs).
set -euo pipefail
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 PREFIX [BUILT_DIR]" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
if [[ $# -eq 2 ]]; then
    built=$2
else
    cargo build --release -p uidcache-capi --manifest-path "$root/Cargo.toml"
    built=${CARGO_TARGET_DIR:-$root/target}/release
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
install -m 644 "$root/include/uidcache.h" "$prefix/include/uidcache.h"
install -m 755 "$built/libuidcache_capi.so" "$prefix/lib/libuidcache_capi.so.1"
ln -sf libuidcache_capi.so.1 "$prefix/lib/libuidcache_capi.so"
install -m 644 "$built/libuidcache_capi.a" "$prefix/lib/libuidcache_capi.a"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" \
    "$root/crates/uidcache-capi/uidcache.pc.in" >"$prefix/lib/pkgconfig/uidcache.pc"
echo "installed uidcache $version under $prefix"
