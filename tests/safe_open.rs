//! A writer only takes a directory that is missing, empty or already a cache, and only ever
//! removes the temporary names the engine itself writes.

use std::fs;

use uidcache::tools::{BLOCKS_DIR, CLEAN_FILE, INDEX_FILE, LOCK_FILE};
use uidcache::{Cache, ErrorKind};

#[test]
fn a_writer_refuses_a_directory_of_other_files_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    fs::write(dir.path().join("draft.tmp"), b"mine too").unwrap();
    let err = Cache::open(dir.path()).unwrap_err();
    match err.kind() {
        ErrorKind::NotACache { path, found } => {
            assert_eq!(path, dir.path());
            assert_eq!(found, "draft.tmp");
        }
        other => panic!("expected NotACache, got {other:?}"),
    }
    assert!(err.to_string().contains("not a cache directory"), "{err}");
    let mut left: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec!["draft.tmp", "notes.txt"],
        "nothing created or removed"
    );
}

#[test]
fn a_writer_takes_a_missing_or_empty_directory_or_a_cache() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("new");
    drop(Cache::open(&missing).unwrap());
    assert!(missing.join(INDEX_FILE).exists());
    let empty = root.path().join("empty");
    fs::create_dir(&empty).unwrap();
    drop(Cache::open(&empty).unwrap());
    // An existing cache beside a file of the user's is still a cache.
    fs::write(empty.join("README"), b"x").unwrap();
    drop(Cache::open(&empty).unwrap());
    // What an interrupted first open leaves (blocks/ and lock, no index) is a cache too.
    let started = root.path().join("started");
    fs::create_dir_all(started.join(BLOCKS_DIR)).unwrap();
    fs::write(started.join(LOCK_FILE), b"").unwrap();
    drop(Cache::open(&started).unwrap());
    // So is a directory where a first open left only its temporary index.
    let torn = root.path().join("torn");
    fs::create_dir(&torn).unwrap();
    fs::write(torn.join("index.tmp"), b"partial").unwrap();
    drop(Cache::open(&torn).unwrap());
    assert!(!torn.join("index.tmp").exists());
}

#[test]
fn a_writer_removes_only_its_own_temporary_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(3).unwrap();
    tx.learn_range(1, &[1, 2, 3]).unwrap();
    tx.commit().unwrap();
    drop(cache);
    let blocks = dir.path().join(BLOCKS_DIR);
    let theirs = [dir.path().join("photo.tmp"), blocks.join("copy.tmp")];
    let ours = [
        dir.path().join("index.tmp"),
        dir.path().join("journal.tmp"),
        blocks.join("00000000000000ff.ucb.tmp"),
    ];
    for path in theirs.iter().chain(&ours) {
        fs::write(path, b"leftover").unwrap();
    }
    // Without the clean marker, the next writer looks for leftovers of a crash.
    fs::remove_file(dir.path().join(CLEAN_FILE)).unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.view().exists(), Some(3));
    for path in &theirs {
        assert!(
            path.exists(),
            "{} is not the engine's and must stay",
            path.display()
        );
    }
    for path in &ours {
        assert!(
            !path.exists(),
            "{} is a leftover of the engine",
            path.display()
        );
    }
}
