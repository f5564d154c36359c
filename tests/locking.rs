//! One writer at a time; readers never block it and see only committed states (issue 2).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::time::Duration;

use uidcache::{Cache, Error, ErrorKind, OpenOptions};

#[test]
fn a_second_writer_gets_a_clear_locked_error() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = Cache::open(dir.path()).unwrap();
    let err = Cache::open(dir.path()).err().unwrap();
    assert!(err.is_locked(), "{err}");
    assert!(err.to_string().contains("locked by another process"));
}

#[test]
fn a_waiting_writer_gets_the_lock_when_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Cache::open(dir.path()).unwrap();
    let path = dir.path().to_path_buf();
    let waiter = std::thread::spawn(move || {
        Cache::open_with(
            &path,
            OpenOptions::new().lock_wait(Some(Duration::from_secs(60))),
        )
        .map(|_| ())
    });
    std::thread::sleep(Duration::from_millis(20));
    drop(writer);
    waiter.join().unwrap().unwrap();
}

#[test]
fn readers_see_commits_only_and_do_not_block_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Cache::open(dir.path()).unwrap();
    let mut tx = writer.transaction().unwrap();
    tx.set_exists(3).unwrap();
    tx.learn_range(1, &[5, 6, 7]).unwrap();
    tx.commit().unwrap();

    let mut reader = Cache::open_read_only(dir.path()).unwrap();
    assert!(matches!(
        reader.transaction().err().map(Error::into_kind),
        Some(ErrorKind::ReadOnly)
    ));
    let mut tx = writer.transaction().unwrap();
    tx.expunge(1).unwrap();
    // Uncommitted: a reader opened now, and a refreshed one, still see three messages.
    assert_eq!(
        Cache::open_read_only(dir.path()).unwrap().view().exists(),
        Some(3)
    );
    tx.commit().unwrap();
    assert_eq!(
        reader.view().exists(),
        Some(3),
        "a reader keeps its snapshot until refresh"
    );
    reader.refresh().unwrap();
    assert_eq!(reader.view().exists(), Some(2));
    assert_eq!(reader.view().message_at(1).unwrap().unwrap().uid, 6);

    // A checkpoint and compaction replace the index and unlink dead blocks under the reader.
    writer.compact().unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.view().message_at(2).unwrap().unwrap().uid, 7);
}
