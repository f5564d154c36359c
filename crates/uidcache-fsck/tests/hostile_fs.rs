//! Hostile file systems (issue "Hostile input and hostile file systems"): a read that fails
//! is an I/O error, never damage; a FIFO, directory or symbolic link where a file belongs is
//! damage, reported without hanging or following it; repair never deletes what it did not
//! read and never reaches outside the cache.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;
#[path = "../../../tests/common/faultfs.rs"]
mod faultfs;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::Snapshot;
use faultfs::{FaultVfs, EACCES, EIO};
use uidcache_fsck::{FsckError, RepairAction, Report};

/// Runs `f` on another thread; a call that does not return in 30 s is a hang (the thread is
/// left blocked, and the test fails instead of hanging with it).
fn in_time<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} hung"))
}

fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
}

/// The block files of `dir`, relative.
fn block_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| Path::new("blocks").join(e.unwrap().file_name()))
        .filter(|p| p.extension().is_some_and(|e| e == "ucb"))
        .collect();
    v.sort();
    v
}

/// Defect: one EIO (or EACCES) on a block file was taken for damage, and repair dropped the
/// block's records and unlinked the intact file. A read that fails is an I/O error: check
/// fails (exit 2), repair fails and changes nothing.
#[test]
fn a_failed_block_read_is_an_io_error_and_repair_changes_nothing() {
    for errno in [EIO, EACCES] {
        let d = common::scratch();
        common::caches::large(d.path(), 3000);
        assert!(!uidcache_fsck::check(d.path()).unwrap().has_damage());
        let before = Snapshot::take(d.path());
        let dump = common::dump(d.path()).unwrap();
        for block in block_files(d.path()) {
            let vfs = FaultVfs::new();
            vfs.fail_reads(block.to_str().unwrap(), errno);
            match uidcache_fsck::check_with(d.path(), vfs.clone()) {
                Err(FsckError::Io { path, source, .. }) => {
                    assert!(path.ends_with(&block), "{}", path.display());
                    assert_eq!(source.raw_os_error(), Some(errno));
                }
                other => panic!("check with {errno} on {}: {other:?}", block.display()),
            }
            match uidcache_fsck::repair_with(d.path(), vfs) {
                Err(FsckError::Io { source, .. }) => assert_eq!(source.raw_os_error(), Some(errno)),
                other => panic!("repair with {errno} on {}: {other:?}", block.display()),
            }
            assert_eq!(Snapshot::take(d.path()), before, "repair changed files");
            assert_eq!(common::dump(d.path()).unwrap(), dump);
        }
    }
}

/// The same for the index and the journal: a failed read of either is not damage.
#[test]
fn a_failed_index_or_journal_read_is_an_io_error() {
    let d = common::scratch();
    common::caches::checkpoint_then_frames(d.path());
    let before = Snapshot::take(d.path());
    for (file, errno) in [("index", EIO), ("journal", EACCES)] {
        let vfs = FaultVfs::new();
        vfs.fail_reads(&format!("/{file}"), errno);
        assert!(
            matches!(
                uidcache_fsck::check_with(d.path(), vfs.clone()),
                Err(FsckError::Io { .. })
            ),
            "{file}"
        );
        assert!(
            matches!(
                uidcache_fsck::repair_with(d.path(), vfs),
                Err(FsckError::Io { .. })
            ),
            "{file}"
        );
        assert_eq!(Snapshot::take(d.path()), before);
    }
}

/// The problems of `r` on `file`.
/// Without an index, fsck recovers the cache identity from the journal or a block (format
/// v2, FORMAT.md 8.7); those reads go through the `Vfs` too, so a failed one is an I/O error,
/// never "no identity" (which would make every file read as another cache's).
#[test]
fn a_failed_read_while_recovering_the_identity_is_an_io_error() {
    let d = common::scratch();
    common::caches::checkpoint_then_frames(d.path());
    fs::remove_file(d.path().join("index")).unwrap();
    let before = Snapshot::take(d.path());
    let vfs = FaultVfs::new();
    vfs.fail_reads("/journal", EIO);
    assert!(matches!(
        uidcache_fsck::check_with(d.path(), vfs.clone()),
        Err(FsckError::Io { .. })
    ));
    assert!(matches!(
        uidcache_fsck::repair_with(d.path(), vfs),
        Err(FsckError::Io { .. })
    ));
    assert_eq!(Snapshot::take(d.path()), before);
}

fn damage_on(r: &Report, file: &str) -> bool {
    r.problems
        .iter()
        .any(|p| p.file == Path::new(file) && p.severity == uidcache_fsck::Severity::Damage)
}

fn renamed_aside(r: &Report, file: &str) -> bool {
    r.repairs.iter().any(|a| {
        matches!(a, RepairAction::RenamedAside { file: f, to, .. }
            if f == Path::new(file) && to == Path::new(&format!("{file}.damaged")))
    })
}

/// Defect: a FIFO where a file belongs hung check and repair forever. It is damage of that
/// file; repair renames it aside and rebuilds the rest.
#[test]
fn a_fifo_in_place_of_a_file_is_damage_not_a_hang() {
    for victim in ["index", "journal", "block"] {
        let d = common::scratch();
        common::caches::checkpoint_then_frames(d.path());
        let file = if victim == "block" {
            block_files(d.path())[0].to_str().unwrap().to_string()
        } else {
            victim.to_string()
        };
        fs::remove_file(d.path().join(&file)).unwrap();
        mkfifo(&d.path().join(&file));
        let dir = d.path().to_path_buf();
        let report = in_time("check", move || uidcache_fsck::check(dir).unwrap());
        assert!(damage_on(&report, &file), "{file}: {report:?}");
        let dir = d.path().to_path_buf();
        let repaired = in_time("repair", move || uidcache_fsck::repair(dir).unwrap());
        assert!(renamed_aside(&repaired, &file), "{file}: {repaired:?}");
        let after = uidcache_fsck::check(d.path()).unwrap();
        assert!(!after.has_damage(), "{file}: {after:?}");
        assert!(common::dump(d.path()).is_ok());
    }
}

/// Defect: with `blocks/` a symbolic link to another cache's, repair deleted that cache's
/// block files. Check reports it without following it; repair refuses and changes nothing.
#[test]
fn a_symlinked_blocks_dir_is_refused_and_the_other_cache_is_untouched() {
    let d = common::scratch();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    common::caches::checkpoint_then_frames(&a);
    common::caches::large(&b, 3000);
    let b_before = Snapshot::take(&b);
    fs::rename(a.join("blocks"), d.path().join("a-blocks")).unwrap();
    std::os::unix::fs::symlink(b.join("blocks"), a.join("blocks")).unwrap();
    let report = uidcache_fsck::check(&a).unwrap();
    assert!(damage_on(&report, "blocks"), "{report:?}");
    let a_before = Snapshot::take(&a);
    match uidcache_fsck::repair(&a) {
        Err(FsckError::Refused { path, reason }) => {
            assert!(
                path.ends_with("blocks") && reason.contains("symbolic link"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(Snapshot::take(&b), b_before);
    assert_eq!(Snapshot::take(&a), a_before);
    assert!(!uidcache_fsck::check(&b).unwrap().has_damage());
}

/// A block file that is a symbolic link (to another cache's block) is damage; repair renames
/// the link aside and never touches its target.
#[test]
fn a_symlinked_block_file_is_set_aside_never_followed() {
    let d = common::scratch();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    common::caches::checkpoint_then_frames(&a);
    common::caches::checkpoint_then_frames(&b);
    let b_before = Snapshot::take(&b);
    let victim = block_files(&a)[0].clone();
    fs::remove_file(a.join(&victim)).unwrap();
    std::os::unix::fs::symlink(b.join(&victim), a.join(&victim)).unwrap();
    let name = victim.to_str().unwrap();
    assert!(damage_on(&uidcache_fsck::check(&a).unwrap(), name));
    let repaired = uidcache_fsck::repair(&a).unwrap();
    assert!(renamed_aside(&repaired, name), "{repaired:?}");
    assert_eq!(Snapshot::take(&b), b_before);
    assert!(!uidcache_fsck::check(&a).unwrap().has_damage());
}

/// Defect: repair could not fix a directory where the journal or a block file belongs, nor
/// a `blocks` that is a regular file (exit 2, still broken). It renames them aside (their
/// content kept) and rebuilds.
#[test]
fn repair_sets_aside_a_directory_or_file_of_the_wrong_type_and_rebuilds() {
    for victim in ["journal", "block", "blocks"] {
        let d = common::scratch();
        common::caches::checkpoint_then_frames(d.path());
        let file = match victim {
            "block" => block_files(d.path())[0].to_str().unwrap().to_string(),
            other => other.to_string(),
        };
        let path = d.path().join(&file);
        if victim == "blocks" {
            fs::remove_dir_all(&path).unwrap();
            fs::write(&path, b"someone's file").unwrap();
        } else {
            fs::remove_file(&path).unwrap();
            fs::create_dir(&path).unwrap();
            fs::write(path.join("keep"), b"someone's file").unwrap();
        }
        assert!(
            damage_on(&uidcache_fsck::check(d.path()).unwrap(), &file),
            "{file}"
        );
        let repaired = uidcache_fsck::repair(d.path()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(renamed_aside(&repaired, &file), "{file}: {repaired:?}");
        let kept = if victim == "blocks" {
            fs::read(d.path().join("blocks.damaged")).unwrap()
        } else {
            fs::read(d.path().join(format!("{file}.damaged/keep"))).unwrap()
        };
        assert_eq!(kept, b"someone's file");
        let after = uidcache_fsck::check(d.path()).unwrap();
        assert!(!after.has_damage(), "{file}: {after:?}");
        assert!(common::dump(d.path()).is_ok(), "{file}");
    }
}

/// Defect: with `blocks/` gone while the journal holds inline blocks, a repair (here for a
/// leftover temporary file) failed (exit 2) writing them out. It recreates the directory.
#[test]
fn repair_recreates_a_missing_blocks_dir() {
    let d = common::scratch();
    common::caches::journal_only(d.path());
    let expected = common::dump(d.path()).unwrap();
    fs::remove_dir_all(d.path().join("blocks")).unwrap();
    fs::write(d.path().join("index.tmp"), b"left by a crash").unwrap();
    let repaired = uidcache_fsck::repair(d.path()).unwrap();
    assert!(d.path().join("blocks").is_dir(), "{repaired:?}");
    assert!(uidcache_fsck::check(d.path()).unwrap().is_clean());
    assert_eq!(common::dump(d.path()).unwrap(), expected);
}
