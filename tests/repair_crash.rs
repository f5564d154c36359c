//! Crash consistency of `uidcache-fsck`'s repair, like `crash.rs` for commits: a damaged
//! cache (a damaged block file, a damaged journal frame, a missing index) is repaired on the
//! simulated file system, crashed after **every** file operation of the repair, and each
//! crash is turned into power-loss images (unsynced data lost, kept, torn, reordered;
//! unsynced directory changes undone). On every image a second repair must succeed and
//! leave a cache that opens and checks clean, holding every message the uninterrupted
//! repair keeps and no message the cache never had.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use common::simfs::{Loss, Sim, SimFs};
use uidcache::fsck::{check_with, repair_with, RepairAction};
use uidcache::tools::Vfs;
use uidcache::{Cache, OpenOptions, Update};
use uidcache_format::{BLOCK_HEADER_SIZE, JOURNAL_HEADER_SIZE};

const DIR: &str = "/mbox";

/// One message as the cache shows it: UID, flag names, MODSEQ.
type Message = (u32, Option<Vec<Vec<u8>>>, Option<u64>);

/// What a repair must keep: UIDVALIDITY and every message, placed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Content {
    uidvalidity: Option<u32>,
    messages: BTreeSet<Message>,
}

fn vfs(fs: &Arc<SimFs>) -> Arc<dyn Vfs> {
    Arc::new(Sim(Arc::clone(fs)))
}

fn options(fs: &Arc<SimFs>) -> OpenOptions {
    // The last commits stay in the journal, so that a frame can be damaged.
    OpenOptions::new()
        .vfs(vfs(fs))
        .checkpoint_on_drop(false)
        .background_sync(false)
}

fn content(fs: &Arc<SimFs>, ctx: &str) -> Content {
    let cache =
        Cache::open_with(DIR, options(fs)).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
    let view = cache.view();
    let placed = view.placed_messages().unwrap().into_iter().map(|(_, m)| m);
    let messages = placed
        .chain(view.unplaced_messages().unwrap())
        .map(|m| {
            let names = m.flags.map(|f| {
                let names = view.flag_names(f).unwrap();
                names.into_iter().map(<[u8]>::to_vec).collect()
            });
            (m.uid, names, m.modseq)
        })
        .collect();
    Content {
        uidvalidity: view.uidvalidity(),
        messages,
    }
}

/// A cache with two checkpointed block files and two commits still in the journal: what a
/// client has after filling a mailbox and seeing some flag changes.
fn build() -> Arc<SimFs> {
    let fs = SimFs::crashing_after(u64::MAX);
    let mut cache = Cache::open_with(DIR, options(&fs)).unwrap();
    for round in 0..2u32 {
        let mut tx = cache.transaction().unwrap();
        if round == 0 {
            tx.set_uidvalidity(Some(77)).unwrap();
        }
        let uids: Vec<u32> = (1..=30).map(|i| round * 100 + i * 2).collect();
        tx.set_exists(30 * (round + 1)).unwrap();
        tx.learn_range(30 * round + 1, &uids).unwrap();
        tx.commit().unwrap();
        cache.checkpoint().unwrap();
    }
    for (seq, flag) in [(3u32, &b"\\Seen"[..]), (40, b"$Junk")] {
        let more = cache.view().exists().unwrap_or(0) + 1;
        let mut tx = cache.transaction().unwrap();
        tx.update_seq(
            seq,
            Update {
                flags: Some(&[flag]),
                modseq: Some(u64::from(seq) + 10),
            },
        )
        .unwrap();
        tx.set_exists(more).unwrap();
        tx.learn_range(more, &[1000 + seq]).unwrap();
        tx.commit().unwrap();
    }
    drop(cache);
    fs.snapshot()
}

/// A copy of `fs` with the file `name` of the cache changed by `damage` (made durable).
fn damaged(fs: &SimFs, name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> Arc<SimFs> {
    let path = Path::new(DIR).join(name);
    let fs = fs.snapshot();
    let sim = Sim(Arc::clone(&fs));
    let mut bytes = sim.read(&path).unwrap();
    damage(&mut bytes);
    sim.write_file(&path, &bytes).unwrap();
    fs.snapshot()
}

/// The three kinds of damage: a record of the first block file, the first frame of the
/// journal, the index gone.
fn damages(base: &Arc<SimFs>) -> Vec<(&'static str, Arc<SimFs>)> {
    let block = Sim(Arc::clone(base))
        .list_dir(&Path::new(DIR).join("blocks"))
        .unwrap()
        .into_iter()
        .min()
        .unwrap();
    let no_index = base.snapshot();
    Sim(Arc::clone(&no_index))
        .remove_file(&Path::new(DIR).join("index"))
        .unwrap();
    vec![
        (
            "damaged block",
            damaged(base, &format!("blocks/{block}"), |b| {
                b[BLOCK_HEADER_SIZE + 5] ^= 0x40;
            }),
        ),
        (
            "damaged journal frame",
            damaged(base, "journal", |b| b[JOURNAL_HEADER_SIZE + 20] ^= 0x40),
        ),
        ("missing index", no_index.snapshot()),
    ]
}

/// Repairs `fs` in place; the report's actions.
fn repair(fs: &Arc<SimFs>) -> uidcache::fsck::Result<Vec<RepairAction>> {
    repair_with(DIR, vfs(fs)).map(|r| r.repairs)
}

/// Repairs the crash image `image` again and checks every promise against `kept` (what the
/// uninterrupted repair keeps) and `original` (what the cache held before the damage).
fn check_image(image: &Arc<SimFs>, kept: &Content, original: &Content, ctx: &str) {
    repair(image).unwrap_or_else(|e| panic!("{ctx}: second repair failed: {e}"));
    let report = check_with(DIR, vfs(image)).unwrap();
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.severity != uidcache::fsck::Severity::Damage),
        "{ctx}: damage after the second repair: {:?}",
        report.problems
    );
    let after = content(image, ctx);
    let lost: Vec<_> = kept.messages.difference(&after.messages).collect();
    assert!(lost.is_empty(), "{ctx}: lost {lost:?}");
    let invented: Vec<_> = after
        .messages
        .iter()
        .filter(|m| !original.messages.iter().any(|o| o.0 == m.0))
        .collect();
    assert!(invented.is_empty(), "{ctx}: invented {invented:?}");
    assert_eq!(
        after, *kept,
        "{ctx}: not what the uninterrupted repair keeps"
    );
}

/// Runs the repair of `damaged` crashed after every operation; returns the images checked.
fn crash_every_operation(what: &str, damaged: &Arc<SimFs>, original: &Content) -> u64 {
    let full = damaged.crashing_copy(u64::MAX);
    let actions = repair(&full).unwrap();
    assert!(!actions.is_empty(), "{what}: the damage needs no repair");
    let total = full.ops();
    let kept = content(&full, what);
    let mut explored = 0;
    for k in 0..=total {
        let fs = damaged.crashing_copy(k);
        let outcome = repair(&fs);
        assert_eq!(
            outcome.is_ok(),
            k >= total,
            "{what}: crash after {k} of {total} ops"
        );
        for loss in Loss::each_at(k) {
            let ctx = format!("{what}: crash after op {k}/{total}, loss {loss:?}");
            check_image(&fs.image(loss), &kept, original, &ctx);
            explored += 1;
        }
    }
    explored
}

#[test]
fn a_repair_crashed_at_every_operation_is_finished_by_the_next() {
    let base = build();
    let original = content(&base.snapshot(), "original");
    assert_eq!(
        original.messages.len(),
        62,
        "the cache built is not as planned"
    );
    let mut explored = 0;
    for (what, fs) in damages(&base) {
        explored += crash_every_operation(what, &fs, &original);
    }
    eprintln!("repair crash states explored: {explored}");
    assert!(
        explored >= 300,
        "repairs too small: {explored} crash states"
    );
}
