//! What closing and dropping a writer do: both checkpoint (the index only) but never compact
//! unless asked (a full compaction rewrites blocks and can block for seconds on a large
//! cache; commits pay for compaction steps as they go instead, issue 12).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::path::Path;

use uidcache::{Cache, Durability, OpenOptions};

fn options() -> OpenOptions {
    OpenOptions::new().durability(Durability::NoSync)
}

/// A writer whose layout is fragmented: 3,000 records, every tenth expunged in one commit
/// (about 300 slices where two blocks would do), nothing checkpointed since.
fn fragmented(dir: &Path, options: OpenOptions) -> Cache {
    // Built without compaction steps (which would repair it as the commits go) and left
    // with its journal, then opened with `options` for the close or drop under test.
    let building = OpenOptions::new()
        .durability(Durability::NoSync)
        .auto_compact(false)
        .checkpoint_on_drop(false);
    let mut cache = Cache::open_with(dir, building).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(3000).unwrap();
    let uids: Vec<u32> = (1..=3000).collect();
    tx.learn_range(1, &uids).unwrap();
    tx.commit().unwrap();
    let mut tx = cache.transaction().unwrap();
    for seq in (1..=300).rev().map(|k| k * 10) {
        tx.expunge(seq).unwrap();
    }
    tx.commit().unwrap();
    drop(cache);
    let cache = Cache::open_with(dir, options).unwrap();
    assert!(cache.is_fragmented(), "{:?}", cache.layout());
    assert!(cache.layout().journal_frames > 0);
    cache
}

/// What the next writer finds: whether the layout is still fragmented, and the frames its
/// open had to replay (0: the drop or close checkpointed).
fn reopened(dir: &Path) -> (bool, u64, u32) {
    let cache = Cache::open_with(dir, options()).unwrap();
    let layout = cache.layout();
    let view = cache.view();
    let last = view.message_at(2700).unwrap().map(|m| m.uid).unwrap();
    (cache.is_fragmented(), layout.journal_frames, last)
}

#[test]
fn a_drop_checkpoints_without_compacting_by_default() {
    let dir = tempfile::tempdir().unwrap();
    drop(fragmented(dir.path(), options()));
    assert_eq!(reopened(dir.path()), (true, 0, 2999));
}

#[test]
fn a_drop_compacts_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    drop(fragmented(dir.path(), options().compact_on_drop(true)));
    assert_eq!(reopened(dir.path()), (false, 0, 2999));
}

#[test]
fn close_checkpoints_without_compacting_by_default() {
    let dir = tempfile::tempdir().unwrap();
    fragmented(dir.path(), options()).close().unwrap();
    assert_eq!(reopened(dir.path()), (true, 0, 2999));
}

#[test]
fn close_compacts_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    fragmented(dir.path(), options().compact_on_drop(true))
        .close()
        .unwrap();
    assert_eq!(reopened(dir.path()), (false, 0, 2999));
}

/// `auto_compact` off means never: neither close nor a drop asked to compact rewrites blocks.
#[test]
fn without_auto_compact_neither_close_nor_drop_compacts() {
    let manual = options().auto_compact(false);
    let dir = tempfile::tempdir().unwrap();
    fragmented(dir.path(), manual.clone()).close().unwrap();
    assert_eq!(reopened(dir.path()), (true, 0, 2999));
    let dir = tempfile::tempdir().unwrap();
    drop(fragmented(dir.path(), manual.compact_on_drop(true)));
    assert_eq!(reopened(dir.path()), (true, 0, 2999));
}
