//! Named findings: each rule reports at the right file and offset, with the right severity,
//! including forged files whose checksums are valid (only the rules can catch those).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::fs;
use std::path::Path;

use common::{caches, dump, is_subset, scratch};
use uidcache_format::{encode_block, known, IndexEntry, IndexImage, Record, SEQ_UNPLACED};
use uidcache_fsck::{check, repair, Severity};

/// The identity of the cache in `dir`, which every block file it reads must carry.
fn cache_id(dir: &std::path::Path) -> u64 {
    IndexImage::decode(&fs::read(dir.join("index")).unwrap())
        .unwrap()
        .cache_id
}

fn rewrite_index(dir: &Path, f: impl FnOnce(&mut IndexImage)) {
    let mut image = IndexImage::decode(&fs::read(dir.join("index")).unwrap()).unwrap();
    f(&mut image);
    fs::write(dir.join("index"), image.encode()).unwrap();
}

fn find<'r>(
    r: &'r uidcache_fsck::Report,
    structure: &str,
    field: &str,
) -> &'r uidcache_fsck::Problem {
    r.problems
        .iter()
        .find(|p| p.structure == structure && p.field == field)
        .unwrap_or_else(|| panic!("no {structure}.{field} in {:#?}", r.problems))
}

#[test]
fn block_checksum_damage_points_at_the_crc_field() {
    let d = scratch();
    caches::split_block(d.path());
    let path = d.path().join("blocks/0000000000000001.ucb");
    let mut b = fs::read(&path).unwrap();
    b[40] ^= 4;
    fs::write(&path, b).unwrap();
    let r = check(d.path()).unwrap();
    let p = find(&r, "BlockHeader", "crc32");
    assert_eq!(
        (p.file.as_path(), p.offset, p.severity),
        (
            Path::new("blocks/0000000000000001.ucb"),
            28,
            Severity::Damage
        )
    );
    let entry = find(&r, "IndexEntry", "block_id");
    assert_eq!(entry.file, Path::new("index"));
    assert_eq!(
        entry.offset, 96,
        "the first placed entry names the damaged block"
    );
}

#[test]
fn torn_tail_is_a_note_not_damage() {
    let d = scratch();
    caches::split_block(d.path());
    let path = d.path().join("journal");
    let mut b = fs::read(&path).unwrap();
    let len = b.len() as u64;
    b.extend([0u8; 100]);
    fs::write(&path, b).unwrap();
    let r = check(d.path()).unwrap();
    assert!(!r.has_damage(), "{:?}", r.problems);
    let p = find(&r, "JournalFrame", "tail");
    assert_eq!((p.offset, p.severity), (len, Severity::Note));
    let fixed = repair(d.path()).unwrap();
    assert!(
        fixed
            .repairs
            .iter()
            .all(|a| !format!("{a}").contains("dropped")),
        "{:?}",
        fixed.repairs
    );
    assert!(check(d.path()).unwrap().is_clean());
}

#[test]
fn overlapping_entries_of_one_block_are_damage_but_disjoint_ones_are_not() {
    let d = scratch();
    caches::split_block(d.path());
    // The expunge left two placed entries over disjoint records of block 1: clean.
    let image = IndexImage::decode(&fs::read(d.path().join("index")).unwrap()).unwrap();
    assert!(
        image
            .placed
            .iter()
            .filter(|e| e.block_id.get() == 1)
            .count()
            >= 2
    );
    assert!(check(d.path()).unwrap().is_clean());
    let before = dump(d.path()).unwrap();
    // A forged unplaced entry claiming record 0 of block 1 again (valid CRCs).
    rewrite_index(d.path(), |m| {
        let first = m.placed[0];
        m.unplaced.insert(
            0,
            IndexEntry::new(
                1,
                SEQ_UNPLACED,
                1,
                first.first_record.get(),
                first.first_uid.get(),
                first.first_uid.get(),
            ),
        );
    });
    let r = check(d.path()).unwrap();
    let p = find(&r, "IndexEntry", "first_record");
    assert_eq!(p.file, Path::new("index"));
    assert_eq!(p.offset, 96 + 32 * image.placed.len() as u64 + 16);
    repair(d.path()).unwrap();
    assert!(check(d.path()).unwrap().is_clean());
    assert!(is_subset(&dump(d.path()).unwrap(), &before));
}

#[test]
fn forged_record_order_and_undefined_flag_set_are_found_and_dropped() {
    let d = scratch();
    caches::split_block(d.path());
    let before = dump(d.path()).unwrap();
    // Block 1 rewritten with valid CRC but two records swapped and an undefined flag set.
    let path = d.path().join("blocks/0000000000000001.ucb");
    let mut records: Vec<Record> =
        uidcache_format::parse_block(&fs::read(&path).unwrap(), 1, cache_id(d.path()))
            .unwrap()
            .to_vec();
    records.swap(3, 4);
    records[0] = Record::new(records[0].uid.get(), 999, 0);
    fs::write(&path, encode_block(1, &records, cache_id(d.path()))).unwrap();
    let r = check(d.path()).unwrap();
    assert!(r.has_damage());
    let order = r
        .problems
        .iter()
        .find(|p| p.structure == "Record" && p.field == "uid")
        .expect("order finding");
    assert_eq!(order.file, Path::new("blocks/0000000000000001.ucb"));
    let flags = find(&r, "Record", "flags");
    assert_eq!(flags.offset, 32 + 4);
    repair(d.path()).unwrap();
    assert!(check(d.path()).unwrap().is_clean());
    let after = dump(d.path()).unwrap();
    assert!(is_subset(&after, &before));
    assert!(after.placed.len() < before.placed.len());
}

#[test]
fn highestmodseq_below_a_record_is_a_note() {
    let d = scratch();
    caches::checkpoint_then_frames(d.path());
    rewrite_index(d.path(), |m| {
        m.known |= known::HIGHESTMODSEQ;
        m.highestmodseq = 1;
    });
    let r = check(d.path()).unwrap();
    let p = find(&r, "IndexHeader", "highestmodseq");
    assert_eq!((p.offset, p.severity), (40, Severity::Note));
    // The journal sets HIGHESTMODSEQ 21 again, so the replayed state is fine: only the
    // checkpoint is reported.
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(!r.has_damage());
    // What the server said is kept: nothing to repair.
    let fixed = repair(d.path()).unwrap();
    assert!(fixed.repairs.is_empty(), "{:?}", fixed.repairs);
}

#[test]
fn unplaced_record_inside_a_placed_range_contradicts_it() {
    let d = scratch();
    caches::split_block(d.path());
    // Unplaced UID 11 lies inside the placed run 10..=11 of block 1: write it in a new block.
    fs::write(
        d.path().join("blocks/0000000000000063.ucb"),
        encode_block(0x63, &[Record::new(11, u32::MAX, 0)], cache_id(d.path())),
    )
    .unwrap();
    rewrite_index(d.path(), |m| {
        m.next_block_id = 0x64;
        m.unplaced
            .insert(0, IndexEntry::new(0x63, SEQ_UNPLACED, 1, 0, 11, 11));
    });
    let r = check(d.path()).unwrap();
    let p = find(&r, "IndexEntry", "records");
    assert!(p.found.contains("UID 11"), "{p:?}");
    repair(d.path()).unwrap();
    assert!(check(d.path()).unwrap().is_clean());
    assert!(
        !d.path().join("blocks/0000000000000063.ucb").exists(),
        "the dropped entry's block is dead"
    );
}

#[test]
fn orphans_and_temp_files_are_notes_and_repair_removes_them() {
    let d = scratch();
    caches::split_block(d.path());
    fs::write(
        d.path().join("blocks/00000000000000ff.ucb"),
        encode_block(0xff, &[Record::new(1, u32::MAX, 0)], cache_id(d.path())),
    )
    .unwrap();
    fs::write(d.path().join("index.tmp"), b"half").unwrap();
    let r = check(d.path()).unwrap();
    assert!(!r.has_damage(), "{:?}", r.problems);
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    let fixed = repair(d.path()).unwrap();
    assert!(!d.path().join("blocks/00000000000000ff.ucb").exists());
    assert!(!d.path().join("index.tmp").exists());
    assert!(fixed
        .repairs
        .iter()
        .any(|a| matches!(a, uidcache_fsck::RepairAction::RemovedFile { .. })));
    assert!(check(d.path()).unwrap().is_clean());
}

#[test]
fn repair_refuses_to_run_beside_a_writer() {
    let d = scratch();
    caches::split_block(d.path());
    let _writer = uidcache_engine::Cache::open(d.path()).unwrap();
    let e = repair(d.path()).unwrap_err();
    assert!(matches!(e, uidcache_fsck::FsckError::Locked { .. }), "{e}");
}

#[test]
fn lost_index_of_a_checkpointed_cache_resets_keeping_a_checksummed_uidvalidity() {
    let d = scratch();
    caches::checkpoint_then_frames(d.path());
    let path = d.path().join("index");
    let mut b = fs::read(&path).unwrap();
    let last = b.len() - 1;
    b[last] ^= 1; // body damage: the header checksum still vouches for UIDVALIDITY
    fs::write(&path, b).unwrap();
    let fixed = repair(d.path()).unwrap();
    assert!(
        fixed.repairs.iter().any(|a| matches!(
            a,
            uidcache_fsck::RepairAction::Reset {
                uidvalidity_kept: Some(77),
                ..
            }
        )),
        "{:?}",
        fixed.repairs
    );
    assert!(check(d.path()).unwrap().is_clean());
    let after = dump(d.path()).unwrap();
    assert_eq!(after.uidvalidity, Some(77));
    assert!(after.placed.is_empty());
}

/// A commit without fsync whose block file was lost in a power failure while its frame
/// survived: the engine drops that frame like a torn tail, so fsck notes it (no damage),
/// counts its block as an orphan, and repair keeps the state before that commit.
#[test]
fn unsynced_frame_whose_block_was_lost_is_a_note() {
    let d = scratch();
    let options = uidcache_engine::OpenOptions::new().checkpoint_on_drop(false);
    let mut c = uidcache_engine::Cache::open_with(d.path(), options).unwrap();
    let mut tx = c.transaction().unwrap();
    tx.set_exists(1000).unwrap();
    tx.learn_range(1, &[5, 6]).unwrap();
    tx.commit().unwrap();
    drop(c);
    let before = dump(d.path()).unwrap();
    let blocks_before: Vec<_> = fs::read_dir(d.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut c = uidcache_engine::Cache::open_with(d.path(), options_nosync()).unwrap();
    let mut tx = c.transaction().unwrap();
    let uids: Vec<u32> = (100..700).collect();
    tx.learn_range(10, &uids).unwrap();
    tx.commit_with(uidcache_engine::Durability::NoSync).unwrap();
    drop(c);
    let new_block = fs::read_dir(d.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !blocks_before.contains(p))
        .expect("the big learn wrote a block file");
    // Power failure: the block's data never reached the disk.
    let len = fs::metadata(&new_block).unwrap().len() as usize;
    fs::write(&new_block, vec![0u8; len]).unwrap();
    assert_eq!(
        dump(d.path()).unwrap(),
        before,
        "the engine drops the frame"
    );
    let r = check(d.path()).unwrap();
    assert!(!r.has_damage(), "{:#?}", r.problems);
    let tail = find(&r, "JournalFrame", "tail");
    assert_eq!(tail.severity, Severity::Note);
    assert!(
        r.problems.iter().any(|p| p.found.contains("orphan")),
        "{:#?}",
        r.problems
    );
    repair(d.path()).unwrap();
    assert!(check(d.path()).unwrap().is_clean());
    assert_eq!(dump(d.path()).unwrap(), before);
}

fn options_nosync() -> uidcache_engine::OpenOptions {
    uidcache_engine::OpenOptions::new()
        .checkpoint_on_drop(false)
        .durability(uidcache_engine::Durability::NoSync)
}

/// Two slices learned with flags and one without, whose flags then went to the overlay for
/// all but UID 42, checkpointed: the engine sets the flags-known bit of the first two only.
fn flag_bits_cache(dir: &Path) {
    let options = uidcache_engine::OpenOptions::new().checkpoint_on_drop(false);
    let mut c = uidcache_engine::Cache::open_with(dir, options).unwrap();
    let seen: &[&[u8]] = &[b"\\Seen"];
    let with = |uid| {
        let update = uidcache_engine::Update {
            flags: Some(seen),
            modseq: None,
        };
        (uid, update)
    };
    let mut tx = c.transaction().unwrap();
    tx.set_uidvalidity(Some(3)).unwrap();
    tx.set_exists(9).unwrap();
    tx.learn_many(1, &[with(10), with(11), with(12)]).unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.learn_range(4, &[40, 41, 42]).unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    for uid in [40, 41] {
        tx.update_uid(uid, with(uid).1).unwrap();
    }
    tx.learn_many(8, &[with(80), with(81)]).unwrap();
    tx.commit().unwrap();
    c.checkpoint().unwrap();
}

#[test]
fn flags_known_bit_is_written_by_the_engine_and_checked_against_the_records() {
    let d = scratch();
    flag_bits_cache(d.path());
    let image = IndexImage::decode(&fs::read(d.path().join("index")).unwrap()).unwrap();
    let bits: Vec<(u32, bool)> = image
        .placed
        .iter()
        .map(|e| (e.first_uid.get(), e.flags_known()))
        .collect();
    assert_eq!(bits, [(10, true), (40, false), (80, true)]);
    assert!(check(d.path()).unwrap().is_clean());
    let before = dump(d.path()).unwrap();

    // Set over records whose flags are all in the overlay but one: damage, at the word.
    rewrite_index(d.path(), |m| {
        m.placed[1] = m.placed[1].with_flags_known(true)
    });
    let r = check(d.path()).unwrap();
    let p = find(&r, "IndexEntry", "flags");
    assert_eq!(
        (p.file.as_path(), p.offset, p.severity),
        (Path::new("index"), 96 + 32 + 28, Severity::Damage)
    );
    assert!(p.found.contains("UID 42"), "{}", p.found);
    // Repair clears the bit and keeps every record.
    let report = repair(d.path()).unwrap();
    assert!(report.repairs.iter().any(|a| matches!(
        a,
        uidcache_fsck::RepairAction::ClearedFlagsKnown {
            first_uid: 40,
            last_uid: 42,
            ..
        }
    )));
    assert!(check(d.path()).unwrap().is_clean());
    assert_eq!(dump(d.path()).unwrap(), before);
    let image = IndexImage::decode(&fs::read(d.path().join("index")).unwrap()).unwrap();
    let bits: Vec<bool> = image.placed.iter().map(IndexEntry::flags_known).collect();
    assert_eq!(bits, [true, false, true]);
}

#[test]
fn flags_known_bit_covered_by_the_overlay_is_sound() {
    let d = scratch();
    flag_bits_cache(d.path());
    // UID 42's flags learned too: now every record of the middle slice has flags, through
    // the overlay, and the bit is true there.
    {
        let options = uidcache_engine::OpenOptions::new().checkpoint_on_drop(false);
        let mut c = uidcache_engine::Cache::open_with(d.path(), options).unwrap();
        let mut tx = c.transaction().unwrap();
        let flags: &[&[u8]] = &[];
        let update = uidcache_engine::Update {
            flags: Some(flags),
            modseq: None,
        };
        tx.update_uid(42, update).unwrap();
        tx.commit().unwrap();
        c.checkpoint().unwrap();
    }
    rewrite_index(d.path(), |m| {
        m.placed[1] = m.placed[1].with_flags_known(true)
    });
    assert!(check(d.path()).unwrap().is_clean());
    // Without the overlay entry of UID 41 it is false again: damage.
    rewrite_index(d.path(), |m| m.overlay.retain(|r| r.uid.get() != 41));
    let r = check(d.path()).unwrap();
    assert!(find(&r, "IndexEntry", "flags").found.contains("UID 41"));
}
