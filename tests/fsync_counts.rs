//! The fsync counts that FORMAT.md section 7 (and GUARANTEES.md) state, counted on a real
//! cache through `Cache::stats`: a checkpoint costs 7 (one more when `clean` stood), a
//! compaction writing `n` blocks costs `n + 1` plus its checkpoint's 7.

use uidcache::Cache;

/// Commits `count` new messages after the `exists` already there, in one transaction: more
/// than `INLINE_RECORDS`, so the commit writes a block file (and removes `clean`).
fn learn_block(cache: &mut Cache, exists: u32, count: u32) {
    let mut tx = cache.transaction().expect("transaction");
    tx.set_exists(exists + count).expect("exists");
    let uids: Vec<u32> = (exists + 1..=exists + count).collect();
    tx.learn_range(exists + 1, &uids).expect("learn");
    tx.commit().expect("commit");
}

fn fsyncs_of(cache: &mut Cache, run: impl FnOnce(&mut Cache)) -> u64 {
    let before = cache.stats().fsyncs;
    run(cache);
    cache.stats().fsyncs - before
}

#[test]
fn a_checkpoint_costs_seven_fsyncs_and_one_more_when_clean_stood() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::open(dir.path()).expect("open");
    let count = u32::try_from(uidcache::tools::INLINE_RECORDS).expect("small") + 1;
    // The commit writes a block file, which removes `clean` first.
    learn_block(&mut cache, 0, count);
    let first = fsyncs_of(&mut cache, |c| c.checkpoint().expect("checkpoint"));
    assert_eq!(first, 7, "a checkpoint with no `clean` standing");
    // That checkpoint left `clean`; the next one removes it (and fsyncs the directory).
    let second = fsyncs_of(&mut cache, |c| c.checkpoint().expect("checkpoint"));
    assert_eq!(second, 8, "a checkpoint where `clean` stood");
}

#[test]
fn a_compaction_writing_n_blocks_costs_n_plus_one_plus_its_checkpoints_seven() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::open(dir.path()).expect("open");
    let count = u32::try_from(uidcache::tools::INLINE_RECORDS).expect("small") + 1;
    // Three short slices in three blocks: compaction merges them.
    for i in 0..3 {
        learn_block(&mut cache, i * count, count);
    }
    let mut blocks = 0;
    let spent = fsyncs_of(&mut cache, |c| {
        blocks = c.compact().expect("compact").blocks_written as u64;
    });
    assert!(blocks >= 1, "the compaction wrote no block");
    // No `clean` stood: every commit above wrote a block file.
    assert_eq!(spent, blocks + 1 + 7);
    // With `clean` standing (the compaction's checkpoint left it), one more.
    learn_block(&mut cache, 3 * count, count);
    learn_block(&mut cache, 4 * count, count);
    cache.checkpoint().expect("checkpoint");
    let spent = fsyncs_of(&mut cache, |c| {
        blocks = c.compact().expect("compact").blocks_written as u64;
    });
    assert!(blocks >= 1, "the second compaction wrote no block");
    assert_eq!(spent, blocks + 1 + 7 + 1);
}
