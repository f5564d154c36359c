//! The fsync counts that FORMAT.md section 7 (and GUARANTEES.md) state, counted on a real
//! cache through `Cache::stats`, which counts the calling thread's fsyncs (`fsyncs`) apart
//! from the background syncer's (`background_fsyncs`, FORMAT.md 7.4): a checkpoint costs the
//! calling thread 3, a compaction writing `n` blocks `n + 1` plus its
//! checkpoint's 3; every durable commit, compaction steps and checkpoints included, costs
//! the committing thread at most 3 (issue 12).

use uidcache::{Cache, Durability, OpenOptions};
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

/// The syncer inline (`background_sync(false)`): its fsyncs happen at known points, so
/// that they can be counted exactly too.
fn inline_syncer() -> OpenOptions {
    OpenOptions::new().background_sync(false)
}

#[test]
fn a_checkpoint_costs_the_calling_thread_three_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::open_with(dir.path(), inline_syncer()).expect("open");
    let count = u32::try_from(uidcache::tools::INLINE_RECORDS).expect("small") + 1;
    learn_block(&mut cache, 0, count);
    let background = cache.stats().background_fsyncs;
    // Index (file, directory) and journal (file); the journal's directory fsync is the
    // syncer's.
    let spent = fsyncs_of(&mut cache, |c| c.checkpoint().expect("checkpoint"));
    assert_eq!(spent, 3, "a checkpoint");
    assert_eq!(
        cache.stats().background_fsyncs - background,
        1,
        "the syncer"
    );
    // A small commit: its frame. Its inline block becomes a file (the syncer's write,
    // fdatasync and `blocks/`) only when it has lived 16 commits or a checkpoint comes.
    let background = cache.stats().background_fsyncs;
    let spent = fsyncs_of(&mut cache, |c| learn_block(c, count, 3));
    assert_eq!(spent, 1, "an inline commit");
    assert_eq!(cache.stats().background_fsyncs, background, "a young block");
    let spent = fsyncs_of(&mut cache, |c| c.checkpoint().expect("checkpoint"));
    assert_eq!(spent, 3, "a checkpoint");
    assert_eq!(
        cache.stats().background_fsyncs - background,
        3,
        "the syncer"
    );
    // A close: a checkpoint, then `blocks/`, the directory, and `clean` (FORMAT.md 7.2
    // steps 7-9).
    cache.close().expect("close");
    assert!(dir.path().join(uidcache::tools::CLEAN_FILE).exists());
}

#[test]
fn a_compaction_writing_n_blocks_costs_n_plus_one_plus_its_checkpoints_three() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Without compaction steps, which would merge the short slices as the commits go.
    let options = OpenOptions::new().auto_compact(false);
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
    assert_eq!(spent, blocks + 1 + 3);
}

/// Issue 12: every durable commit of a long random run costs the committing thread at most
/// 3 fsyncs, whether or not a checkpoint follows it: the steps' blocks, NoSync commits'
/// blocks and inline blocks are the syncer's to fdatasync (counted apart), a commit that a
/// checkpoint follows leaves its frame's durability to the checkpoint's index (3), and a
/// reopen's `clean` is removed by the syncer. Also with the syncer inline.
#[test]
fn every_durable_commit_costs_the_committing_thread_at_most_three_fsyncs() {
    for background in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        // A small journal limit: many checkpoints.
        let options = OpenOptions::new()
            .journal_limit(16 << 10)
            .background_sync(background);
        let mut cache = Cache::open_with(dir.path(), options.clone()).expect("open");
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u32| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            u32::try_from(rng % u64::from(n)).expect("below n")
        };
        let (mut exists, mut next_uid) = (0u32, 1u32);
        let (mut steps, mut checkpoints, mut crossing, mut durable) = (0, 0, 0, 0);
        let mut nosync_frames = false;
        for k in 0..3000u32 {
            if k % 700 == 699 {
                // A reopen: the close leaves `clean`, the open trusts it.
                drop(cache);
                cache = Cache::open_with(dir.path(), options.clone()).expect("reopen");
                nosync_frames = false;
            }
            let before = cache.stats();
            let is_durable = next(4) != 0;
            let spent = fsyncs_of(&mut cache, |c| {
                let mut tx = c.transaction().expect("transaction");
                match next(8) {
                    // Appends: inline (up to 256) or one block (up to 2,048; FORMAT.md 7.1: a
                    // commit of k blocks pays k + 2).
                    0 | 1 => {
                        let count = 1 + [next(40), next(600), next(2048)][next(3) as usize];
                        tx.set_exists(exists + count).expect("exists");
                        let uids: Vec<u32> = (next_uid..next_uid + count).collect();
                        tx.learn_range(exists + 1, &uids).expect("learn");
                        exists += count;
                        next_uid += count;
                    }
                    // Flag changes.
                    2 | 3 if exists > 0 => {
                        for _ in 0..1 + next(50) {
                            let seq = 1 + next(exists);
                            let update = uidcache::Update {
                                flags: Some(&[b"\\Seen"]),
                                modseq: Some(u64::from(k) + 1),
                            };
                            tx.update_seq(seq, update).expect("flag");
                        }
                    }
                    // Expunges spread over the mailbox: short slices for the steps.
                    _ if exists > 20 => {
                        for _ in 0..1 + next(20) {
                            tx.expunge(1 + next(exists)).expect("expunge");
                            exists -= 1;
                        }
                    }
                    _ => {
                        tx.set_exists(exists + 1).expect("exists");
                        tx.learn_range(exists + 1, &[next_uid]).expect("learn");
                        exists += 1;
                        next_uid += 1;
                    }
                }
                let durability = if is_durable {
                    Durability::Durable
                } else {
                    Durability::NoSync
                };
                tx.commit_with(durability).expect("commit");
            });
            let after = cache.stats();
            steps += after.compactions - before.compactions;
            let crossed = after.checkpoints > before.checkpoints;
            checkpoints += u64::from(crossed);
            if is_durable {
                durable += 1;
                crossing += u64::from(crossed);
                // A durable frame after NoSync ones first syncs those (FORMAT.md 8.2), unless
                // a checkpoint follows and its index makes both durable.
                let allowed = if nosync_frames && !crossed { 4 } else { 3 };
                assert!(
                    spent <= allowed,
                    "background {background}, commit {k} (checkpoint {crossed}): {spent} fsyncs"
                );
                nosync_frames = false;
            } else if !crossed {
                assert_eq!(spent, 0, "background {background}, NoSync commit {k}");
                nosync_frames = true;
            } else {
                nosync_frames = false;
            }
        }
        assert!(steps > 100, "{steps} compaction steps");
        assert!(
            crossing > 10,
            "{crossing} durable commits crossed a checkpoint"
        );
        assert!(checkpoints < durable / 4, "{checkpoints} checkpoints");
        assert!(
            cache.stats().background_fsyncs > 0,
            "nothing for the syncer"
        );
        let image = cache.view().exists();
        drop(cache);
        let reopened = Cache::open_read_only(dir.path()).expect("reopen");
        assert_eq!(reopened.view().exists(), image);
    }
}

/// A checkpoint pays no fsync for the compaction steps' blocks on the calling thread: the
/// syncer fdatasyncs them, and not one that a later step replaced, which nothing durable
/// names (FORMAT.md 7.2 step 0).
#[test]
fn a_checkpoint_after_compaction_steps_costs_the_calling_thread_three_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = inline_syncer().auto_compact(false);
    let mut cache = Cache::open_with(dir.path(), options).expect("open");
    let count = u32::try_from(uidcache::tools::INLINE_RECORDS).expect("small") + 1;
    learn_block(&mut cache, 0, count);
    learn_block(&mut cache, count, count);
    cache.checkpoint().expect("checkpoint");
    // Two short slices: the first step merges them into one block.
    let background = cache.stats().background_fsyncs;
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
    assert_eq!(spent, 3, "the checkpoint synced a block itself");
    // The second step's block, `blocks/` and the journal's directory: the first step's
    // block (dead) gets none.
    assert_eq!(cache.stats().background_fsyncs - background, 3);
}
