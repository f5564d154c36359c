//! Removals and UID lookups through dense slices (issue 12): a slice whose UIDs are
//! `first_uid..=last_uid`, one per record, says every UID and position from its checksummed
//! index entry alone (FORMAT.md 6.4), so a VANISHED over such slices reads no block file.
//! A slice with a gap in its UIDs still reads its block, and a damaged block is still
//! reported, by the next read of its records (FORMAT.md 3).
#![allow(clippy::unwrap_used, reason = "a test: a panic is a failure report")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::faultfs::FaultVfs;
use uidcache::tools::{BLOCKS_DIR, INDEX_FILE};
use uidcache::{Cache, Durability, OpenOptions, Removed, UidPosition};
use uidcache_format::IndexImage;

/// Records per block file (the engine's `MAX_BLOCK_RECORDS`).
const BLOCK: u32 = 2048;
const BLOCKS: u32 = 8;
const MESSAGES: u32 = BLOCK * BLOCKS;
/// The one block whose slice has a gap in its UIDs (0-based), and the sequence number
/// after which the UIDs skip one.
const GAPPED: u32 = 3;
const GAP_AFTER: u32 = GAPPED * BLOCK + 1000;

fn uid_of(seq: u32) -> u32 {
    seq + 100 + u32::from(seq > GAP_AFTER)
}

/// The block (0-based) that holds `seq` in the filled mailbox.
fn block_of(seq: u32) -> u32 {
    (seq - 1) / BLOCK
}

/// A closed cache of the mailbox, one block file per [`BLOCK`] messages.
fn filled() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mbox");
    common::fill_in_blocks(&dir, MESSAGES, BLOCK, uid_of);
    (tmp, dir)
}

fn reopen(dir: &Path, vfs: &Arc<FaultVfs>) -> Cache {
    OpenOptions::new()
        .durability(Durability::NoSync)
        .checkpoint_on_drop(false)
        .vfs(Arc::clone(vfs) as _)
        .open(dir)
        .unwrap()
}

/// The block file that the index says holds `seq`.
fn block_file(dir: &Path, seq: u32) -> PathBuf {
    let index = IndexImage::decode(&std::fs::read(dir.join(INDEX_FILE)).unwrap()).unwrap();
    let entry = index
        .placed
        .iter()
        .find(|e| e.seq_start.get() <= seq && seq < e.seq_start.get() + e.len.get())
        .unwrap();
    dir.join(BLOCKS_DIR)
        .join(format!("{:016x}.ucb", entry.block_id.get()))
}

/// Reads of `dir`'s block files with read(2) or a mapping, in all.
fn block_reads(dir: &Path, vfs: &FaultVfs) -> usize {
    common::block_file_suffixes(dir)
        .iter()
        .map(|suffix| vfs.reads_of(suffix) + vfs.maps_of(suffix))
        .sum()
}

/// The placed UIDs of `dir` as a fresh handle reads them: every record of every slice,
/// each slice's ends checked against its index entry (a wrong extent is corruption).
fn placed_uids(dir: &Path) -> Vec<u32> {
    let cache = Cache::open_read_only(dir).unwrap();
    let placed = cache.view().placed_messages().unwrap();
    for (k, (seq, _)) in placed.iter().enumerate() {
        assert_eq!(*seq, k as u32 + 1, "placed records are contiguous");
    }
    placed.iter().map(|(_, m)| m.uid).collect()
}

#[test]
fn issue_12_a_vanished_over_dense_slices_reads_no_block() {
    let (_tmp, dir) = filled();
    let vfs = FaultVfs::new();
    let mut cache = reopen(&dir, &vfs);
    // One UID in every eighth record of every dense block, in three ways: a VANISHED set
    // (`remove_uids`), single `remove_uid`s, and EXPUNGEs of their sequence numbers.
    let gone: Vec<u32> = (1..=MESSAGES)
        .step_by(8)
        .filter(|s| block_of(*s) != GAPPED)
        .map(uid_of)
        .collect();
    let (bulk, rest) = gone.split_at(gone.len() / 2);
    let (single, by_seq) = rest.split_at(rest.len() / 2);
    let mut tx = cache.transaction().unwrap();
    let ranges: Vec<_> = bulk.iter().map(|u| *u..=*u).collect();
    assert_eq!(
        tx.remove_uids(&ranges).unwrap(),
        Removed {
            placed: bulk.len() as u64,
            ..Removed::default()
        }
    );
    for uid in single {
        assert!(matches!(
            tx.remove_uid(*uid).unwrap(),
            uidcache::Removal::Placed(_)
        ));
    }
    // Highest first, so that each sequence number is still the one the UID had.
    for uid in by_seq.iter().rev() {
        let UidPosition::Placed(seq) = tx.position_of_uid(*uid).unwrap() else {
            panic!("UID {uid} is placed");
        };
        tx.expunge(seq).unwrap();
    }
    // UID lookups of the transaction, present and absent, read nothing either.
    for uid in [uid_of(1), uid_of(MESSAGES) + 1, bulk[3], bulk[3] + 1] {
        tx.position_of_uid(uid).unwrap();
        tx.placed_uid_above(uid).unwrap();
    }
    assert_eq!(
        block_reads(&dir, &vfs),
        0,
        "removals and lookups in dense slices read a block"
    );
    tx.commit().unwrap();
    // A view's UID→seq lookups neither.
    let reads = block_reads(&dir, &vfs);
    let view = cache.view();
    let positions = common::positions_after_removal(MESSAGES, uid_of, &gone);
    for (s, (uid, expected)) in (1..).zip(positions) {
        // The slice with a gap is read by its lookups: left out here.
        if block_of(s) != GAPPED {
            assert_eq!(view.position_of_uid(uid).unwrap(), expected, "UID {uid}");
        }
    }
    assert_eq!(
        block_reads(&dir, &vfs),
        reads,
        "UID lookups in dense slices read a block"
    );
    drop(cache);

    // What the removals left, as every record's block says (journal replayed).
    let expected: Vec<u32> = (1..=MESSAGES)
        .map(uid_of)
        .filter(|u| gone.binary_search(u).is_err())
        .collect();
    assert_eq!(placed_uids(&dir), expected);
}

#[test]
fn issue_12_a_removal_in_a_slice_with_a_gap_reads_its_block_and_no_other() {
    let (_tmp, dir) = filled();
    let gapped = block_file(&dir, GAPPED * BLOCK + 1);
    let suffix = format!("/{}", gapped.file_name().unwrap().to_string_lossy());
    let vfs = FaultVfs::new();
    let mut cache = reopen(&dir, &vfs);
    let mut tx = cache.transaction().unwrap();
    // Below and above the gap: a dense slice could not say either's position.
    let gone = [uid_of(GAP_AFTER - 500), uid_of(GAP_AFTER + 500)];
    let ranges: Vec<_> = gone.iter().map(|u| *u..=*u).collect();
    assert_eq!(tx.remove_uids(&ranges).unwrap().placed, 2);
    let reads = vfs.reads_of(&suffix) + vfs.maps_of(&suffix);
    assert!(reads >= 1, "the slice with a gap was not read");
    assert_eq!(block_reads(&dir, &vfs), reads, "another block was read");
    tx.commit().unwrap();
    drop(cache);
    // The parts of the slice are right, as every record's block says.
    let expected: Vec<u32> = (1..=MESSAGES)
        .map(uid_of)
        .filter(|u| !gone.contains(u))
        .collect();
    assert_eq!(placed_uids(&dir), expected);
}

#[test]
fn issue_12_a_damaged_dense_block_is_reported_by_the_next_read_not_by_a_removal() {
    let (_tmp, dir) = filled();
    // One flipped bit in a record of the first block: its CRC no longer matches.
    let damaged = block_file(&dir, 1);
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[32 + 16 * 5 + 4] ^= 1;
    std::fs::write(&damaged, &bytes).unwrap();

    let vfs = FaultVfs::new();
    let mut cache = reopen(&dir, &vfs);
    let mut tx = cache.transaction().unwrap();
    // The removal needs only UIDs, which the index entry says: it reads nothing and
    // commits. What it commits is true of the block as it was written: the records kept
    // are where they were, and nothing of the damaged block is copied anywhere.
    assert_eq!(
        tx.remove_uid(uid_of(10)).unwrap(),
        uidcache::Removal::Placed(10)
    );
    tx.commit().unwrap();
    assert_eq!(block_reads(&dir, &vfs), 0);
    // The next read of the block's records finds the damage, as before.
    let err = cache
        .view()
        .message_at(6)
        .expect_err("a read of a damaged block answers nothing");
    assert!(err.is_corruption(), "{err}");
    // Another block's records are still read.
    assert_eq!(
        cache.view().message_at(BLOCK + 1).unwrap().unwrap().uid,
        uid_of(BLOCK + 2)
    );
    drop(cache);
    let report = uidcache::fsck::check(&dir).unwrap();
    assert!(report.has_damage(), "{:?}", report.problems);
}
