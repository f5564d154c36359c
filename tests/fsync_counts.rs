//! The fsync counts that FORMAT.md section 7 (and GUARANTEES.md) state, counted on a real
//! cache through `Cache::stats`: a checkpoint costs 7 (one more when `clean` stood), a
//! compaction writing `n` blocks costs `n + 1` plus its checkpoint's 7; a durable commit in
//! steady state, compaction steps included, costs at most 3 (issue 12).

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
    // Without compaction steps, which would merge the short slices as the commits go.
    let options = uidcache::OpenOptions::new().auto_compact(false);
    let mut cache = Cache::open_with(dir.path(), options).expect("open");
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

/// Issue 12: with compaction steps paid by every commit (the default), a durable commit
/// that is not followed by a checkpoint costs at most 3 fsyncs (4 for the first one after a
/// checkpoint that writes a file, which removes `clean`): the steps' blocks are
/// written without fsync and synced by the checkpoint that publishes them, which costs its
/// 7 (+1 when `clean` stood) plus one per such block and one for `blocks/`, once per
/// `journal_limit` bytes of journal.
#[test]
fn a_durable_commit_costs_at_most_three_fsyncs_with_compaction_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::open(dir.path()).expect("open");
    let mut exists = 0;
    let mut next_uid = 1;
    let mut steps = 0;
    let mut checkpoints = 0;
    for k in 0..400u32 {
        let before = cache.stats();
        let clean_stood = dir.path().join(uidcache::tools::CLEAN_FILE).exists();
        let spent = fsyncs_of(&mut cache, |c| {
            let mut tx = c.transaction().expect("transaction");
            match k % 4 {
                // Appends of 1 to 300 messages: inline, or one block file.
                0 | 1 => {
                    let count = 50 + (k * 37) % 250;
                    tx.set_exists(exists + count).expect("exists");
                    let uids: Vec<u32> = (next_uid..next_uid + count).collect();
                    tx.learn_range(exists + 1, &uids).expect("learn");
                    exists += count;
                    next_uid += count;
                }
                // Expunges spread over the mailbox: short slices for the steps to merge.
                _ => {
                    for j in 0..10 {
                        let seq = 1 + (k * 7919 + j * 104_729) % exists;
                        tx.expunge(seq).expect("expunge");
                        exists -= 1;
                    }
                }
            }
            tx.commit().expect("commit");
        });
        let after = cache.stats();
        steps += after.compactions - before.compactions;
        if after.checkpoints > before.checkpoints {
            checkpoints += 1;
            continue;
        }
        // The first block file after a checkpoint removes `clean` (one directory fsync).
        let allowed = if clean_stood { 4 } else { 3 };
        assert!(spent <= allowed, "commit {k}: {spent} fsyncs");
    }
    assert!(steps > 0, "no compaction step ran");
    assert!(
        checkpoints < 10,
        "{checkpoints} checkpoints in 400 small commits"
    );
}

/// A step block that a later step replaced before any checkpoint is named by nothing
/// durable, so the checkpoint does not fdatasync it: 7, plus one per step block its index
/// names and one for `blocks/` (FORMAT.md 7.2 step 0).
#[test]
fn a_checkpoint_does_not_sync_a_step_block_that_a_later_step_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = uidcache::OpenOptions::new().auto_compact(false);
    let mut cache = Cache::open_with(dir.path(), options).expect("open");
    let count = u32::try_from(uidcache::tools::INLINE_RECORDS).expect("small") + 1;
    learn_block(&mut cache, 0, count);
    learn_block(&mut cache, count, count);
    cache.checkpoint().expect("checkpoint");
    // Two short slices: the first step merges them into one block.
    let first = cache.compact_step(1 << 20).expect("step");
    assert_eq!(first.blocks_written, 1, "the first step");
    // Most of that block expunged: it is sparse, and the second step rewrites it.
    let mut tx = cache.transaction().expect("transaction");
    for _ in 0..count + 40 {
        tx.expunge(1).expect("expunge");
    }
    tx.commit().expect("commit");
    let second = cache.compact_step(1 << 20).expect("step");
    assert_eq!(second.blocks_written, 1, "the second step");
    let spent = fsyncs_of(&mut cache, |c| c.checkpoint().expect("checkpoint"));
    // No `clean` stands (the first step's block removed it): the checkpoint's 7, the
    // second step's block and `blocks/`; the first step's block (dead) gets none.
    assert_eq!(spent, 7 + 1 + 1, "the replaced step block was synced");
}
