//! Compiling C against this crate's static library with the system `cc`, and running the
//! result (under valgrind when it is installed), for the C tests and the C bench.
#![allow(dead_code, reason = "each test binary uses part of it")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `libuidcache_capi.a` of the build that made this test binary: cargo builds the
/// library's `staticlib` beside the `rlib` this binary links, in the same `deps/`
/// directory; the newest one is this build's.
pub fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("deps/");
    let newest = std::fs::read_dir(deps)
        .expect("read deps/")
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libuidcache_capi") && name.ends_with(".a")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    match newest {
        Some(e) => e.path(),
        None => panic!(
            "no libuidcache_capi*.a in {}: build it with `cargo build --release -p uidcache-capi`",
            deps.display()
        ),
    }
}

/// The libraries the Rust standard library needs beside the static library
/// (`cargo rustc --crate-type staticlib -- --print native-static-libs`).
pub const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// Compiles `sources` (C files) with `include/` and `tests/c/` on the include path into
/// the executable `out`, linked with the static library. Panics with cc's output on error.
pub fn compile(sources: &[PathBuf], out: &Path, extra: &[&str]) {
    let root = repo_root();
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g"])
        .args(extra)
        .arg("-I")
        .arg(root.join("include"))
        .arg("-I")
        .arg(root.join("crates/uidcache-capi/tests/c"))
        .args(sources)
        .arg(static_lib())
        .args(NATIVE_LIBS)
        .arg("-o")
        .arg(out);
    let output = cmd.output().expect("run cc");
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether valgrind runs here; with `UIDCACHE_REQUIRE_VALGRIND=1` its absence fails.
pub fn valgrind() -> bool {
    let present = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("UIDCACHE_REQUIRE_VALGRIND").is_none_or(|v| v != "1"),
            "UIDCACHE_REQUIRE_VALGRIND=1 but valgrind is not installed"
        );
        eprintln!("valgrind not installed: the C tests run without it");
    }
    present
}

/// The exit code valgrind reports its own findings with (errors or definite leaks).
pub const VALGRIND_ERROR: i32 = 99;

/// Runs `exe args`, under valgrind (memory errors and leaks fail with
/// [`VALGRIND_ERROR`]) when `checked`.
pub fn run(exe: &Path, args: &[&Path], checked: bool) -> Output {
    let mut cmd = if checked {
        let mut c = Command::new("valgrind");
        c.args([
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            // Definite and indirect leaks are ours; the standard library's thread-locals
            // and the process-wide state it keeps until exit are "still reachable".
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect",
        ])
        .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args(args).output().expect("run the C program")
}

/// Asserts that a run exited 0, showing its output otherwise.
pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} exited with {:?}{}:\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        if output.status.code() == Some(VALGRIND_ERROR) {
            " (valgrind found memory errors or leaks)"
        } else {
            ""
        },
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
