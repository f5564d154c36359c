//! The scale test the issue asks for: 1,000,000 messages filled in random block order,
//! flag and MODSEQ changes, 10,000 random expunges with a compaction midway, then a reopen
//! with every record checked against a plain in-memory model.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report, and the model's indices are in range by construction"
)]

use std::time::Instant;

use uidcache::{Cache, Durability, Message, UidPosition, Update, View};

const MESSAGES: u32 = 1_000_000;
const RANGE: u32 = 2_000;
const EXPUNGES: usize = 10_000;
const EXPUNGES_PER_COMMIT: usize = 100;
const UPDATES_PER_COMMIT: usize = 1_000;

/// What the test believes one message is: UID, normalized FLAGS (sorted, deduplicated,
/// no `\Recent`), MODSEQ.
type Expected = (u32, Option<Vec<Vec<u8>>>, Option<u64>);

/// SplitMix64: a fixed seed makes a failure reproducible without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for a test (n is far below 2^64).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Flag lists as a server might send them, including `\Recent` (which the cache drops),
/// a duplicate, and the empty list (known to be empty, unlike "never learned").
const PALETTE: &[&[&[u8]]] = &[
    &[],
    &[b"\\Seen"],
    &[b"\\Seen", b"\\Flagged"],
    &[b"\\Answered", b"$Junk", b"\\Seen"],
    &[b"\\Recent", b"\\Seen"],
    &[b"\\Deleted", b"\\Deleted"],
    &[b"$Forwarded", b"\\Draft"],
];

fn normalized(flags: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case(b"\\Recent"))
        .map(|f| f.to_vec())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn names(view: &View<'_>, m: &Message) -> Option<Vec<Vec<u8>>> {
    m.flags.map(|id| {
        view.flag_names(id)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
    })
}

/// Applies `count` random flag/MODSEQ changes through `update_seq`, mixing flags-only,
/// MODSEQ-only and both so that partial updates must merge with what is stored.
fn random_updates(
    cache: &mut Cache,
    model: &mut [Expected],
    rng: &mut Rng,
    modseq: &mut u64,
    count: usize,
) {
    let mut done = 0;
    while done < count {
        let mut tx = cache.transaction().unwrap();
        for _ in 0..UPDATES_PER_COMMIT.min(count - done) {
            let k = rng.below(model.len());
            let flags = PALETTE[rng.below(PALETTE.len())];
            *modseq += 1 + rng.below(5) as u64;
            let (set_flags, set_modseq) = match rng.below(3) {
                0 => (true, false),
                1 => (false, true),
                _ => (true, true),
            };
            let update = Update {
                flags: set_flags.then_some(flags),
                modseq: set_modseq.then_some(*modseq),
            };
            tx.update_seq(k as u32 + 1, update).unwrap();
            if set_flags {
                model[k].1 = Some(normalized(flags));
            }
            if set_modseq {
                model[k].2 = Some(*modseq);
            }
            done += 1;
        }
        tx.set_highestmodseq(Some(*modseq)).unwrap();
        tx.commit_with(Durability::NoSync).unwrap();
    }
}

/// Removes from the model the messages at `positions`, each numbered as the previous
/// removals left the model (as successive EXPUNGEs are), and returns their UIDs. One pass
/// per batch: a `Vec::remove` per expunge moves about 240 GB at this size, which alone
/// takes over ten seconds and would dominate the test on a slow CI machine.
fn expunge_batch(model: &mut Vec<Expected>, positions: &[usize]) -> Vec<u32> {
    // Indices into the model as it was before the batch, ascending.
    let mut removed: Vec<usize> = Vec::with_capacity(positions.len());
    for &position in positions {
        let mut index = position;
        for &r in &removed {
            if r > index {
                break;
            }
            index += 1;
        }
        let at = removed.partition_point(|&r| r < index);
        removed.insert(at, index);
    }
    let uids = removed.iter().map(|&i| model[i].0).collect();
    let mut next = removed.iter().peekable();
    let mut index = 0;
    model.retain(|_| {
        let keep = next.peek() != Some(&&index);
        if !keep {
            next.next();
        }
        index += 1;
        keep
    });
    uids
}

/// Compares every record, a random sample through the point lookups, and the layout.
fn check(cache: &Cache, model: &[Expected], gone: &[u32], rng: &mut Rng) {
    let view = cache.view();
    assert_eq!(view.exists(), Some(model.len() as u32));
    let placed = view.placed_messages().unwrap();
    assert_eq!(placed.len(), model.len());
    for (k, ((seq, m), want)) in placed.iter().zip(model).enumerate() {
        let got = (m.uid, names(&view, m), m.modseq);
        assert_eq!(*seq, k as u32 + 1);
        assert_eq!(&got, want, "record at seq {seq}");
    }
    assert!(view.unplaced_messages().unwrap().is_empty());
    for _ in 0..2_000 {
        let k = rng.below(model.len());
        let seq = k as u32 + 1;
        let m = view.message_at(seq).unwrap().unwrap();
        assert_eq!(
            (m.uid, names(&view, &m), m.modseq),
            model[k],
            "message_at({seq})"
        );
        assert_eq!(
            view.position_of_uid(model[k].0).unwrap(),
            UidPosition::Placed(seq)
        );
    }
    // Every sequence number is known, so an expunged UID or one in a gap between UIDs
    // has nowhere to be.
    for _ in 0..500 {
        let uid = gone[rng.below(gone.len())];
        assert_eq!(
            view.position_of_uid(uid).unwrap(),
            UidPosition::Absent,
            "expunged UID {uid}"
        );
    }
    let k = rng.below(model.len() - 1);
    for uid in model[k].0 + 1..model[k + 1].0 {
        assert_eq!(
            view.position_of_uid(uid).unwrap(),
            UidPosition::Absent,
            "gap UID {uid}"
        );
    }
    assert_eq!(view.message_at(model.len() as u32 + 1).unwrap(), None);
    let layout = cache.layout();
    assert_eq!(layout.placed_records, model.len() as u64);
    assert_eq!((layout.unplaced_entries, layout.unplaced_records), (0, 0));
    assert_eq!(
        cache.view().segments(),
        vec![uidcache::Segment::Known(1, model.len() as u32)]
    );
}

#[test]
fn million_messages_random_fill_expunge_reopen() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED_0001_D0C5_CAFE);

    // Strictly increasing UIDs with gaps, like a mailbox that has seen deletions.
    let mut uid = 0u32;
    let mut model: Vec<Expected> = (0..MESSAGES)
        .map(|_| {
            uid += 1 + rng.below(3) as u32;
            (uid, None, None)
        })
        .collect();
    let uidnext = uid + 1;

    let mut cache = Cache::open(dir.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_uidvalidity(Some(7)).unwrap();
    tx.set_uidnext(Some(uidnext)).unwrap();
    tx.set_exists(MESSAGES).unwrap();
    tx.commit().unwrap();

    let mut starts: Vec<u32> = (0..MESSAGES / RANGE).map(|r| r * RANGE).collect();
    rng.shuffle(&mut starts);
    let uids: Vec<u32> = model.iter().map(|e| e.0).collect();
    for (n, start) in starts.iter().enumerate() {
        let mut tx = cache.transaction().unwrap();
        tx.learn_range(start + 1, &uids[*start as usize..(start + RANGE) as usize])
            .unwrap();
        // NoSync keeps CI fast; a few durable commits keep the fsync path covered at scale.
        let durability = if n % 100 == 0 {
            Durability::Durable
        } else {
            Durability::NoSync
        };
        tx.commit_with(durability).unwrap();
    }
    drop(uids);
    assert_eq!(cache.layout().placed_records, u64::from(MESSAGES));
    let filled = started.elapsed();

    let mut modseq = 1_000u64;
    random_updates(&mut cache, &mut model, &mut rng, &mut modseq, 4_000);

    let mut gone = Vec::with_capacity(EXPUNGES);
    let mut n = 0;
    while n < EXPUNGES {
        let mut tx = cache.transaction().unwrap();
        let mut positions = Vec::with_capacity(EXPUNGES_PER_COMMIT);
        for j in 0..EXPUNGES_PER_COMMIT {
            let k = rng.below(model.len() - j);
            tx.expunge(k as u32 + 1).unwrap();
            positions.push(k);
            n += 1;
        }
        gone.extend(expunge_batch(&mut model, &positions));
        let durability = if n == EXPUNGES {
            Durability::Durable
        } else {
            Durability::NoSync
        };
        tx.commit_with(durability).unwrap();
        if n == EXPUNGES / 2 {
            cache.compact().unwrap();
            // Changes on top of freshly folded blocks: partial updates must keep the
            // block's other field.
            random_updates(&mut cache, &mut model, &mut rng, &mut modseq, 2_000);
        }
    }
    let changed = started.elapsed();
    check(&cache, &model, &gone, &mut rng);
    assert_eq!(cache.view().highestmodseq(), Some(modseq));
    let stats = cache.stats();
    assert!(stats.compactions >= 1);
    drop(cache);

    let cache = Cache::open(dir.path()).unwrap();
    check(&cache, &model, &gone, &mut rng);
    let view = cache.view();
    assert_eq!(view.exists(), Some(MESSAGES - EXPUNGES as u32));
    assert_eq!(
        (view.uidvalidity(), view.uidnext(), view.highestmodseq()),
        (Some(7), Some(uidnext), Some(modseq))
    );
    let layout = cache.layout();
    assert_eq!(layout.placed_records, u64::from(MESSAGES) - EXPUNGES as u64);
    eprintln!(
        "million: fill {filled:?}, changes {:?}, total {:?}; {stats:?}; reopened {layout:?}",
        changed - filled,
        started.elapsed()
    );
}
