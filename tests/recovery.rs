//! Damaged and interrupted files (issue 2): torn journal tails are dropped, damage is a
//! typed error naming the file and the byte offset, nothing committed is lost.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::fs;
use std::path::Path;

mod common;

use common::faultfs::FaultVfs;

use uidcache::tools::{BLOCKS_DIR, CLEAN_FILE, INDEX_FILE, JOURNAL_FILE};
use uidcache::{Cache, Error, ErrorKind, OpenOptions};

/// Three commits: a fill, an expunge, a flag change.
fn three_commits(dir: &Path) -> Vec<u64> {
    // No checkpoint on drop: these tests damage the journal those commits are in.
    let options = OpenOptions::new().checkpoint_on_drop(false);
    let mut cache = Cache::open_with(dir, options).unwrap();
    let mut sizes = vec![fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len()];
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(10).unwrap();
    tx.learn_range(1, &[2, 4, 6, 8, 10, 12, 14, 16, 18, 20])
        .unwrap();
    tx.commit().unwrap();
    sizes.push(fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len());
    let mut tx = cache.transaction().unwrap();
    tx.expunge(3).unwrap();
    tx.commit().unwrap();
    sizes.push(fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len());
    let mut tx = cache.transaction().unwrap();
    tx.update_seq(
        1,
        uidcache::Update {
            flags: Some(&[b"\\Seen"]),
            modseq: Some(9),
        },
    )
    .unwrap();
    tx.commit().unwrap();
    sizes.push(fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len());
    sizes
}

fn uids(cache: &Cache) -> Vec<u32> {
    cache
        .view()
        .placed_messages()
        .unwrap()
        .iter()
        .map(|(_, m)| m.uid)
        .collect()
}

#[test]
fn every_truncation_of_the_journal_recovers_a_committed_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = three_commits(dir.path());
    let full = fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let expected = [0usize, 10, 9, 9];
    for cut in sizes[0]..=sizes[3] {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        fs::write(copy.path().join(JOURNAL_FILE), &full[..cut as usize]).unwrap();
        let commits = sizes.iter().filter(|s| **s <= cut).count() - 1;
        let mut cache = Cache::open(copy.path()).unwrap();
        assert_eq!(uids(&cache).len(), expected[commits], "cut at {cut}");
        // The torn tail is cut off, so the next commit lands right after the last good frame.
        let mut tx = cache.transaction().unwrap();
        tx.set_uidnext(Some(99)).unwrap();
        tx.commit().unwrap();
        drop(cache);
        let cache = Cache::open(copy.path()).unwrap();
        assert_eq!(cache.view().uidnext(), Some(99), "cut at {cut}");
        assert_eq!(
            uids(&cache).len(),
            expected[commits],
            "cut at {cut}, after a new commit"
        );
    }
}

#[test]
fn zero_filled_journal_tail_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    let mut bytes = fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    bytes.extend(std::iter::repeat_n(0u8, 8192));
    fs::write(dir.path().join(JOURNAL_FILE), &bytes).unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(uids(&cache), vec![2, 4, 8, 10, 12, 14, 16, 18, 20]);
}

#[test]
fn damage_before_a_durable_frame_names_journal_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = three_commits(dir.path());
    let path = dir.path().join(JOURNAL_FILE);
    let mut bytes = fs::read(&path).unwrap();
    let first_frame = sizes[0] as usize;
    bytes[first_frame + 30] ^= 0x55;
    fs::write(&path, &bytes).unwrap();
    match Cache::open(dir.path()).map_err(Error::into_kind) {
        Err(ErrorKind::Corrupt { path: p, detail }) => {
            assert!(p.ends_with(JOURNAL_FILE));
            assert_eq!(detail.offset, first_frame as u64);
        }
        other => panic!("expected corruption, got {:?}", other.map(|_| ())),
    }
    // A reader gets the same answer, and nothing was changed by either attempt.
    assert!(Cache::open_read_only(dir.path())
        .unwrap_err()
        .is_corruption());
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn damaged_index_is_a_typed_error_at_every_byte_and_length() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    Cache::open(dir.path()).unwrap().checkpoint().unwrap();
    let path = dir.path().join(INDEX_FILE);
    let good = fs::read(&path).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x08;
        fs::write(&path, &bad).unwrap();
        let err = Cache::open_read_only(dir.path())
            .err()
            .unwrap_or_else(|| panic!("flip at {i} accepted"));
        assert!(err.is_corruption(), "flip at {i}: {err}");
    }
    for cut in 0..good.len() {
        fs::write(&path, &good[..cut]).unwrap();
        assert!(
            Cache::open_read_only(dir.path())
                .unwrap_err()
                .is_corruption(),
            "cut at {cut}"
        );
    }
    fs::write(&path, &good).unwrap();
    assert_eq!(uids(&Cache::open(dir.path()).unwrap()).len(), 9);
}

#[test]
fn damaged_block_is_reported_on_read_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    // The commits were small, so their records live in the journal until a checkpoint.
    Cache::open(dir.path()).unwrap().close().unwrap();
    let blocks: Vec<_> = fs::read_dir(dir.path().join(BLOCKS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(blocks.len(), 1);
    let good = fs::read(&blocks[0]).unwrap();
    let mut bytes = good.clone();
    bytes[40] ^= 1;
    fs::write(&blocks[0], &bytes).unwrap();
    // Nothing reads the block until a record in it is asked for; then the error names it.
    let cache = Cache::open(dir.path()).unwrap();
    match cache.view().message_at(1).map_err(Error::into_kind) {
        Err(ErrorKind::Corrupt { path, detail }) => {
            assert_eq!(path, blocks[0]);
            assert_eq!(detail.offset, 28, "the block checksum field");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    drop(cache);
    fs::remove_file(&blocks[0]).unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(cache
        .view()
        .message_at(1)
        .is_err_and(|e| matches!(e.kind(), ErrorKind::Io { .. })));
}

#[test]
fn a_writer_checks_the_blocks_it_wrote_itself_on_first_read() {
    // A long-lived writer's pages are evicted and read back from the disk: damage there must
    // be an error, even in a block this very handle wrote.
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let uids: Vec<u32> = (1..=5_000).map(|u| u * 3).collect();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(5_000).unwrap();
    tx.learn_range(1, &uids).unwrap();
    tx.commit().unwrap();
    let blocks: Vec<_> = fs::read_dir(dir.path().join(BLOCKS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !blocks.is_empty(),
        "5,000 records are more than an inline block"
    );
    for path in &blocks {
        let mut bytes = fs::read(path).unwrap();
        let last = bytes.len() - 16;
        bytes[last] ^= 0x40; // the last record's UID
        fs::write(path, &bytes).unwrap();
    }
    let mut errors = 0;
    for seq in 1..=5_000 {
        match cache.view().message_at(seq) {
            Err(e) if e.is_corruption() => errors += 1,
            Ok(Some(m)) => assert_eq!(m.uid, seq * 3, "a wrong answer at {seq}"),
            other => panic!("unexpected {other:?} at {seq}"),
        }
    }
    assert!(errors > 0, "the damage went unnoticed");
}

#[test]
fn a_writer_reports_its_own_emptied_block_as_corruption() {
    // A writer maps its own blocks at their first read; an empty file cannot be mapped, and
    // must still read as damage of that block file, as it does for every other handle.
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let uids: Vec<u32> = (1..=5_000).collect();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(5_000).unwrap();
    tx.learn_range(1, &uids).unwrap();
    tx.commit().unwrap();
    let block = fs::read_dir(dir.path().join(BLOCKS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    fs::write(&block, b"").unwrap();
    let mut corrupt = 0;
    for seq in 1..=5_000 {
        match cache.view().message_at(seq).map_err(Error::into_kind) {
            Err(ErrorKind::Corrupt { path, .. }) => {
                assert_eq!(path, block, "the error names the damaged file");
                corrupt += 1;
            }
            Ok(Some(m)) => assert_eq!(m.uid, seq, "a wrong answer at {seq}"),
            other => panic!("unexpected {other:?} at {seq}"),
        }
    }
    assert!(corrupt > 0, "the emptied block went unnoticed");
}

#[test]
fn the_clean_marker_skips_the_leftover_search_only_while_it_can_be_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join(CLEAN_FILE);
    let stray = uidcache::tools::block_path(dir.path(), 0xdead);
    let fill = |cache: &mut Cache, from: u32| {
        let mut tx = cache.transaction().unwrap();
        let count = tx.view().exists().unwrap_or(0);
        tx.set_exists(count + 1_000).unwrap();
        let uids: Vec<u32> = (from..from + 1_000).collect();
        tx.learn_range(count + 1, &uids).unwrap();
        tx.commit().unwrap();
    };
    let mut cache = Cache::open(dir.path()).unwrap();
    fill(&mut cache, 1);
    cache.close().unwrap();
    assert!(
        marker.exists(),
        "a checkpoint that removed every leftover leaves the marker"
    );

    // A file nobody names, planted under a standing marker and an empty journal: the open
    // trusts the marker and does not look (this is what makes a reopen cheap).
    fs::write(&stray, b"not a block").unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    assert!(stray.exists(), "the open searched despite the marker");
    // The first block file of the session removes the marker before it is written.
    fill(&mut cache, 2_000);
    assert!(
        !marker.exists(),
        "a block file was written under the marker"
    );
    drop(cache);
    // A checkpoint unlinks the blocks it knows it dropped, without listing `blocks/` (issue
    // 12): a file this writer never wrote waits for the next open that searches (below).
    assert!(stray.exists(), "the checkpoint listed blocks/");
    assert!(marker.exists());

    // A journal with frames (a crash after commits): the marker is not trusted, and goes.
    let options = OpenOptions::new().checkpoint_on_drop(false);
    let mut cache = Cache::open_with(dir.path(), options.clone()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.expunge(1).unwrap();
    tx.commit().unwrap();
    drop(cache);
    fs::write(dir.path().join(CLEAN_FILE), b"").unwrap();
    fs::write(&stray, b"not a block").unwrap();
    let cache = Cache::open_with(dir.path(), options).unwrap();
    assert!(
        !stray.exists(),
        "leftovers beside a journal with frames must be searched for"
    );
    assert!(!marker.exists(), "an untrusted marker must go");
    assert_eq!(cache.view().exists(), Some(1_999));
}

/// A writer that only reads (a folder opened, looked at and left) leaves the directory as
/// it found it: the marker its open trusted stands throughout, and neither the open nor the
/// drop fsyncs anything. The marker goes at the first transaction.
#[test]
fn a_writer_that_only_reads_leaves_the_clean_marker_and_fsyncs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join(CLEAN_FILE);
    three_commits(dir.path());
    Cache::open(dir.path()).unwrap().close().unwrap();
    assert!(marker.exists());
    // The syncer inline: an eager removal would be done by the time `open` returns.
    let options = OpenOptions::new().background_sync(false);
    let cache = Cache::open_with(dir.path(), options.clone()).unwrap();
    assert_eq!(uids(&cache).len(), 9);
    assert!(marker.exists(), "the open removed the marker it trusted");
    let stats = cache.stats();
    assert_eq!((stats.fsyncs, stats.background_fsyncs), (0, 0), "{stats:?}");
    drop(cache);
    assert!(marker.exists());

    let mut cache = Cache::open_with(dir.path(), options).unwrap();
    let tx = cache.transaction().unwrap();
    assert!(!marker.exists(), "a transaction began under the marker");
    drop(tx);
    drop(cache);
    assert!(
        marker.exists(),
        "a drop that wrote nothing puts the marker back"
    );
}

#[test]
fn interrupted_checkpoint_leaves_a_stale_journal_that_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    let old_journal = fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    Cache::open(dir.path()).unwrap().checkpoint().unwrap();
    // The crash came after the new index was renamed in, before the new journal was.
    fs::write(dir.path().join(JOURNAL_FILE), &old_journal).unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(uids(&cache), vec![2, 4, 8, 10, 12, 14, 16, 18, 20]);
    assert_eq!(cache.view().message_at(1).unwrap().unwrap().modseq, Some(9));
}

#[test]
fn journal_from_a_future_generation_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    let index_gen0 = fs::read(dir.path().join(INDEX_FILE)).unwrap();
    Cache::open(dir.path()).unwrap().checkpoint().unwrap();
    fs::write(dir.path().join(INDEX_FILE), &index_gen0).unwrap();
    let err = Cache::open(dir.path()).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::Corrupt { detail, .. } if detail.field == "generation"),
        "{err}"
    );
}

/// Regression (typed errors): a reader retried every corruption whose field was named
/// "generation", so an older journal (damage, never a race) was read 20 times over ~200 ms
/// before it was reported. Only a journal ahead of the index is a checkpoint racing the
/// reader.
#[test]
fn a_reader_reports_an_older_journal_at_once_and_retries_only_a_journal_ahead() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    let journal_gen0 = fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let index_gen0 = fs::read(dir.path().join(INDEX_FILE)).unwrap();
    {
        let mut cache = Cache::open(dir.path()).unwrap();
        cache.checkpoint().unwrap();
        cache.checkpoint().unwrap();
    }
    let journal_now = fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let reader = |dir: &Path| {
        let vfs = FaultVfs::new();
        let options = OpenOptions::new().read_only(true).vfs(vfs.clone());
        let err = Cache::open_with(dir, options).unwrap_err();
        (err, vfs.reads_of(JOURNAL_FILE))
    };
    // The index two checkpoints on, beside the journal of generation 0: damage.
    fs::write(dir.path().join(JOURNAL_FILE), &journal_gen0).unwrap();
    let (err, reads) = reader(dir.path());
    assert!(err.is_corruption(), "{err}");
    assert_eq!(
        reads, 1,
        "damage is reported at the first read, not retried"
    );
    // The index of generation 0 beside the journal two checkpoints on: what a reader sees
    // when checkpoints run between its two reads. Read again, then reported as damage.
    fs::write(dir.path().join(JOURNAL_FILE), &journal_now).unwrap();
    fs::write(dir.path().join(INDEX_FILE), &index_gen0).unwrap();
    let (err, reads) = reader(dir.path());
    assert!(err.is_corruption(), "{err}");
    assert!(
        reads > 1,
        "a journal ahead of the index is read again ({reads} reads)"
    );
}

#[test]
fn missing_index_beside_a_journal_is_corruption_not_a_fresh_cache() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    fs::remove_file(dir.path().join(INDEX_FILE)).unwrap();
    assert!(Cache::open(dir.path()).unwrap_err().is_corruption());
}

/// Block files without an index (the journal gone too): a writer must not initialize a fresh
/// cache there, which would unlink the blocks; writer and reader both report the lost index.
#[test]
fn missing_index_beside_block_files_is_corruption_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut cache = Cache::open(dir.path()).unwrap();
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(100).unwrap();
        tx.learn_range(1, &(1..=100).collect::<Vec<u32>>()).unwrap();
        tx.commit().unwrap();
    }
    fs::remove_file(dir.path().join(INDEX_FILE)).unwrap();
    fs::remove_file(dir.path().join(JOURNAL_FILE)).unwrap();
    let blocks = || fs::read_dir(dir.path().join(BLOCKS_DIR)).unwrap().count();
    let before = blocks();
    assert!(before > 0);
    for err in [
        Cache::open(dir.path()).unwrap_err(),
        Cache::open_read_only(dir.path()).unwrap_err(),
    ] {
        assert!(err.is_corruption(), "{err}");
        assert!(
            matches!(err.kind(), ErrorKind::Corrupt { path, .. } if path.ends_with(INDEX_FILE)),
            "{err}"
        );
    }
    assert_eq!(blocks(), before);
    assert!(!dir.path().join(INDEX_FILE).exists());
}

/// A directory whose writer stopped before publishing its first index (`lock`, empty
/// `blocks/`): readers see an empty cache; a directory no writer opened is not a cache.
#[test]
fn a_reader_sees_a_lock_only_directory_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Cache::open_read_only(dir.path()).unwrap_err().kind(),
        ErrorKind::Io { .. }
    ));
    fs::create_dir(dir.path().join(BLOCKS_DIR)).unwrap();
    fs::write(dir.path().join(uidcache::tools::LOCK_FILE), b"").unwrap();
    let cache = Cache::open_read_only(dir.path()).unwrap();
    assert_eq!(cache.view().exists(), None);
    assert!(uids(&cache).is_empty());
    drop(cache);
    // A writer initializes it as usual.
    drop(Cache::open(dir.path()).unwrap());
    assert!(dir.path().join(INDEX_FILE).exists());
}

#[test]
fn leftovers_of_a_crash_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    let tmp = dir.path().join("index.tmp");
    fs::write(&tmp, b"half an index").unwrap();
    let orphan = uidcache::tools::block_path(dir.path(), 0xdead);
    fs::write(&orphan, b"a block no commit refers to").unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    assert!(!tmp.exists());
    cache.checkpoint().unwrap();
    assert!(!orphan.exists());
    assert_eq!(uids(&cache).len(), 9);
}

#[test]
fn uncommitted_changes_are_invisible_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    three_commits(dir.path());
    let mut cache = Cache::open(dir.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.clear().unwrap();
    assert_eq!(tx.view().exists(), None);
    drop(tx);
    assert_eq!(
        uids(&cache).len(),
        9,
        "a dropped transaction is rolled back in memory"
    );
    drop(cache);
    assert_eq!(uids(&Cache::open(dir.path()).unwrap()).len(), 9);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Issue 6's report: a small learn committed without fsync, then reopened, must be there
/// (its records live inline in the journal frame until the checkpoint on drop writes them).
#[test]
fn small_no_sync_learn_survives_reopen_with_and_without_checkpoint() {
    for checkpoint_on_drop in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let options = OpenOptions::new()
            .durability(uidcache::Durability::NoSync)
            .checkpoint_on_drop(checkpoint_on_drop);
        {
            let mut cache = Cache::open_with(dir.path(), options.clone()).unwrap();
            let mut tx = cache.transaction().unwrap();
            tx.set_exists(4).unwrap();
            tx.set_uidvalidity(Some(77)).unwrap();
            tx.commit().unwrap();
            let mut tx = cache.transaction().unwrap();
            tx.learn_range(1, &[10, 20]).unwrap();
            tx.commit().unwrap();
        }
        assert_eq!(
            uids(&Cache::open_read_only(dir.path()).unwrap()),
            vec![10, 20]
        );
        assert_eq!(
            uids(&Cache::open_with(dir.path(), options).unwrap()),
            vec![10, 20]
        );
    }
}

/// Issue 3: opening a damaged cache with the documented repair option drops the damage and
/// opens; what remains is a subset of what was there.
#[test]
fn open_repairing_repairs_a_damaged_journal_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = three_commits(dir.path());
    let path = dir.path().join(JOURNAL_FILE);
    let mut bytes = fs::read(&path).unwrap();
    bytes[sizes[1] as usize + 26] ^= 0x55; // in the second frame's payload, before a durable third
    fs::write(&path, &bytes).unwrap();
    assert!(Cache::open(dir.path()).unwrap_err().is_corruption());
    let (cache, report) = uidcache::open_repairing(dir.path(), OpenOptions::default()).unwrap();
    let report = report.expect("a repair ran");
    assert!(report.has_damage());
    // The first commit survives; the damaged frame and everything after it are dropped.
    assert_eq!(uids(&cache), vec![2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    drop(cache);
    assert!(uidcache::fsck::check(dir.path()).unwrap().is_clean());
}
