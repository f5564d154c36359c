//! The binary: exit codes 0 / 1 / 2, one problem a line, JSON.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::process::Command;

fn fsck(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_uidcache-fsck"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn exit_codes_lines_and_json() {
    let d = common::scratch();
    common::caches::split_block(d.path());
    let dir = d.path().as_os_str();
    assert_eq!(fsck(&[dir]), (0, String::new()));
    std::fs::write(d.path().join("blocks/0000000000000001.ucb"), b"junk").unwrap();
    let (code, out) = fsck(&[dir]);
    assert_eq!(code, 1);
    assert!(
        out.lines().count() >= 2
            && out
                .lines()
                .all(|l| l.starts_with("damage: ") || l.starts_with("note: ")),
        "{out}"
    );
    let (code, json) = fsck(&["--json".as_ref(), dir]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["problems"][0]["file"], "blocks/0000000000000001.ucb");
    assert_eq!(v["problems"][0]["severity"], "damage");
    let (code, out) = fsck(&["--repair".as_ref(), dir]);
    assert_eq!(code, 1);
    assert!(out.contains("repair: "), "{out}");
    assert_eq!(fsck(&[dir]).0, 0);
    assert_eq!(fsck(&["/nonexistent/uidcache".as_ref()]).0, 2);
    assert_eq!(fsck(&["--bogus".as_ref(), dir]).0, 2);
}
