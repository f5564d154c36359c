//! The C tests (tests/c/*.c) and the C example (examples/c/client.c), compiled with the
//! system `cc` against the static library and run, under valgrind when it is installed
//! (`UIDCACHE_REQUIRE_VALGRIND=1` makes it mandatory): exit code 0, no memory error, no
//! definite or indirect leak.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod support;

use std::path::{Path, PathBuf};

use support::cbuild;

fn build(name: &str, sources: &[PathBuf], dir: &Path) -> PathBuf {
    let exe = dir.join(name);
    cbuild::compile(sources, &exe, &[]);
    exe
}

fn c_test(name: &str) -> PathBuf {
    cbuild::repo_root().join(format!("crates/uidcache-capi/tests/c/{name}.c"))
}

fn run_c_test(name: &str) -> String {
    let bin = tempfile::tempdir().unwrap();
    let exe = build(name, &[c_test(name)], bin.path());
    let scratch = tempfile::tempdir().unwrap();
    let output = cbuild::run(&exe, &[scratch.path()], cbuild::valgrind());
    cbuild::assert_success(name, &output);
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_api_answers_as_the_rust_library_does() {
    let out = run_c_test("api");
    assert!(out.contains("api: all checks passed"), "{out}");
}

#[test]
fn error_paths_return_codes_and_messages() {
    let out = run_c_test("errors");
    assert!(out.contains("errors: all checks passed"), "{out}");
}

/// A failing C check is reported as a failure (the harness reads the exit code): a
/// program that checks a wrong answer must fail.
#[test]
fn a_failing_c_check_fails_the_run() {
    let bin = tempfile::tempdir().unwrap();
    let src = bin.path().join("wrong.c");
    std::fs::write(
        &src,
        "#include \"check.h\"\nint main(void) { CHECK(uidcache_abi_version() == 0); return 0; }\n",
    )
    .unwrap();
    let exe = build("wrong", &[src], bin.path());
    let output = cbuild::run(&exe, &[], false);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("check failed"));
}

#[test]
fn the_c_client_example_plays_its_three_connections() {
    let bin = tempfile::tempdir().unwrap();
    let exe = build(
        "client",
        &[cbuild::repo_root().join("examples/c/client.c")],
        bin.path(),
    );
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("INBOX");
    let output = cbuild::run(&exe, &[&dir], cbuild::valgrind());
    cbuild::assert_success("examples/c/client", &output);
    let out = String::from_utf8(output.stdout).unwrap();
    for want in EXPECTED_CLIENT_LINES {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

/// What the C client prints at each step (its server script is fixed).
const EXPECTED_CLIENT_LINES: &[&str] = &[
    "C: SELECT INBOX (CONDSTORE)",
    "== first connection, at logout: INBOX, 201 messages, ",
    "C: SELECT INBOX (QRESYNC (7 ",
    "kept by the QRESYNC SELECT: 200",
    "== second connection (QRESYNC), at logout: INBOX, 198 messages, ",
    "kept by the plain SELECT: 0",
    "== third connection (no QRESYNC), after the refill: INBOX, 197 messages, ",
    "== a second process, reading messages 51..=100:",
    "cache and server agree",
];

/// The valgrind run would see a leak: a program that never closes its cache fails.
#[test]
fn valgrind_reports_a_handle_never_closed() {
    if !cbuild::valgrind() {
        return;
    }
    let bin = tempfile::tempdir().unwrap();
    let src = bin.path().join("leak.c");
    std::fs::write(
        &src,
        "#include \"check.h\"\nint main(int argc, char **argv) {\n    (void)argc;\n    \
         uidcache_cache *c = NULL;\n    OK(uidcache_open(argv[1], NULL, &c));\n    \
         return 0;\n}\n",
    )
    .unwrap();
    let exe = build("leak", &[src], bin.path());
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("INBOX");
    let output = cbuild::run(&exe, &[&dir], true);
    assert_eq!(
        output.status.code(),
        Some(cbuild::VALGRIND_ERROR),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("definitely lost"));
}

/// The README's C example compiles and does what its comments say.
#[test]
fn the_readme_example_runs() {
    let readme = std::fs::read_to_string(cbuild::repo_root().join("README.md")).unwrap();
    let section = readme.split("\n## C\n").nth(1).expect("a `## C` section");
    let code = section
        .split("```c\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a C block in `## C`");
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("INBOX");
    let body = code
        .replace("#include <uidcache.h>", "")
        .replace("/path/to/mailbox-cache", dir.to_str().unwrap());
    let program = format!(
        "#include <stdio.h>\n#include <uidcache.h>\nint main(void) {{\n{body}\n\
         printf(\"uid %u found %d\\n\", m.uid, (int)found);\nreturn 0;\n}}\n"
    );
    let bin = tempfile::tempdir().unwrap();
    let src = bin.path().join("readme.c");
    std::fs::write(&src, program).unwrap();
    let exe = build("readme", &[src], bin.path());
    let output = cbuild::run(&exe, &[], cbuild::valgrind());
    cbuild::assert_success("the README's C example", &output);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "uid 11 found 1\n"
    );
}
