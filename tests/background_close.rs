//! Drops that leave their closing checkpoint to a background thread
//! (`OpenOptions::close_in_background_above`, FORMAT.md 7.2): the drop returns before the
//! checkpoint, and nothing in this process can tell: an open of the directory, fsck and
//! `wait_for_close` wait for it. A process that exits while one runs loses no commit.
//!
//! The child of the last test is this test binary run again with `UIDCACHE_CHILD` set.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use common::faultfs::FaultVfs;
use uidcache::tools::CLEAN_FILE;
use uidcache::{Cache, Durability, OpenOptions};

/// Held by each test for its whole run. The last test forks a child, which shares every
/// open file description of this process until it execs (FORMAT.md 10): a writer lock that
/// another test's close released in that moment is still held, and that test's open, which
/// takes no lock wait on purpose, fails with `Locked` (about once in 240 runs under load).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every drop of a writer closes in the background (an index of any size is past 0).
fn always_background() -> OpenOptions {
    OpenOptions::new()
        .durability(Durability::NoSync)
        .close_in_background_above(Some(0))
}

/// `frames` NoSync commits of 100 appended messages each, nothing checkpointed since.
fn commit_appends(cache: &mut Cache, frames: u32) {
    for f in 0..frames {
        let mut tx = cache.transaction().unwrap();
        let base = f * 100;
        tx.set_exists(base + 100).unwrap();
        let uids: Vec<u32> = (base + 1..=base + 100).collect();
        tx.learn_range(base + 1, &uids).unwrap();
        tx.commit().unwrap();
    }
}

/// Drops `cache` on another thread and waits for the drop to return. A drop that waited
/// for a checkpoint that cannot finish would never return: after a minute the test fails
/// saying so, instead of hanging (no figure is measured against that minute).
fn drop_returns(cache: Cache) {
    let (done, returned) = mpsc::channel();
    std::thread::spawn(move || {
        drop(cache);
        let _ = done.send(());
    });
    returned
        .recv_timeout(Duration::from_secs(60))
        .expect("the drop waited for its closing checkpoint");
}

/// A writer of `frames` commits in `dir`, dropped while its syncer is held: the closing
/// checkpoint needs the syncer's directory fsyncs (its blocks durable, then the unlinks),
/// so it cannot finish until the returned file system releases the hold. Returns the
/// generation the writer had.
fn drop_while_held(dir: &Path, frames: u32) -> (Arc<FaultVfs>, u64) {
    let vfs = FaultVfs::new();
    let mut cache = always_background().vfs(vfs.clone()).open(dir).unwrap();
    commit_appends(&mut cache, frames);
    let generation = cache.layout().generation;
    vfs.hold_syncer(true);
    drop_returns(cache);
    assert!(
        !dir.join(CLEAN_FILE).exists(),
        "the close finished while its fsyncs were held"
    );
    (vfs, generation)
}

#[test]
fn a_drop_returns_before_its_checkpoint_and_an_open_waits_for_it() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (vfs, generation) = drop_while_held(dir.path(), 5);
    // A writer open with no lock wait: without waiting for the close it would find the
    // lock taken and fail.
    let path = dir.path().to_path_buf();
    let opener = std::thread::spawn(move || {
        let cache = OpenOptions::new()
            .durability(Durability::NoSync)
            .open(&path)
            .unwrap();
        (cache.layout(), cache.view().exists())
    });
    // Not a measurement: only makes it likely that the open is waiting when the hold goes.
    std::thread::sleep(Duration::from_millis(50));
    vfs.hold_syncer(false);
    let (layout, exists) = opener.join().unwrap();
    assert_eq!(exists, Some(500));
    assert_eq!(layout.journal_frames, 0, "the open replayed the journal");
    assert!(layout.generation > generation, "{layout:?}");
}

#[test]
fn fsck_and_wait_for_close_see_what_the_close_leaves() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let (vfs, _) = drop_while_held(dir.path(), 3);
    let path = dir.path().to_path_buf();
    let checker = std::thread::spawn(move || uidcache::fsck::check(&path).unwrap());
    std::thread::sleep(Duration::from_millis(50));
    vfs.hold_syncer(false);
    let report = checker.join().unwrap();
    assert!(report.is_clean(), "{report:?}");
    uidcache::wait_for_close(dir.path());
    assert!(dir.path().join(CLEAN_FILE).exists());
    // The directory is the caller's again: nothing re-creates files in it.
    std::fs::remove_dir_all(dir.path()).unwrap();
    assert!(!dir.path().exists());
}

#[test]
fn a_small_index_closes_inline_by_default() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut cache = OpenOptions::new()
        .durability(Durability::NoSync)
        .open(dir.path())
        .unwrap();
    commit_appends(&mut cache, 3);
    drop(cache);
    // No wait: the drop itself left the marker of a finished close.
    assert!(dir.path().join(CLEAN_FILE).exists());
}

#[test]
fn close_checkpoints_inline_whatever_the_index() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let vfs = FaultVfs::new();
    let mut cache = always_background()
        .vfs(vfs.clone())
        .open(dir.path())
        .unwrap();
    commit_appends(&mut cache, 3);
    cache.close().unwrap();
    assert!(dir.path().join(CLEAN_FILE).exists());
}

/// The child: commits, drops the writer (its close goes to the background) and exits at
/// once, cutting the close wherever it is.
fn exiting_child(dir: &Path) {
    let mut cache = always_background().open(dir).unwrap();
    commit_appends(&mut cache, 20);
    drop(cache);
    std::process::exit(0);
}

/// Dispatches to the child role when this binary was started as one.
#[test]
fn child_entry() {
    if let Ok(dir) = std::env::var("UIDCACHE_CHILD") {
        exiting_child(Path::new(&dir));
    }
}

#[test]
fn exiting_during_a_background_close_loses_no_commit() {
    let _serial = one_at_a_time();
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env("UIDCACHE_CHILD", dir.path())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let cache = OpenOptions::new().open(dir.path()).unwrap();
        assert_eq!(cache.view().exists(), Some(2000));
        let last = cache.view().message_at(2000).unwrap().map(|m| m.uid);
        assert_eq!(last, Some(2000));
        drop(cache);
        assert!(uidcache::fsck::check(dir.path()).unwrap().is_clean());
    }
}
