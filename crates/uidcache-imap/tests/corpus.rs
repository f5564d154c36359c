//! Sessions in the style of five real servers (`tests/corpus/*.txt`, one file each): FETCH
//! responses carry the items clients ask for beside FLAGS (X-GM-*, OBJECTID, PREVIEW,
//! SAVEDATE, BINARY.SIZE, ENVELOPE and BODYSTRUCTURE, literals), SELECTs carry codes the
//! cache does not use, and reconnects go through the engine's SELECT rule. Each file
//! replays without error, and the cache then holds what the file's `#= ` lines say (the
//! `uidcache dump` of the state the server described, worked out by hand).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

mod common;

fn check(name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap();
    let want: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("#= "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!want.is_empty(), "{name}: no expected state (`#= ` lines)");
    let tmp = tempfile::tempdir().unwrap();
    let got =
        common::replay_dump(&tmp.path().join("c"), &text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got, want, "{name}: the cache after the session");
}

#[test]
fn gmail() {
    check("gmail");
}

#[test]
fn fastmail() {
    check("fastmail");
}

#[test]
fn cyrus() {
    check("cyrus");
}

#[test]
fn outlook() {
    check("outlook");
}

#[test]
fn dovecot() {
    check("dovecot");
}
