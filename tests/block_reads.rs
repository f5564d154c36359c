//! How a handle reads block files (issue 12): a block's first read is a checked copy, and a
//! sorted run of lookups or removals, which reads each block many times in a row, answers
//! from that copy instead of mapping the block at its second read (open, stat, mmap, page
//! faults and a munmap, which cost more than the copy). A block read again later, once the
//! copy has made way for newer ones, is mapped as before; no block is ever read twice.
#![allow(clippy::unwrap_used, reason = "a test: a panic is a failure report")]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::faultfs::FaultVfs;
use uidcache::{Cache, Durability, OpenOptions, SelectResult, UidPosition};

/// Records per block file (the engine's `MAX_BLOCK_RECORDS`).
const BLOCK: u32 = 2048;
/// Block files of the mailbox: more than the copies a handle keeps (32).
const BLOCKS: u32 = 80;
const MESSAGES: u32 = BLOCK * BLOCKS;
/// Every this many UIDs one goes (about 32 per block).
const EVERY: u32 = 64;

fn uid_of(seq: u32) -> u32 {
    // Not dense, so that no lookup can be answered from a slice's UID extent alone.
    3 * seq + 7
}

fn fill(dir: &Path) {
    common::fill_in_blocks(dir, MESSAGES, BLOCK, uid_of);
}

fn reopen(dir: &Path, vfs: &Arc<FaultVfs>) -> Cache {
    OpenOptions::new()
        .durability(Durability::NoSync)
        .vfs(Arc::clone(vfs) as _)
        .open(dir)
        .unwrap()
}

/// The block files of `dir` and how often each was read with read(2) and mapped.
fn uses(dir: &Path, vfs: &FaultVfs) -> Vec<(String, usize, usize)> {
    common::block_file_suffixes(dir)
        .into_iter()
        .map(|suffix| {
            let (reads, maps) = (vfs.reads_of(&suffix), vfs.maps_of(&suffix));
            (suffix, reads, maps)
        })
        .collect()
}

#[test]
fn a_sorted_run_of_removals_reads_each_block_once_and_maps_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mbox");
    fill(&dir);
    let vfs = FaultVfs::new();
    let mut cache = reopen(&dir, &vfs);
    let gone: Vec<u32> = (1..=MESSAGES).step_by(EVERY as usize).map(uid_of).collect();
    let mut tx = cache.transaction().unwrap();
    for uid in &gone {
        // One at a time, as a client that splits a VANISHED set does; each is looked up
        // by the transaction and again as its op is applied.
        tx.remove_uid(*uid).unwrap();
    }
    // Before the commit: its compaction step writes (and so maps) blocks of its own.
    let before_commit = uses(&dir, &vfs);
    tx.commit().unwrap();

    let read: Vec<_> = before_commit.iter().filter(|(_, r, _)| *r > 0).collect();
    assert_eq!(
        read.len(),
        BLOCKS as usize,
        "every block holds a removed UID"
    );
    for (name, reads, maps) in &before_commit {
        assert!(*reads <= 1, "{name} was read {reads} times");
        assert_eq!(
            *maps, 0,
            "{name} was mapped during a sorted run of removals"
        );
    }

    // The removals themselves are right.
    let view = cache.view();
    let left = MESSAGES - gone.len() as u32;
    assert_eq!(view.exists(), Some(left));
    for (uid, expected) in common::positions_after_removal(MESSAGES, uid_of, &gone) {
        assert_eq!(view.position_of_uid(uid).unwrap(), expected, "UID {uid}");
    }
}

#[test]
fn a_block_read_again_after_its_copy_made_way_is_mapped_not_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mbox");
    fill(&dir);
    let vfs = FaultVfs::new();
    let mut cache = reopen(&dir, &vfs);
    // A transaction's lookups build no read index: only the kept copies spare mappings.
    let tx = cache.transaction().unwrap();
    // Two passes over every block, the second in the other order: the first blocks of the
    // first pass are long out of the kept copies when the second pass comes back to them.
    let pass = |seqs: &mut dyn Iterator<Item = u32>| {
        for seq in seqs {
            let uid = uid_of(seq);
            assert_eq!(tx.position_of_uid(uid).unwrap(), UidPosition::Placed(seq));
        }
    };
    let seqs: Vec<u32> = (1..=MESSAGES).step_by(EVERY as usize).collect();
    pass(&mut seqs.iter().copied());
    pass(&mut seqs.iter().rev().copied());
    let all = uses(&dir, &vfs);
    assert_eq!(all.len(), BLOCKS as usize);
    for (name, reads, _) in &all {
        assert_eq!(*reads, 1, "{name}: read {reads} times");
    }
    let mapped = all.iter().filter(|(_, _, m)| *m > 0).count();
    assert!(
        mapped >= (BLOCKS - 32) as usize,
        "only {mapped} blocks mapped: the second pass must map the blocks whose copies went"
    );
    assert!(
        mapped < BLOCKS as usize,
        "every block mapped: the second pass must answer the last blocks from their copies"
    );
}

#[test]
fn a_read_index_maps_a_block_at_its_second_read_to_remember_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mbox");
    fill(&dir);
    let vfs = FaultVfs::new();
    let cache = reopen(&dir, &vfs);
    let view = cache.view();
    // A view's lookups build a read index, which keeps (pins) the records of the blocks it
    // reads again: mapped, since a pinned copy would hold its whole block on the heap.
    for _ in 0..2 {
        for seq in (1..=MESSAGES).step_by(EVERY as usize) {
            assert_eq!(view.message_at(seq).unwrap().unwrap().uid, uid_of(seq));
        }
    }
    let all = uses(&dir, &vfs);
    for (name, reads, maps) in &all {
        assert_eq!(*reads, 1, "{name}: read {reads} times");
        assert_eq!(*maps, 1, "{name}: mapped {maps} times");
    }
    let answered = (1..=MESSAGES)
        .filter(|seq| view.peek_message_at(*seq).is_some())
        .count();
    assert_eq!(
        answered, MESSAGES as usize,
        "every block read twice is pinned"
    );
}

#[test]
fn a_qresync_select_reads_only_the_blocks_of_its_vanished_uids() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mbox");
    fill(&dir);
    let vfs = FaultVfs::new();
    let mut cache = reopen(&dir, &vfs);
    // One vanished UID in every fourth block: a SELECT (QRESYNC) reporting them must find
    // their positions from the slices' UID extents and those blocks alone (a bisection by
    // position reads a block at each of its steps, nearly every block of the mailbox).
    let hit: Vec<u32> = (0..BLOCKS).step_by(4).collect();
    let vanished: Vec<std::ops::RangeInclusive<u32>> = hit
        .iter()
        .map(|b| uid_of(b * BLOCK + 100)..=uid_of(b * BLOCK + 100))
        .collect();
    let left = MESSAGES - hit.len() as u32;
    let mut tx = cache.transaction().unwrap();
    let out = tx
        .record_select(&SelectResult::new().exists(left).qresync(&vanished))
        .unwrap();
    assert_eq!(out.kept, left);
    let read = uses(&dir, &vfs)
        .iter()
        .filter(|(_, r, m)| r + m > 0)
        .count();
    assert_eq!(
        read,
        hit.len(),
        "blocks read for {} vanished UIDs",
        hit.len()
    );
    tx.commit().unwrap();
    let view = cache.view();
    assert_eq!(view.exists(), Some(left));
    for b in &hit {
        let uid = uid_of(b * BLOCK + 100);
        assert_eq!(view.position_of_uid(uid).unwrap(), UidPosition::Absent);
        let next = uid_of(b * BLOCK + 101);
        let shift = hit.iter().filter(|h| *h <= b).count() as u32;
        assert_eq!(
            view.position_of_uid(next).unwrap(),
            UidPosition::Placed(b * BLOCK + 101 - shift)
        );
    }
}
