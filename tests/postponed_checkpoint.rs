//! A non-durable commit never waits for the background syncer (issue 12, FORMAT.md 7.4):
//! a checkpoint that is due while the syncer still has blocks to make durable is postponed
//! to a later commit, and runs once the syncer has caught up. The syncer is held by the
//! file system (its directory fsyncs wait on a latch), so a commit that waited for it would
//! never return: the commits run on another thread, and the test reports the hang.
#![allow(clippy::unwrap_used, reason = "a test: a panic is a failure report")]

mod common;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::faultfs::FaultVfs;
use uidcache::{Cache, Durability, OpenOptions, Update};

/// Records per append: more than `INLINE_RECORDS`, so each append writes a block file
/// that the syncer must make durable before a checkpoint may name it.
const APPEND: u32 = 300;

/// Far more than a commit takes even on a loaded machine: past it the commit is taken to
/// wait for the held syncer (it would wait forever).
const HANG: Duration = Duration::from_secs(120);

/// Appends `APPEND` messages after the `exists` already there.
fn append(cache: &mut Cache, exists: u32, durability: Durability) {
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(exists + APPEND).unwrap();
    let uids: Vec<u32> = (exists + 1..=exists + APPEND).collect();
    tx.learn_range(exists + 1, &uids).unwrap();
    tx.commit_with(durability).unwrap();
}

fn flag_first(cache: &mut Cache, modseq: u64) {
    let mut tx = cache.transaction().unwrap();
    let seen: &[&[u8]] = &[b"\\Seen"];
    tx.update_seq(
        1,
        Update {
            flags: Some(seen),
            modseq: Some(modseq),
        },
    )
    .unwrap();
    tx.commit_with(Durability::NoSync).unwrap();
}

#[test]
fn a_nosync_commit_postpones_a_due_checkpoint_while_the_syncer_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = FaultVfs::new();
    let mut cache = OpenOptions::new()
        .create(true)
        .durability(Durability::NoSync)
        .journal_limit(4 << 10)
        .vfs(Arc::clone(&vfs) as _)
        .open(dir.path().join("mbox"))
        .unwrap();
    append(&mut cache, 0, Durability::Durable);
    cache.checkpoint().unwrap();
    // The checkpoint's directory fsync runs on the syncer: done before the hold, so that
    // the count read below cannot move unless a held job runs.
    cache.sync().unwrap();
    vfs.hold_syncer(true);
    let held_at = vfs.syncer_dir_syncs();

    // Appends until a checkpoint is due and postponed, on another thread: one that waited
    // for the syncer would not return while the hold lasts.
    let (done, report) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let checkpoints = cache.stats().checkpoints;
        let mut appends = 1;
        for _ in 0..32 {
            append(&mut cache, APPEND * appends, Durability::NoSync);
            appends += 1;
            if cache.stats().checkpoints_postponed > 0 {
                break;
            }
        }
        let stats = cache.stats();
        done.send((
            stats.checkpoints - checkpoints,
            stats.checkpoints_postponed,
            appends,
        ))
        .unwrap();
        cache
    });
    let reported = report.recv_timeout(HANG);
    let syncs_while_held = vfs.syncer_dir_syncs();
    // Released before any assertion: a failed test must not leave the worker's cache, whose
    // drop waits for the syncer, waiting for ever on the hold.
    vfs.hold_syncer(false);
    let (checkpointed, postponed, appends) =
        reported.expect("a NoSync commit waited for the held syncer");
    let mut cache = worker.join().unwrap();
    assert!(postponed > 0, "no checkpoint became due");
    assert_eq!(
        checkpointed, 0,
        "a checkpoint ran while the syncer was held"
    );
    assert_eq!(
        syncs_while_held, held_at,
        "the held job ran before the hold was released"
    );

    // Released: the syncer catches up, and a later commit (one with no block of its own)
    // runs the checkpoint, well before the cap that would make it wait.
    let checkpoints = cache.stats().checkpoints;
    let mut commits = 0;
    while cache.stats().checkpoints == checkpoints {
        commits += 1;
        assert!(commits < 40, "the postponed checkpoint never ran");
        flag_first(&mut cache, commits);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(vfs.syncer_dir_syncs() > held_at);
    assert!(cache.stats().checkpoints_postponed < 64);
    drop(cache);
    let reopened = Cache::open(dir.path().join("mbox")).unwrap();
    assert_eq!(reopened.view().exists(), Some(APPEND * appends));
}
