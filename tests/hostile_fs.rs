//! Hostile file systems (issue "Hostile input and hostile file systems"), for the engine: a
//! read that fails is an I/O error, never taken for a torn tail or damage; a FIFO where a
//! file belongs is corruption of that file, never a hang.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::faultfs::{FaultVfs, EACCES, EIO};
use uidcache::tools::JOURNAL_FILE;
use uidcache::{Cache, Durability, Error, ErrorKind, OpenOptions};

/// Runs `f` on another thread; no answer in 30 s is a hang (the thread is left blocked).
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

/// A cache whose last commit is an unsynced frame naming a block file (600 records, above
/// the inline limit), left as a crash leaves it; returns that block's path.
fn unsynced_block(dir: &Path) -> std::path::PathBuf {
    let options = OpenOptions::new().checkpoint_on_drop(false);
    let mut cache = Cache::open_with(dir, options).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(600).unwrap();
    tx.commit().unwrap();
    let mut tx = cache.transaction().unwrap();
    let uids: Vec<u32> = (1..=600).collect();
    tx.learn_range(1, &uids).unwrap();
    tx.commit_with(Durability::NoSync).unwrap();
    drop(cache);
    let mut blocks: Vec<_> = fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    blocks.sort();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    blocks.pop().unwrap()
}

/// Defect: a failed read (EIO, EACCES) of the block of an unsynced frame was taken for the
/// block a power loss lost: the writer's open cut the journal there and unlinked the intact
/// block as unnamed. It is an I/O error: the open fails and nothing changes.
#[test]
fn a_failed_block_read_at_open_is_an_error_not_a_torn_tail() {
    for errno in [EIO, EACCES] {
        let d = tempfile::tempdir().unwrap();
        let block = unsynced_block(d.path());
        let journal = fs::read(d.path().join(JOURNAL_FILE)).unwrap();
        let vfs = FaultVfs::new();
        vfs.fail_reads(block.to_str().unwrap(), errno);
        let options = OpenOptions::new().vfs(vfs).checkpoint_on_drop(false);
        match Cache::open_with(d.path(), options).map_err(Error::into_kind) {
            Err(ErrorKind::Io { source, path, .. }) => {
                assert_eq!(source.raw_os_error(), Some(errno));
                assert_eq!(path, block);
            }
            other => panic!("{errno}: {other:?}"),
        }
        assert!(block.exists(), "{errno}: the intact block was unlinked");
        assert_eq!(fs::read(d.path().join(JOURNAL_FILE)).unwrap(), journal);
        let cache = Cache::open_read_only(d.path()).unwrap();
        assert_eq!(cache.view().message_at(600).unwrap().unwrap().uid, 600);
    }
}

/// Defect: a FIFO in place of a block file, the index or the journal hung every reader. It
/// is corruption of that file (the engine never opens it).
#[test]
fn a_fifo_in_place_of_a_file_is_corruption_not_a_hang() {
    for victim in ["index", "journal", "block"] {
        let d = tempfile::tempdir().unwrap();
        let block = unsynced_block(d.path());
        Cache::open(d.path()).unwrap().checkpoint().unwrap();
        let path = match victim {
            "block" => block,
            name => d.path().join(name),
        };
        fs::remove_file(&path).unwrap();
        mkfifo(&path);
        let dir = d.path().to_path_buf();
        let read = in_time(victim, move || {
            let cache = Cache::open_read_only(&dir)?;
            let view = cache.view();
            view.message_at(600).map(|m| m.map(|m| m.uid))
        });
        match read.map_err(Error::into_kind) {
            Err(ErrorKind::Corrupt { path: p, detail }) => {
                assert_eq!(p, path, "{victim}");
                assert!(detail.found.contains("FIFO"), "{victim}: {detail}");
            }
            other => panic!("{victim}: {other:?}"),
        }
    }
}

/// A writer's open unlinks every block file its state does not name: with `blocks` a
/// symbolic link to another cache's, it deleted that cache's blocks. The writer refuses such
/// a `blocks` (corruption naming it) and changes nothing in either cache.
#[test]
fn a_writer_refuses_a_symlinked_blocks_dir() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    unsynced_block(&a);
    unsynced_block(&b);
    Cache::open(&b).unwrap().checkpoint().unwrap();
    // b's block ID 1 is a's too; give b a block a does not have.
    let mut cache = Cache::open(&b).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(1200).unwrap();
    let uids: Vec<u32> = (601..=1200).collect();
    tx.learn_range(601, &uids).unwrap();
    tx.commit().unwrap();
    drop(cache);
    let listing = |dir: &Path| {
        let mut v: Vec<_> = fs::read_dir(dir.join("blocks"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let b_blocks = listing(&b);
    assert!(b_blocks.len() >= 2, "{b_blocks:?}");
    fs::rename(a.join("blocks"), d.path().join("a-blocks")).unwrap();
    std::os::unix::fs::symlink(b.join("blocks"), a.join("blocks")).unwrap();
    match Cache::open(&a).map_err(Error::into_kind) {
        Err(ErrorKind::Corrupt { path, detail }) => {
            assert_eq!(path, a.join("blocks"));
            assert!(detail.found.contains("symbolic link"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(listing(&b), b_blocks);
    let cache = Cache::open_read_only(&b).unwrap();
    assert_eq!(cache.view().message_at(1200).unwrap().unwrap().uid, 1200);
}
