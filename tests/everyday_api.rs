//! The everyday calls of a mail client: a message-list page through the range iterator,
//! the changes since a MODSEQ, flag tests, VANISHED ranges in one call, the error's size.

use uidcache::{Cache, Error, InvalidOp, Message, OpenOptions, Removed, Update};

/// A cache of `exists` messages, of which `known` (seq, uid) pairs are placed; every known
/// message has MODSEQ = its UID and the flag `\Seen` when its UID is even.
fn cache_with(dir: &std::path::Path, exists: u32, known: &[(u32, u32)]) -> Cache {
    let mut cache = OpenOptions::new()
        .durability(uidcache::Durability::NoSync)
        .open(dir)
        .unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_uidvalidity(Some(1)).unwrap();
    tx.set_exists(exists).unwrap();
    for &(seq, uid) in known {
        let seen: &[&[u8]] = &[b"\\Seen"];
        let flags: Option<&[&[u8]]> = Some(if uid % 2 == 0 { seen } else { &[] });
        tx.learn(
            seq,
            uid,
            Update {
                flags,
                modseq: Some(u64::from(uid)),
            },
        )
        .unwrap();
    }
    tx.commit().unwrap();
    cache
}

#[test]
fn range_yields_the_known_rows_of_a_page_in_order_and_skips_holes() {
    let dir = tempfile::tempdir().unwrap();
    // 1..=5 known, 6..=9 a hole, 10..=12 known.
    let known: Vec<(u32, u32)> = (1..=5)
        .map(|s| (s, s * 10))
        .chain((10..=12).map(|s| (s, s * 10)))
        .collect();
    let cache = cache_with(dir.path(), 12, &known);
    let view = cache.view();
    let page: Vec<(u32, u32)> = view
        .range(4..=10)
        .map(|r| r.map(|(s, m)| (s, m.uid)).unwrap())
        .collect();
    assert_eq!(page, vec![(4, 40), (5, 50), (10, 100)]);
    let all: Vec<u32> = view.messages().map(|r| r.unwrap().0).collect();
    assert_eq!(all, vec![1, 2, 3, 4, 5, 10, 11, 12]);
    // The iterator agrees with the point lookups, for every bound shape.
    for (lo, hi) in [(1, 1), (5, 6), (6, 9), (11, 40), (0, 3)] {
        let got: Vec<(u32, Message)> = view.range(lo..=hi).map(Result::unwrap).collect();
        let want: Vec<(u32, Message)> = (lo.max(1)..=hi.min(12))
            .filter_map(|s| view.message_at(s).unwrap().map(|m| (s, m)))
            .collect();
        assert_eq!(got, want, "{lo}..={hi}");
    }
    assert_eq!(view.range(3..3).count(), 0);
    assert_eq!(view.range(..3).count(), 2);
    assert_eq!(view.range(12..).count(), 1);
}

#[test]
fn changed_since_streams_placed_then_unplaced_changes() {
    let dir = tempfile::tempdir().unwrap();
    let known: Vec<(u32, u32)> = (1..=6).map(|s| (s, s * 10)).collect();
    let mut cache = cache_with(dir.path(), 6, &known);
    let mut tx = cache.transaction().unwrap();
    // Seqs 5..=6 (UIDs 50, 60) lose their positions but stay known by UID.
    tx.unplace(5, 6).unwrap();
    tx.commit().unwrap();
    let view = cache.view();
    let changed: Vec<(Option<u32>, u32)> = view
        .changed_since(25)
        .map(|r| r.map(|(s, m)| (s, m.uid)).unwrap())
        .collect();
    assert_eq!(
        changed,
        vec![(Some(3), 30), (Some(4), 40), (None, 50), (None, 60)]
    );
    assert_eq!(view.changed_since(60).count(), 0);
}

#[test]
fn has_flag_matches_names_case_insensitively_and_knows_unknown_flags() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = cache_with(dir.path(), 3, &[(1, 2)]);
    let mut tx = cache.transaction().unwrap();
    tx.learn(
        2,
        5,
        Update {
            flags: Some(&[b"$Forwarded", b"\\Answered"]),
            modseq: None,
        },
    )
    .unwrap();
    tx.learn(3, 7, Update::default()).unwrap();
    tx.commit().unwrap();
    let view = cache.view();
    let m1 = view.message_at(1).unwrap().unwrap();
    let m2 = view.message_at(2).unwrap().unwrap();
    let m3 = view.message_at(3).unwrap().unwrap();
    assert_eq!(view.has_flag(&m1, b"\\SEEN"), Some(true));
    assert_eq!(view.has_flag(&m1, b"\\seen"), Some(true));
    assert_eq!(view.has_flag(&m1, b"\\Flagged"), Some(false));
    assert_eq!(view.has_flag(&m2, b"$forwarded"), Some(true));
    assert_eq!(view.has_flag(&m2, b"\\ANSWERED"), Some(true));
    assert_eq!(view.has_flag(&m2, b"\\Seen"), Some(false));
    assert_eq!(view.has_flag(&m3, b"\\Seen"), None, "FLAGS never learned");
}

#[test]
fn remove_uids_takes_a_huge_vanished_range_over_a_small_cache() {
    let dir = tempfile::tempdir().unwrap();
    // 10 known messages at the start of a mailbox of 15: a trailing hole of 5.
    let known: Vec<(u32, u32)> = (1..=10).map(|s| (s, s * 3)).collect();
    let mut cache = cache_with(dir.path(), 15, &known);
    let mut tx = cache.transaction().unwrap();
    let removed = tx.remove_uids(&[1..=u32::MAX]).unwrap();
    // The ten records, and the five unknown messages (UIDs above 30) of the trailing hole.
    assert_eq!(
        removed,
        Removed {
            placed: 10,
            from_holes: 5,
            unplaced: 0
        }
    );
    tx.commit().unwrap();
    assert_eq!(cache.view().exists(), Some(0));
}

#[test]
fn remove_uids_agrees_with_remove_uid_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    // Known 1..=4 (UIDs 10..=40), hole 5..=7, known 8..=9 (UIDs 100, 110), hole 10..=12.
    let known = [(1, 10), (2, 20), (3, 30), (4, 40), (8, 100), (9, 110)];
    let ranges = [15..=35, 41..=42, 90..=100, 200..=201];
    let one = tempfile::tempdir().unwrap();
    let mut a = cache_with(dir.path(), 12, &known);
    let mut b = cache_with(one.path(), 12, &known);
    let mut tx = a.transaction().unwrap();
    let removed = tx.remove_uids(&ranges).unwrap();
    tx.commit().unwrap();
    let mut tx = b.transaction().unwrap();
    for r in ranges.clone() {
        for uid in r {
            tx.remove_uid(uid).unwrap();
        }
    }
    tx.commit().unwrap();
    let rows = |c: &Cache| -> Vec<(u32, u32)> {
        c.view()
            .messages()
            .map(|r| r.map(|(s, m)| (s, m.uid)).unwrap())
            .collect()
    };
    assert_eq!(rows(&a), rows(&b));
    assert_eq!(a.view().exists(), b.view().exists());
    // UIDs 20, 30, 100 placed; 41, 42 and 90 in the hole 5..=7 (91..=99 then find it
    // empty); 200, 201 in the trailing hole.
    assert_eq!(removed.placed, 3);
    assert_eq!(removed.from_holes, 5);
    assert_eq!(a.view().exists(), Some(4));
}

#[test]
fn an_inner_hole_beyond_the_limit_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let big = uidcache::MAX_HOLE_REMOVALS as u32 + 10;
    let mut cache = cache_with(dir.path(), big + 1, &[(1, 1), (big + 1, u32::MAX)]);
    let mut tx = cache.transaction().unwrap();
    let err = tx.remove_uids(&[2..=u32::MAX - 1]).unwrap_err();
    assert!(
        matches!(
            err.invalid_op(),
            Some(InvalidOp::TooManyHoleRemovals { count, .. }) if *count == u64::from(big - 1)
        ),
        "{err}"
    );
}

#[test]
fn the_error_is_one_pointer_and_helpers_classify_it() {
    assert!(std::mem::size_of::<Error>() <= 16);
    let dir = tempfile::tempdir().unwrap();
    let _writer = Cache::open(dir.path()).unwrap();
    let err = Cache::open(dir.path()).unwrap_err();
    assert!(err.is_locked(), "{err}");
    assert!(!err.is_stale() && !err.is_corruption());
}
