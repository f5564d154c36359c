//! What a storm of one-expunge commits costs in compaction (issue 12, FORMAT.md 11.5): each
//! removal earns `STEP_CREDIT_PER_REMOVAL` records of steps, not the 64 of other ops, and a
//! step's new blocks stay in memory until the background syncer or the checkpoint that
//! publishes them writes their files, so a step creates no file on the committing thread.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::path::Path;

use common::Rng;
use uidcache::{Cache, Durability, OpenOptions, STEP_CREDIT_PER_CHANGE, STEP_CREDIT_PER_REMOVAL};

/// Messages in the mailbox: about 50 full blocks, so that random expunges split every
/// block many times over and the steps never run out of work.
const MESSAGES: u32 = 100_000;

fn fill(dir: &Path, options: OpenOptions) -> Cache {
    let mut cache = Cache::open_with(dir, options).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(MESSAGES).unwrap();
    let uids: Vec<u32> = (1..=MESSAGES).collect();
    tx.learn_range(1, &uids).unwrap();
    tx.commit().unwrap();
    cache.checkpoint().unwrap();
    cache
}

fn every_uid(cache: &Cache) -> Vec<u32> {
    let view = cache.view();
    let placed = view.placed_messages().unwrap();
    assert_eq!(placed.len() as u32, view.exists().unwrap_or(0));
    placed.iter().map(|(_, m)| m.uid).collect()
}

/// Credit a step waits for (`STEP_MIN_CREDIT` in the engine: a full block's worth).
const STEP_MIN_CREDIT: u64 = 2048;

/// A filled cache (NoSync, no automatic steps) whose blocks `count` random expunges, in
/// one commit, split many times over; with the generator and the message count after.
fn fragmented(dir: &Path, count: u32) -> (Cache, Rng, u32) {
    let options = OpenOptions::new()
        .durability(Durability::NoSync)
        .auto_compact(false);
    let mut cache = fill(dir, options);
    let mut rng = Rng::new(12);
    let mut exists = MESSAGES;
    let mut tx = cache.transaction().unwrap();
    for _ in 0..count {
        tx.expunge(1 + rng.below(u64::from(exists)) as u32).unwrap();
        exists -= 1;
    }
    tx.commit().unwrap();
    (cache, rng, exists)
}

/// Expunges `count` random messages, one commit each.
fn expunge_one_by_one(cache: &mut Cache, rng: &mut Rng, exists: &mut u32, count: u64) {
    for _ in 0..count {
        let mut tx = cache.transaction().unwrap();
        tx.expunge(1 + rng.below(u64::from(*exists)) as u32)
            .unwrap();
        tx.commit().unwrap();
        *exists -= 1;
    }
}

/// On a layout with plenty of short slices to merge, one-expunge commits earn
/// `STEP_CREDIT_PER_REMOVAL` records each: the first step runs at the commit whose credit
/// reaches `STEP_MIN_CREDIT` (the 64th), not earlier as it did at 64 records per op (the
/// 32nd), and over a long storm the steps copy no more than the commits earned.
#[test]
fn a_one_expunge_storm_earns_the_removal_credit_only() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, mut rng, mut exists) = fragmented(dir.path(), 3_000);
    cache.close().unwrap();

    let options = OpenOptions::new().durability(Durability::NoSync);
    let mut cache = Cache::open_with(dir.path(), options).unwrap();
    let before = cache.stats();
    let first_step = STEP_MIN_CREDIT.div_ceil(STEP_CREDIT_PER_REMOVAL);
    const { assert!(STEP_CREDIT_PER_REMOVAL < STEP_CREDIT_PER_CHANGE) };
    expunge_one_by_one(&mut cache, &mut rng, &mut exists, first_step - 1);
    assert_eq!(
        cache.stats().compactions,
        before.compactions,
        "a step ran before {first_step} one-expunge commits earned its credit"
    );
    expunge_one_by_one(&mut cache, &mut rng, &mut exists, 1);
    assert_eq!(cache.stats().compactions, before.compactions + 1);

    const EXPUNGES: u64 = 8_000;
    expunge_one_by_one(&mut cache, &mut rng, &mut exists, EXPUNGES - first_step);
    let copied = cache.stats().compacted_records - before.compacted_records;
    let earned = EXPUNGES * STEP_CREDIT_PER_REMOVAL;
    assert!(
        copied <= earned,
        "{EXPUNGES} one-expunge commits copied {copied} records, more than the {earned} they earn"
    );
    let uids = every_uid(&cache);
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(every_uid(&cache), uids);
}

/// A step makes its blocks part of the layout at once but writes no file: the checkpoint
/// that publishes them has the syncer write them first, and the replaced blocks go.
#[test]
fn a_compaction_step_creates_no_file_until_a_checkpoint_publishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cache, _, _) = fragmented(dir.path(), 2_000);
    let uids = every_uid(&cache);
    let files = common::block_file_suffixes(dir.path());
    let stats = cache.compact_step(1 << 20).unwrap();
    assert!(stats.blocks_written > 0, "the step found nothing to do");
    assert_eq!(
        common::block_file_suffixes(dir.path()),
        files,
        "a step wrote a file"
    );
    // Its blocks are read from memory meanwhile.
    assert_eq!(every_uid(&cache), uids);
    cache.checkpoint().unwrap();
    let after = common::block_file_suffixes(dir.path());
    let new = after.iter().filter(|n| !files.contains(n)).count();
    assert_eq!(new, stats.blocks_written, "{after:?}");
    let gone = files.iter().filter(|n| !after.contains(n)).count();
    assert!(gone > 0, "no replaced block was unlinked: {after:?}");
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(every_uid(&cache), uids);
}

/// A checkpoint writes the whole index, so no cause makes one due before it weighs an
/// index's worth (FORMAT.md 7.1 step 5). Here the journal limit (16 KiB) is 30 times below
/// the index, and the causes are the steps' replaced blocks (whole files of sparse blocks,
/// a few per step): under the journal limit alone one came due at about every other step
/// (46 checkpoints for 94 steps in this storm); at the index's scale, about every fourth.
#[test]
fn a_checkpoint_waits_for_an_index_worth_of_cause() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, mut rng, mut exists) = fragmented(dir.path(), 20_000);
    cache.close().unwrap();
    // The syncer inline: no checkpoint is postponed, each one runs when it is due.
    let options = OpenOptions::new()
        .durability(Durability::NoSync)
        .journal_limit(16 << 10)
        .background_sync(false);
    let mut cache = Cache::open_with(dir.path(), options).unwrap();
    let index = 32 * cache.layout().placed_entries as u64;
    assert!(index > 16 * (16 << 10), "index of {index} bytes: too small");
    let before = cache.stats();
    expunge_one_by_one(&mut cache, &mut rng, &mut exists, 6_000);
    let after = cache.stats();
    let checkpoints = after.checkpoints - before.checkpoints;
    let steps = after.compactions - before.compactions;
    assert!(steps > 50, "{steps} steps");
    assert!(
        checkpoints * 3 <= steps,
        "{checkpoints} checkpoints for {steps} steps, against a {index}-byte index"
    );
    let uids = every_uid(&cache);
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(every_uid(&cache), uids);
}
