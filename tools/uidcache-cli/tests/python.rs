//! The Python package (`bindings/python`, issue 15) under CI's `cargo test`: builds it into
//! a virtual environment kept in the target directory (one `pip install` per run; cargo's
//! incremental build in `<target>/python/cargo` makes repeats quick) and runs its pytest
//! suite, with a throwaway Dovecot for the `imaplib` example's test.
//!
//! Skips (loudly) where `python3` with `venv` and `pip`, or PyPI, is missing, unless
//! `UIDCACHE_REQUIRE_PYTHON=1`; the Dovecot part follows `UIDCACHE_REQUIRE_DOVECOT`.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::dovecot::Dovecot;
use support::fixture::{fixtures, text};
use support::server::Server;

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `<target>/python`: the virtual environment and maturin's cargo target, beside the
/// workspace's build (not inside its profile directories, whose lock the running
/// `cargo test` holds).
fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("python")
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{shown}: cannot run: {e}"))
}

fn report(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Skips (returns `None`) with a loud message, or panics under `UIDCACHE_REQUIRE_PYTHON=1`.
fn skip(why: &str) -> Option<PathBuf> {
    if std::env::var("UIDCACHE_REQUIRE_PYTHON").is_ok_and(|v| v == "1") {
        panic!("UIDCACHE_REQUIRE_PYTHON=1 but the Python tests cannot run: {why}");
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "\n***** SKIPPED: the Python package's tests cannot run here: {why} *****\n\
             ***** (set UIDCACHE_REQUIRE_PYTHON=1 to make this a failure) *****\n\n"
        )
        .as_bytes(),
    );
    None
}

/// The virtual environment's `bin` directory, with maturin and pytest in it: made on the
/// first run, reused after.
fn venv() -> Option<PathBuf> {
    let python = std::env::var("UIDCACHE_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let dir = work_dir().join("venv");
    let bin = dir.join("bin");
    if bin.join("maturin").exists() && bin.join("pytest").exists() {
        return Some(bin);
    }
    match Command::new(&python).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => return skip(&format!("no `{python}`")),
    }
    let made = run(Command::new(&python).arg("-m").arg("venv").arg(&dir));
    if !made.status.success() {
        return skip(&format!("`{python} -m venv` failed: {}", report(&made)));
    }
    let installed = run(Command::new(bin.join("python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "maturin>=1.5,<2",
        "pytest>=7",
    ]));
    if !installed.status.success() {
        // Leave no half-made environment for the next run to trust.
        let _ = std::fs::remove_dir_all(&dir);
        return skip(&format!(
            "cannot install maturin and pytest: {}",
            report(&installed)
        ));
    }
    Some(bin)
}

/// `PATH` with the environment's `bin` first (pip runs the `maturin` it finds there).
fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn the_python_package_installs_and_its_pytest_suite_passes() {
    let Some(bin) = venv() else { return };
    let package = repo().join("bindings/python");
    // The package's own build: `pip install ./bindings/python`, without build isolation so
    // that the environment's maturin builds it (no download per run).
    let built = run(Command::new(bin.join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-build-isolation",
            "--force-reinstall",
            "--no-deps",
        ])
        .arg(&package)
        .env("PATH", path_with(&bin))
        .env("CARGO_TARGET_DIR", work_dir().join("cargo")));
    assert!(
        built.status.success(),
        "pip install bindings/python: {}",
        report(&built)
    );

    // The imaplib example's test needs a server; without one that test skips (or fails
    // under UIDCACHE_REQUIRE_DOVECOT=1, both here and in pytest).
    let dovecot = Dovecot::start_or_skip(true);
    let mut pytest = Command::new(bin.join("python"));
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&package)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PATH", path_with(&bin));
    if let Some(server) = &dovecot {
        pytest
            .env("UIDCACHE_TEST_IMAP_DIR", server.dir())
            .env("UIDCACHE_TEST_IMAP_CLIENT", fixtures("imap-client"));
    }
    let out = run(&mut pytest);
    let _ = std::io::Write::write_all(&mut std::io::stderr(), &out.stdout);
    assert!(out.status.success(), "pytest: {}", report(&out));
    let summary = text(&out.stdout);
    assert!(summary.contains(" passed"), "pytest ran no test: {summary}");
    if dovecot.is_some() {
        assert!(
            !summary.contains("skipped"),
            "with a server, no Python test may skip: {summary}"
        );
    }
}
