//! Caches built with the engine API, each exercising learns, expunges, flags, unplaced
//! records, checkpoints and journal frames.

use std::path::Path;

use uidcache_engine::{Cache, Durability, OpenOptions, Update};

const SEEN: &[&[u8]] = &[b"\\Seen"];
const FLAGGED: &[&[u8]] = &[b"\\Flagged", b"\\Seen"];
const JUNK: &[&[u8]] = &[b"$Junk"];

/// The caches keep their journal frames: a drop must not checkpoint them away.
fn open(dir: &Path) -> Cache {
    let options = OpenOptions::new().checkpoint_on_drop(false);
    Cache::open_with(dir, options).unwrap()
}

fn up(flags: Option<&'static [&'static [u8]]>, modseq: Option<u64>) -> Update<'static> {
    Update { flags, modseq }
}

/// A checkpoint holding placed slices and an overlay, then frames: an expunge splitting a
/// slice, flag changes, an unplace, a late learn, a non-durable last frame.
pub fn checkpoint_then_frames(dir: &Path) {
    let mut c = open(dir);
    let mut tx = c.transaction().unwrap();
    tx.set_uidvalidity(Some(77)).unwrap();
    tx.set_uidnext(Some(100)).unwrap();
    tx.set_exists(12).unwrap();
    tx.learn_many(
        1,
        &[
            (3, up(Some(SEEN), Some(5))),
            (5, up(None, Some(6))),
            (8, up(Some(JUNK), None)),
        ],
    )
    .unwrap();
    tx.set_highestmodseq(Some(20)).unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.learn_range(8, &[20, 21, 22]).unwrap();
    tx.update_seq(2, up(Some(FLAGGED), Some(11))).unwrap();
    tx.commit().unwrap();
    c.checkpoint().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.expunge(2).unwrap();
    tx.update_seq(1, up(Some(FLAGGED), Some(21))).unwrap();
    tx.set_highestmodseq(Some(21)).unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.unplace(7, 8).unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.learn(11, 40, up(Some(SEEN), Some(3))).unwrap();
    tx.commit_with(Durability::NoSync).unwrap();
}

/// Never checkpointed (generation 0): learns, a clear, a new UIDVALIDITY, VANISHED and a
/// forgotten UID, all in the journal.
pub fn journal_only(dir: &Path) {
    let mut c = open(dir);
    let mut tx = c.transaction().unwrap();
    tx.set_uidvalidity(Some(5)).unwrap();
    tx.set_exists(4).unwrap();
    tx.learn_range(1, &[1, 2, 3, 4]).unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.clear().unwrap();
    tx.set_uidvalidity(Some(6)).unwrap();
    tx.set_exists(6).unwrap();
    tx.learn_many(
        2,
        &[
            (10, up(Some(SEEN), Some(2))),
            (12, up(None, None)),
            (13, up(Some(JUNK), Some(4))),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.remove_uid(12).unwrap();
    tx.learn(5, 30, up(None, Some(7))).unwrap();
    tx.set_highestmodseq(Some(7)).unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.unplace(2, 2).unwrap();
    tx.forget_uid(13).unwrap();
    tx.commit().unwrap();
}

/// A checkpoint whose one block is split by an expunge into two entries (disjoint records
/// of one block), with unplaced records and an overlay; then a grow and a learn.
pub fn split_block(dir: &Path) {
    let mut c = open(dir);
    let mut tx = c.transaction().unwrap();
    tx.set_uidvalidity(Some(9)).unwrap();
    tx.set_exists(8).unwrap();
    tx.learn_range(1, &[10, 11, 12, 13, 14, 15, 16, 17])
        .unwrap();
    tx.commit().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.expunge(3).unwrap();
    tx.update_uid(14, up(Some(JUNK), Some(9))).unwrap();
    tx.unplace(6, 7).unwrap();
    tx.commit().unwrap();
    c.checkpoint().unwrap();
    let mut tx = c.transaction().unwrap();
    tx.set_exists(9).unwrap();
    tx.learn(9, 30, up(None, Some(1))).unwrap();
    tx.commit().unwrap();
}

/// A larger cache: `n` messages learned in batches across several blocks, checkpoints along
/// the way (small journal limit), expunges, flag storms and unplaced runs.
pub fn large(dir: &Path, n: u32) {
    let options = OpenOptions::new()
        .journal_limit(4096)
        .checkpoint_on_drop(false);
    let mut c = Cache::open_with(dir, options).unwrap();
    let mut tx = c.transaction().unwrap();
    tx.set_uidvalidity(Some(1234)).unwrap();
    tx.set_exists(n).unwrap();
    tx.commit().unwrap();
    let batch = 700;
    let mut seq = 1;
    while seq <= n {
        let end = (seq + batch - 1).min(n);
        let uids: Vec<u32> = (seq..=end).map(|s| s * 3).collect();
        let mut tx = c.transaction().unwrap();
        tx.learn_range(seq, &uids).unwrap();
        tx.commit().unwrap();
        seq = end + 1;
    }
    for k in 0..20u32 {
        let mut tx = c.transaction().unwrap();
        let s = 1 + (k * 97) % (n - 30);
        tx.expunge(s).unwrap();
        tx.update_seq(
            s + 1,
            up(
                Some(if k % 2 == 0 { SEEN } else { JUNK }),
                Some(100 + u64::from(k)),
            ),
        )
        .unwrap();
        if k % 5 == 0 {
            tx.unplace(s + 3, s + 5).unwrap();
        }
        tx.set_highestmodseq(Some(100 + u64::from(k))).unwrap();
        tx.commit().unwrap();
    }
}
