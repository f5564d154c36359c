#!/usr/bin/env bash
# Runs the unit tests of the engine's one unsafe module (crates/uidcache-engine/src/mmap.rs)
# under checkers of undefined behaviour, on the nightly toolchain:
#   - AddressSanitizer: every test of the module, real file mappings included;
#   - Miri (when its rustup component is installed): the pinned-pointer tests. Miri cannot
#     map files, so the tests that do are compiled out under it (`#[cfg(not(miri))]`).
# Usage: tools/ub-check.sh [--asan-only]
# Exit status: 0 all ran and passed, 1 a check failed, 2 no nightly toolchain (nothing ran).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "ub-check: no nightly toolchain (rustup toolchain install nightly): nothing ran" >&2
    exit 2
fi
# Builds of their own: sanitizer and Miri artefacts must not mix with the normal ones.
base="${CARGO_TARGET_DIR:-target}"
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"

echo "ub-check: AddressSanitizer, uidcache-engine mmap tests ($host)"
# --target keeps the sanitizer flags off build scripts and proc macros.
CARGO_TARGET_DIR="$base/ub-asan" RUSTFLAGS="-Zsanitizer=address" \
    cargo +nightly test -p uidcache-engine --lib --target "$host" mmap

if [ "${1:-}" = "--asan-only" ]; then
    exit 0
fi
if cargo +nightly miri --version >/dev/null 2>&1; then
    echo "ub-check: Miri, uidcache-engine mmap tests"
    CARGO_TARGET_DIR="$base/ub-miri" cargo +nightly miri test -p uidcache-engine --lib mmap
else
    echo "ub-check: Miri skipped (rustup component add miri rust-src --toolchain nightly)"
fi
