//! Bounded memory for any input (issue "Hostile input and hostile file systems", defect 4):
//! a message count above `MAX_MESSAGES` is refused, and a transaction that learns more than
//! `PENDING_BLOCKS_IN_MEMORY` blocks of records writes the full ones out before its commit,
//! so that its memory does not grow with what it learns. Crash safety of those early
//! writes is in `tests/crash.rs` `a_crash_while_a_transaction_writes_blocks_out_*`.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::collections::BTreeSet;
use std::path::Path;

use uidcache::tools::{block_id_of, BLOCKS_DIR, MAX_BLOCK_RECORDS};
use uidcache::{Cache, InvalidOp, MAX_MESSAGES, PENDING_BLOCKS_IN_MEMORY};

/// The IDs of the block files in `dir`.
fn block_files(dir: &Path) -> BTreeSet<u64> {
    std::fs::read_dir(dir.join(BLOCKS_DIR))
        .unwrap()
        .filter_map(|e| block_id_of(e.unwrap().file_name().to_str()?))
        .collect()
}

/// Every placed UID, in sequence order.
fn placed_uids(cache: &Cache) -> Vec<u32> {
    cache
        .view()
        .placed_messages()
        .unwrap()
        .into_iter()
        .map(|(_, m)| m.uid)
        .collect()
}

/// UIDs `first, first + 2, ...`: `n` of them, as a search answer with gaps would give.
fn uids(first: u32, n: usize) -> Vec<u32> {
    (0..n as u32).map(|k| first + 2 * k).collect()
}

/// Learns `uids` at `seq..` in chunks of 64K, as the IMAP layer learns a search answer.
fn learn_chunked(tx: &mut uidcache::Transaction<'_>, seq: u32, uids: &[u32]) {
    for (k, chunk) in uids.chunks(64 * 1024).enumerate() {
        tx.learn_range(seq + (k * 64 * 1024) as u32, chunk).unwrap();
    }
}

#[test]
fn a_message_count_beyond_max_messages_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(7).unwrap();
    for count in [MAX_MESSAGES + 1, u32::MAX] {
        let err = tx.set_exists(count).unwrap_err();
        assert!(
            matches!(err.invalid_op(), Some(&InvalidOp::TooManyMessages { count: c }) if c == count),
            "{err:?}"
        );
        assert!(err.to_string().contains(&count.to_string()), "{err}");
        assert!(err.to_string().contains(&MAX_MESSAGES.to_string()), "{err}");
        // Refused with nothing changed, and the transaction goes on.
        assert_eq!(tx.view().exists(), Some(7));
    }
    // The limit itself is allowed: a count costs nothing until its messages are learned.
    tx.set_exists(MAX_MESSAGES).unwrap();
    tx.learn_range(MAX_MESSAGES - 1, &[10, 20]).unwrap();
    tx.commit().unwrap();
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.view().exists(), Some(MAX_MESSAGES));
    assert_eq!(
        cache.view().message_at(MAX_MESSAGES).unwrap().unwrap().uid,
        20
    );
}

#[test]
fn a_large_transaction_writes_full_blocks_out_before_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    // Three times the in-memory bound, and a partial block.
    let blocks = 3 * PENDING_BLOCKS_IN_MEMORY + 2;
    let n = (blocks - 1) * MAX_BLOCK_RECORDS + 5;
    let all = uids(100, n);
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(n as u32).unwrap();
    learn_chunked(&mut tx, 1, &all);
    // Before the commit, all but the newest blocks are files already: what the transaction
    // holds in memory is bounded by PENDING_BLOCKS_IN_MEMORY blocks, not by `n`.
    let written = block_files(dir.path());
    assert_eq!(written.len(), 3 * PENDING_BLOCKS_IN_MEMORY, "{written:?}");
    // The transaction reads its own written-out records back.
    assert_eq!(tx.view().message_at(1).unwrap().unwrap().uid, 100);
    assert_eq!(
        tx.view().message_at(n as u32).unwrap().unwrap().uid,
        all[n - 1]
    );
    tx.commit().unwrap();
    assert_eq!(block_files(dir.path()).len(), blocks);
    assert_eq!(placed_uids(&cache), all);
    cache.close().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(placed_uids(&cache), all);
    drop(cache);
    let report = uidcache::fsck::check(dir.path()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn a_dropped_large_transaction_leaves_the_committed_state_and_no_block_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let first = uids(1, 3000);
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(3000).unwrap();
    tx.learn_range(1, &first).unwrap();
    tx.commit().unwrap();
    let committed = block_files(dir.path());
    let n = (PENDING_BLOCKS_IN_MEMORY + 3) * MAX_BLOCK_RECORDS;
    let more = uids(10_000, n);
    let dropped_blocks = {
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(3000 + n as u32).unwrap();
        learn_chunked(&mut tx, 3001, &more);
        let during = block_files(dir.path());
        assert!(
            during.len() >= committed.len() + PENDING_BLOCKS_IN_MEMORY,
            "nothing written out: {during:?}"
        );
        during
    };
    // Dropped: the state and the directory are as the last commit left them.
    assert_eq!(block_files(dir.path()), committed);
    assert_eq!(cache.view().exists(), Some(3000));
    assert_eq!(placed_uids(&cache), first);
    // The next transaction never reuses a block ID of the dropped one, whose file might
    // have stayed behind.
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(3000 + n as u32).unwrap();
    learn_chunked(&mut tx, 3001, &more);
    tx.commit().unwrap();
    let now = block_files(dir.path());
    let last_dropped = *dropped_blocks.last().unwrap();
    assert!(
        now.difference(&committed).all(|id| *id > last_dropped),
        "{now:?} after dropped {dropped_blocks:?}"
    );
    assert_eq!(placed_uids(&cache), [first.clone(), more.clone()].concat());
    cache.close().unwrap();
    let report = uidcache::fsck::check(dir.path()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
