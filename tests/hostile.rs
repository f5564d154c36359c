//! Hostile files (issue "Hostile input and hostile file systems"): a block file or journal
//! copied from another cache, a block that does not hold what its index entry says, a removed
//! or older journal, and caches written by format v1. Each is damage or read correctly,
//! never silently misread.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::fs;
use std::path::Path;

use uidcache::tools::{BLOCKS_DIR, INDEX_FILE, JOURNAL_FILE};
use uidcache::{Cache, OpenOptions};
use uidcache_format::{encode_block, parse_block, IndexImage, Record, NO_IDENTITY};

/// A cache in `dir` whose 300 messages (UIDs `first..first+300`) are in block file 1, and
/// which was closed (checkpointed).
fn filled(dir: &Path, first: u32) {
    let mut cache = Cache::open(dir).unwrap();
    let mut tx = cache.transaction().unwrap();
    let uids: Vec<u32> = (first..first + 300).collect();
    tx.set_exists(300).unwrap();
    tx.learn_range(1, &uids).unwrap();
    tx.commit().unwrap();
    cache.close().unwrap();
}

fn block_1(dir: &Path) -> std::path::PathBuf {
    dir.join(BLOCKS_DIR).join(format!("{:016x}.ucb", 1))
}

fn index(dir: &Path) -> IndexImage {
    IndexImage::decode(&fs::read(dir.join(INDEX_FILE)).unwrap()).unwrap()
}

fn uids(cache: &Cache) -> uidcache::Result<Vec<u32>> {
    Ok(cache
        .view()
        .placed_messages()?
        .iter()
        .map(|(_, m)| m.uid)
        .collect())
}

#[test]
fn a_block_copied_from_another_cache_is_corruption_not_data() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    filled(ours.path(), 1);
    filled(theirs.path(), 5000);
    assert_eq!(index(ours.path()).placed[0].block_id.get(), 1);
    fs::copy(block_1(theirs.path()), block_1(ours.path())).unwrap();
    for read_only in [true, false] {
        let cache = Cache::open_with(
            ours.path(),
            OpenOptions::new()
                .read_only(read_only)
                .create(false)
                .checkpoint_on_drop(false),
        )
        .unwrap();
        let err = uids(&cache).expect_err("another mailbox's UIDs must not be read as ours");
        assert!(err.is_corruption(), "{err}");
        assert!(err.to_string().contains("cache_tag"), "{err}");
    }
    let report = uidcache::fsck::check(ours.path()).unwrap();
    assert!(report.has_damage(), "{:?}", report.problems);
    uidcache::fsck::repair(ours.path()).unwrap();
    let cache = Cache::open_read_only(ours.path()).unwrap();
    assert!(
        uids(&cache).unwrap().iter().all(|u| *u < 5000),
        "repair dropped the foreign block"
    );
}

#[test]
fn a_journal_copied_from_another_cache_is_never_replayed() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    filled(ours.path(), 1);
    filled(theirs.path(), 5000);
    // Their commit after the checkpoint, left in their journal (same generation as ours).
    let options = OpenOptions::new().checkpoint_on_drop(false);
    let mut cache = Cache::open_with(theirs.path(), options.clone()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.expunge(1).unwrap();
    tx.commit().unwrap();
    drop(cache);
    assert_eq!(
        index(ours.path()).generation,
        index(theirs.path()).generation
    );
    fs::copy(
        theirs.path().join(JOURNAL_FILE),
        ours.path().join(JOURNAL_FILE),
    )
    .unwrap();
    let err = Cache::open_with(ours.path(), options).expect_err("a foreign journal");
    assert!(err.is_corruption(), "{err}");
    let err = Cache::open_read_only(ours.path()).expect_err("a foreign journal");
    assert!(err.is_corruption(), "{err}");
    let report = uidcache::fsck::check(ours.path()).unwrap();
    assert!(report.has_damage(), "{:?}", report.problems);
    uidcache::fsck::repair(ours.path()).unwrap();
    let cache = Cache::open_read_only(ours.path()).unwrap();
    assert_eq!(
        uids(&cache).unwrap(),
        (1..=300).collect::<Vec<_>>(),
        "their expunge was not imported"
    );
}

#[test]
fn a_block_that_does_not_hold_its_entrys_uids_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    filled(d.path(), 1);
    let id = index(d.path()).cache_id;
    // A valid block of this cache (right identity, right CRC) with other UIDs at the ends.
    let mut records = parse_block(&fs::read(block_1(d.path())).unwrap(), 1, id)
        .unwrap()
        .to_vec();
    records[0] = Record::new(0, u32::MAX, 0);
    let last = records.len() - 1;
    records[last] = Record::new(999, u32::MAX, 0);
    fs::write(block_1(d.path()), encode_block(1, &records, id)).unwrap();
    let cache = Cache::open_read_only(d.path()).unwrap();
    let err = cache.view().message_at(1).expect_err("entry says UID 1");
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("Record.uid"), "{err}");
}

#[test]
fn a_removed_journal_after_a_checkpoint_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    filled(d.path(), 1);
    let options = OpenOptions::new().checkpoint_on_drop(false);
    let mut cache = Cache::open_with(d.path(), options.clone()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.expunge(1).unwrap();
    tx.commit().unwrap();
    drop(cache);
    fs::remove_file(d.path().join(JOURNAL_FILE)).unwrap();
    let err = Cache::open_with(d.path(), options).expect_err("the durable expunge is gone");
    assert!(err.is_corruption(), "{err}");
    assert!(Cache::open_read_only(d.path()).is_err());
    let report = uidcache::fsck::check(d.path()).unwrap();
    assert!(report.has_damage(), "{:?}", report.problems);
}

#[test]
fn an_older_journal_is_corruption_not_a_stale_one() {
    let d = tempfile::tempdir().unwrap();
    filled(d.path(), 1);
    let old = fs::read(d.path().join(JOURNAL_FILE)).unwrap();
    for _ in 0..2 {
        let mut cache = Cache::open(d.path()).unwrap();
        let mut tx = cache.transaction().unwrap();
        tx.expunge(1).unwrap();
        tx.commit().unwrap();
        cache.close().unwrap();
    }
    fs::write(d.path().join(JOURNAL_FILE), old).unwrap();
    let err = Cache::open(d.path()).expect_err("a journal two generations old");
    assert!(err.is_corruption(), "{err}");
    let report = uidcache::fsck::check(d.path()).unwrap();
    assert!(report.has_damage(), "{:?}", report.problems);
}

/// Writes the files of `dir` back as format v1 wrote them.
fn make_format_v1(dir: &Path) {
    let mut files = std::collections::BTreeMap::new();
    for name in [INDEX_FILE, JOURNAL_FILE] {
        files.insert(dir.join(name), fs::read(dir.join(name)).unwrap());
    }
    for entry in fs::read_dir(dir.join(BLOCKS_DIR)).unwrap() {
        let path = entry.unwrap().path();
        files.insert(path.clone(), fs::read(&path).unwrap());
    }
    for (path, bytes) in common::to_format_v1(&files) {
        fs::write(path, bytes).unwrap();
    }
}

#[test]
fn a_format_v1_cache_is_read_and_upgraded_in_place() {
    let d = tempfile::tempdir().unwrap();
    filled(d.path(), 1);
    let options = OpenOptions::new().checkpoint_on_drop(false);
    // A commit left in the journal, so the upgrade also replays a v1 journal.
    let mut cache = Cache::open_with(d.path(), options).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.expunge(2).unwrap();
    tx.commit().unwrap();
    drop(cache);
    let expected = uids(&Cache::open_read_only(d.path()).unwrap()).unwrap();
    make_format_v1(d.path());
    assert_eq!(fs::read(d.path().join(INDEX_FILE)).unwrap()[8], 1);
    // Readers read it as it is.
    let reader = Cache::open_read_only(d.path()).unwrap();
    assert_eq!(uids(&reader).unwrap(), expected);
    assert_eq!(index(d.path()).cache_id, NO_IDENTITY);
    assert!(uidcache::fsck::check(d.path()).unwrap().is_clean());
    // The writer upgrades it.
    let writer = Cache::open(d.path()).unwrap();
    assert_eq!(uids(&writer).unwrap(), expected);
    drop(writer);
    let image = index(d.path());
    assert_ne!(image.cache_id, NO_IDENTITY);
    assert_eq!(fs::read(d.path().join(INDEX_FILE)).unwrap()[8], 2);
    for entry in fs::read_dir(d.path().join(BLOCKS_DIR)).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        assert_eq!(bytes[8], 2, "every v1 block was rewritten");
    }
    assert_eq!(
        uids(&Cache::open_read_only(d.path()).unwrap()).unwrap(),
        expected
    );
    assert!(uidcache::fsck::check(d.path()).unwrap().is_clean());
    drop(reader);
}

/// Every placed message's flag names (as text; `None`: FLAGS unknown).
fn flags_of(cache: &Cache) -> Vec<Option<Vec<String>>> {
    let view = cache.view();
    view.placed_messages()
        .unwrap()
        .iter()
        .map(|(_, m)| {
            m.flags.map(|f| {
                view.flag_names(f)
                    .unwrap()
                    .iter()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect()
            })
        })
        .collect()
}

#[test]
fn a_flag_list_beyond_the_limits_is_refused_with_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(d.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(1).unwrap();
    tx.learn_range(1, &[1]).unwrap();
    let many: Vec<Vec<u8>> = (0..=uidcache::MAX_FLAGS)
        .map(|i| format!("$k{i}").into_bytes())
        .collect();
    let many: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    let long = vec![b'x'; uidcache::MAX_FLAG_BYTES + 1];
    let long_list: [&[u8]; 1] = [&long];
    for list in [&many[..], &long_list[..]] {
        let err = tx
            .update_seq(
                1,
                uidcache::Update {
                    flags: Some(list),
                    modseq: None,
                },
            )
            .expect_err("beyond the limit");
        assert!(
            matches!(
                err.invalid_op(),
                Some(uidcache::InvalidOp::FlagListTooLarge { .. })
            ),
            "{err}"
        );
        assert!(uidcache::check_flag_list(list).is_err());
    }
    // At the limit (duplicates and \Recent not counted) is fine.
    let mut at_limit = many[..uidcache::MAX_FLAGS].to_vec();
    at_limit.push(b"\\Recent");
    at_limit.push(many[0]);
    tx.update_seq(
        1,
        uidcache::Update {
            flags: Some(&at_limit),
            modseq: None,
        },
    )
    .unwrap();
    tx.commit().unwrap();
}

#[test]
fn keywords_no_record_uses_disappear_at_a_checkpoint_and_kept_ids_stay_valid() {
    let d = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(d.path()).unwrap();
    let seen: [&[u8]; 1] = [b"\\Seen"];
    let junk: [&[u8]; 1] = [b"$Junk"];
    let huge: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("$keyword-{i:0>50}").into_bytes())
        .collect();
    let huge: Vec<&[u8]> = huge.iter().map(Vec::as_slice).collect();
    let with = |flags| uidcache::Update {
        flags: Some(flags),
        modseq: None,
    };
    // Set 0 (\Seen) lives in block records; then the huge set, then $Junk after it.
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(3).unwrap();
    tx.learn(1, 10, with(&seen)).unwrap();
    tx.learn(2, 20, with(&huge)).unwrap();
    tx.learn(3, 30, with(&seen)).unwrap();
    tx.commit().unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.update_seq(3, with(&junk)).unwrap();
    tx.commit().unwrap();
    cache.checkpoint().unwrap();
    let bloated = fs::metadata(d.path().join(INDEX_FILE)).unwrap().len();
    assert!(bloated > 64 * 1024, "{bloated}");
    // No message carries the huge set any more.
    let mut tx = cache.transaction().unwrap();
    tx.update_seq(2, with(&seen)).unwrap();
    tx.commit().unwrap();
    let expected = flags_of(&cache);
    cache.close().unwrap();
    let image = index(d.path());
    assert!(image.atoms.len() <= 2, "{} atoms kept", image.atoms.len());
    assert!(fs::metadata(d.path().join(INDEX_FILE)).unwrap().len() < 4096);
    let cache = Cache::open_read_only(d.path()).unwrap();
    assert_eq!(flags_of(&cache), expected);
    assert_eq!(
        expected,
        vec![
            Some(vec!["\\Seen".to_string()]),
            Some(vec!["\\Seen".to_string()]),
            Some(vec!["$Junk".to_string()]),
        ]
    );
    drop(cache);
    assert!(uidcache::fsck::check(d.path()).unwrap().is_clean());
    // A new set after the collection, and a reopen: everything still reads.
    let mut cache = Cache::open(d.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    let new: [&[u8]; 2] = [b"$New", b"\\Seen"];
    tx.update_seq(1, with(&new)).unwrap();
    tx.commit().unwrap();
    cache.close().unwrap();
    let cache = Cache::open_read_only(d.path()).unwrap();
    assert_eq!(
        flags_of(&cache)[0],
        Some(vec!["$New".into(), "\\Seen".into()])
    );
    assert_eq!(flags_of(&cache)[1..], expected[1..]);
}
