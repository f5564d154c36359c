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

fn run(args: &[&str], dir: &std::path::Path) -> (i32, String) {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.push(dir.as_os_str());
    fsck(&all)
}

/// A sync during which mail arrived: the server's UIDNEXT (10) is at or below the UIDs
/// learned after it. The cache is consistent: a note, exit 0; `--strict` fails on it.
#[test]
fn stale_uidnext_after_a_sync_is_a_note_exit_0_and_strict_exit_1() {
    let d = common::scratch();
    let mut cache = uidcache_engine::Cache::open(d.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_uidvalidity(Some(3)).unwrap();
    tx.set_uidnext(Some(10)).unwrap();
    tx.set_exists(2).unwrap();
    tx.learn_range(1, &[8, 9]).unwrap();
    tx.commit().unwrap();
    // New mail: EXISTS grows and the new messages' UIDs are learned; no new UIDNEXT yet.
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(4).unwrap();
    tx.learn_range(3, &[10, 11]).unwrap();
    tx.commit().unwrap();
    cache.close().unwrap();
    let (code, out) = run(&[], d.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().count() == 1 && out.starts_with("note: index @ 36: IndexHeader.uidnext"),
        "{out}"
    );
    assert!(out.contains("10 not above UID 11"), "{out}");
    assert_eq!(run(&["--strict"], d.path()).0, 1);
    let (code, json) = run(&["--json"], d.path());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["problems"][0]["severity"], "note");
    // Nothing to repair: the server's value stays.
    let (code, out) = run(&["--repair"], d.path());
    assert_eq!((code, out.contains("repair: ")), (0, false), "{out}");
    assert_eq!(common::dump(d.path()).unwrap().uidnext, Some(10));
}

/// What a killed writer leaves: an orphan block, a torn journal tail, `*.tmp` files. All
/// notes (exit 0), `--strict` exit 1; `--repair` cleans them up and then even `--strict` is 0.
#[test]
fn crash_leftovers_are_notes_exit_0_and_strict_exit_1() {
    let d = common::scratch();
    common::caches::split_block(d.path());
    let dump_before = common::dump(d.path()).unwrap();
    let journal = d.path().join("journal");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend([0u8; 40]);
    std::fs::write(&journal, bytes).unwrap();
    std::fs::write(d.path().join("journal.tmp"), b"half a journal").unwrap();
    std::fs::write(d.path().join("blocks/00000000000000aa.ucb.tmp"), b"half").unwrap();
    // An orphan block of a lost non-durable commit, its bytes lost with it.
    std::fs::write(d.path().join("blocks/00000000000000ab.ucb"), [0u8; 64]).unwrap();
    let (code, out) = run(&[], d.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().count() == 4 && out.lines().all(|l| l.starts_with("note: ")),
        "{out}"
    );
    assert!(out.contains("orphan"), "{out}");
    assert_eq!(run(&["--strict"], d.path()).0, 1);
    let (code, out) = run(&["--repair"], d.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("repair: removed"), "{out}");
    assert_eq!(run(&["--strict"], d.path()), (0, String::new()));
    assert_eq!(common::dump(d.path()).unwrap(), dump_before);
}

/// A writer's first open stopped before its index: only `lock` and an empty `blocks/`.
/// An empty cache, not an error.
#[test]
fn a_lock_only_directory_is_an_empty_cache() {
    let d = common::scratch();
    std::fs::create_dir(d.path().join("blocks")).unwrap();
    std::fs::write(d.path().join("lock"), b"").unwrap();
    let (code, out) = run(&[], d.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("note: index @ 0: IndexHeader.file"),
        "{out}"
    );
    assert_eq!(run(&["--strict"], d.path()).0, 1);
    // Repair leaves an empty cache alone; a writer then initializes it.
    let (code, out) = run(&["--repair"], d.path());
    assert_eq!((code, out.contains("repair: ")), (0, false), "{out}");
    let read = common::dump(d.path()).unwrap();
    assert_eq!((read.exists, read.placed.len()), (None, 0));
    drop(uidcache_engine::Cache::open(d.path()).unwrap());
    assert_eq!(run(&["--strict"], d.path()), (0, String::new()));
}

/// The index of a never-checkpointed cache deleted: damage (exit 1); repair rebuilds the
/// whole state from the generation-0 journal, and the cache checks clean afterwards.
#[test]
fn deleted_index_of_a_journal_only_cache_is_damage_and_repair_rebuilds_it() {
    let d = common::scratch();
    common::caches::journal_only(d.path());
    let before = common::dump(d.path()).unwrap();
    std::fs::remove_file(d.path().join("index")).unwrap();
    let (code, out) = run(&[], d.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("damage: index @ 0: IndexHeader.file")
            && out.contains("the journal remains"),
        "{out}"
    );
    assert!(common::dump(d.path()).unwrap_err().contains("index"));
    assert!(uidcache_engine::Cache::open(d.path())
        .unwrap_err()
        .is_corruption());
    let (code, out) = run(&["--repair"], d.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("repair: wrote index"), "{out}");
    assert_eq!(run(&["--strict"], d.path()), (0, String::new()));
    assert_eq!(common::dump(d.path()).unwrap(), before);
}

/// The index of a checkpointed cache deleted: the journal continues a state that is gone,
/// so repair can only reset; afterwards the cache is sound and opens.
#[test]
fn deleted_index_of_a_checkpointed_cache_is_damage_and_repair_resets_it() {
    let d = common::scratch();
    common::caches::split_block(d.path());
    std::fs::remove_file(d.path().join("index")).unwrap();
    let (code, out) = run(&[], d.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("damage: index @ 0"), "{out}");
    let (code, out) = run(&["--repair"], d.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("repair: reset the cache"), "{out}");
    assert_eq!(run(&["--strict"], d.path()), (0, String::new()));
    let after = common::dump(d.path()).unwrap();
    assert!(after.placed.is_empty() && after.unplaced.is_empty());
}

/// A journal removed from a checkpointed cache (generation >= 1) is damage: every
/// checkpoint renames a journal into place (FORMAT.md 8.3), and split_block's commit after
/// its checkpoint (an inline block: no file) is lost with it. In a cache never checkpointed
/// (generation 0) an interrupted first open leaves the same files, so only block files
/// written after the checkpoint prove lost commits (damage); otherwise a note.
#[test]
fn missing_journal_is_damage_after_a_checkpoint_or_when_later_blocks_prove_lost_commits() {
    let d = common::scratch();
    common::caches::split_block(d.path());
    std::fs::remove_file(d.path().join("journal")).unwrap();
    let (code, out) = run(&[], d.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("damage: journal @ 0: JournalHeader.file"),
        "{out}"
    );
    let d = common::scratch();
    common::caches::journal_only(d.path());
    std::fs::remove_file(d.path().join("journal")).unwrap();
    let (code, out) = run(&[], d.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("note: journal @ 0: JournalHeader.file"),
        "{out}"
    );
    let image =
        uidcache_format::IndexImage::decode(&std::fs::read(d.path().join("index")).unwrap())
            .unwrap();
    let next = image.next_block_id;
    let later = uidcache_engine::tools::block_path(d.path(), next);
    std::fs::write(
        &later,
        uidcache_format::encode_block(
            next,
            &[uidcache_format::Record::new(50, u32::MAX, 0)],
            image.cache_id,
        ),
    )
    .unwrap();
    let (code, out) = run(&[], d.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("damage: journal @ 0"), "{out}");
}

/// A reader that stops early (`uidcache-fsck DIR | head`) closes stdout: the verdict is
/// still the exit code, and nothing panics.
#[test]
fn a_closed_stdout_keeps_the_verdict_and_does_not_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    {
        let mut cache = uidcache_engine::Cache::open(&dir).unwrap();
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(3).unwrap();
        tx.learn_range(1, &[1, 2, 3]).unwrap();
        tx.commit().unwrap();
    }
    std::fs::write(dir.join("junk.tmp"), b"x").unwrap();
    for args in [vec!["--json"], vec![], vec!["--strict"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_uidcache-fsck"))
            .args(&args)
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let want = if args == ["--strict"] { 1 } else { 0 };
        assert_eq!(out.status.code(), Some(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Runs the binary with `args`, killing it after 30 s: a hang is a failure, not a stuck
/// test run. Returns the exit code and stderr.
fn in_time(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_uidcache-fsck"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("uidcache-fsck {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Defect: a FIFO in place of a block file, the index or the journal hung `uidcache-fsck`
/// and `--repair` forever. The check reports it (exit 1), the repair renames it aside and
/// rebuilds (exit 1: it found damage), and the cache then checks clean (exit 0).
#[test]
fn a_fifo_in_place_of_a_file_never_hangs_the_binary() {
    for victim in ["index", "journal", "blocks/0000000000000001.ucb"] {
        let d = common::scratch();
        common::caches::split_block(d.path());
        let path = d.path().join(victim);
        std::fs::remove_file(&path).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let dir = d.path().as_os_str();
        assert_eq!(in_time(&[dir]).0, Some(1), "{victim}");
        assert_eq!(in_time(&["--repair".as_ref(), dir]).0, Some(1), "{victim}");
        assert!(
            d.path().join(format!("{victim}.damaged")).exists(),
            "{victim}"
        );
        assert_eq!(in_time(&[dir]).0, Some(0), "{victim}");
    }
}

/// Defect: with `blocks/` a symbolic link to another cache's, `uidcache-fsck --repair`
/// deleted that cache's block files. It refuses (exit 2, naming the link) and changes
/// nothing in either cache.
#[test]
fn repair_refuses_a_symlinked_blocks_dir() {
    let d = common::scratch();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    common::caches::split_block(&a);
    common::caches::large(&b, 3000);
    let (a_before, b_before) = (common::Snapshot::take(&a), common::Snapshot::take(&b));
    let b_blocks = std::fs::read_dir(b.join("blocks")).unwrap().count();
    std::fs::rename(a.join("blocks"), d.path().join("a-blocks")).unwrap();
    std::os::unix::fs::symlink(b.join("blocks"), a.join("blocks")).unwrap();
    assert_eq!(in_time(&[a.as_os_str()]).0, Some(1));
    let (code, err) = in_time(&["--repair".as_ref(), a.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(common::Snapshot::take(&b), b_before);
    assert_eq!(
        std::fs::read_dir(b.join("blocks")).unwrap().count(),
        b_blocks
    );
    // (The snapshot follows the link: a's own files are its index and journal.)
    let a_after = common::Snapshot::take(&a);
    let top = |s: &common::Snapshot| {
        s.files
            .iter()
            .filter(|(p, _)| !p.starts_with("blocks"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(top(&a_after), top(&a_before));
}
