//! Model-based test of the engine (issue 2): long random sequences of every write
//! operation run against the engine and against a plain in-memory model of the contract,
//! with commits, aborts, reopens, checkpoints and compactions at random points; every read
//! is compared after every step.
//!
//! Seeded, so a failure prints the seed and the step; `UIDCACHE_MODEL_CASES` and
//! `UIDCACHE_MODEL_SEED` set how many cases run and from which seed.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Rng;
use uidcache::{
    Cache, Durability, OpenOptions, Removal, Segment, Transaction, UidPosition, Update, View,
};

type Flags = BTreeSet<Vec<u8>>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    uid: u32,
    flags: Option<Flags>,
    modseq: Option<u64>,
}

/// The contract, written as plainly as possible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Model {
    uidvalidity: Option<u32>,
    uidnext: Option<u32>,
    highestmodseq: Option<u64>,
    exists: Option<u32>,
    seqs: Vec<Option<Rec>>,
    unplaced: BTreeMap<u32, Rec>,
}

fn norm_flags(names: &[&[u8]]) -> Flags {
    names
        .iter()
        .filter(|n| !n.eq_ignore_ascii_case(b"\\Recent"))
        .map(|n| n.to_vec())
        .collect()
}

impl Model {
    fn known(&self) -> impl Iterator<Item = (u32, &Rec)> {
        self.seqs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i as u32 + 1, r)))
    }

    fn seq_of(&self, uid: u32) -> Option<u32> {
        self.known().find(|(_, r)| r.uid == uid).map(|(s, _)| s)
    }

    /// The hole an unknown UID must lie in.
    fn hole_for(&self, uid: u32) -> Option<(u32, u32)> {
        let prev = self
            .known()
            .filter(|(_, r)| r.uid < uid)
            .last()
            .map(|(s, _)| s);
        let next = self.known().find(|(_, r)| r.uid > uid).map(|(s, _)| s);
        let lo = prev.map_or(1, |p| p + 1);
        let hi = next.map_or(self.seqs.len() as u32, |n| n - 1);
        (lo <= hi).then_some((lo, hi))
    }

    fn prune(&mut self) {
        if self.exists.is_none() {
            return;
        }
        let doomed: Vec<u32> = self
            .unplaced
            .keys()
            .copied()
            .filter(|u| self.hole_for(*u).is_none())
            .collect();
        for u in doomed {
            self.unplaced.remove(&u);
        }
    }

    fn set_exists(&mut self, n: u32) -> bool {
        if (n as usize) < self.seqs.len() && self.seqs[n as usize..].iter().any(Option::is_some) {
            return false;
        }
        self.seqs.resize(n as usize, None);
        self.exists = Some(n);
        self.prune();
        true
    }

    fn learn(&mut self, seq: u32, entries: &[(u32, Option<Flags>, Option<u64>)]) -> bool {
        if entries.is_empty() {
            return true;
        }
        let end = seq as u64 + entries.len() as u64 - 1;
        if seq == 0 || end > self.seqs.len() as u64 {
            return false;
        }
        let mut prev = 0;
        for (u, _, _) in entries {
            if *u <= prev {
                return false;
            }
            prev = *u;
        }
        for (k, (u, _, _)) in entries.iter().enumerate() {
            if let Some(r) = &self.seqs[seq as usize - 1 + k] {
                if r.uid != *u {
                    return false;
                }
            }
        }
        let end = end as u32;
        if let Some((p, r)) = self.known().filter(|(s, _)| *s < seq).last() {
            if (entries[0].0 as u64) < r.uid as u64 + (seq - p) as u64 {
                return false;
            }
        }
        if let Some((n, r)) = self.known().find(|(s, _)| *s > end) {
            if (r.uid as u64) < entries.last().unwrap().0 as u64 + (n - end) as u64 {
                return false;
            }
        }
        for (k, (uid, flags, modseq)) in entries.iter().enumerate() {
            let slot = &mut self.seqs[seq as usize - 1 + k];
            let base = match slot.take() {
                Some(r) => r,
                None => self.unplaced.remove(uid).unwrap_or(Rec {
                    uid: *uid,
                    flags: None,
                    modseq: None,
                }),
            };
            *slot = Some(Rec {
                uid: *uid,
                flags: flags.clone().or(base.flags),
                modseq: modseq.or(base.modseq),
            });
        }
        self.prune();
        true
    }

    fn update_uid(&mut self, uid: u32, flags: Option<Flags>, modseq: Option<u64>) -> bool {
        let rec = match self.seq_of(uid) {
            Some(s) => self.seqs[s as usize - 1].as_mut(),
            None => self.unplaced.get_mut(&uid),
        };
        let Some(rec) = rec else { return false };
        if flags.is_some() {
            rec.flags = flags;
        }
        if modseq.is_some() {
            rec.modseq = modseq;
        }
        true
    }

    fn expunge(&mut self, seq: u32) -> bool {
        if seq == 0 || seq as usize > self.seqs.len() {
            return false;
        }
        self.seqs.remove(seq as usize - 1);
        self.exists = Some(self.seqs.len() as u32);
        self.prune();
        true
    }

    fn remove_uid(&mut self, uid: u32) -> Removal {
        if let Some(s) = self.seq_of(uid) {
            self.expunge(s);
            return Removal::Placed(s);
        }
        let was_unplaced = self.unplaced.remove(&uid).is_some();
        match self.hole_for(uid) {
            Some((lo, _)) => {
                self.expunge(lo);
                Removal::Hole(lo)
            }
            None if was_unplaced => Removal::Unplaced,
            None => Removal::Absent,
        }
    }

    /// `remove_uids` of a set (FORMAT.md 6.2, "A set of UIDs"): with no unplaced record and
    /// a known count, every UID is classed against the model as it is before the set (placed,
    /// in a hole, absent), a hole gives at most its size, and only then do the positions go;
    /// otherwise one `remove_uid` per UID, ascending.
    fn remove_set(&mut self, uids: &BTreeSet<u32>) -> uidcache::Removed {
        let mut removed = uidcache::Removed::default();
        if !self.unplaced.is_empty() || self.exists.is_none() {
            for &uid in uids {
                match self.remove_uid(uid) {
                    Removal::Placed(_) => removed.placed += 1,
                    Removal::Hole(_) => removed.from_holes += 1,
                    Removal::Unplaced => removed.unplaced += 1,
                    Removal::Absent => {}
                }
            }
            return removed;
        }
        let mut gone: Vec<u32> = Vec::new();
        let mut holes: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
        for &uid in uids {
            if let Some(s) = self.seq_of(uid) {
                gone.push(s);
                removed.placed += 1;
            } else if let Some((lo, hi)) = self.hole_for(uid) {
                let (_, taken) = holes.entry(lo).or_insert((hi, 0));
                *taken += 1;
            }
        }
        for (lo, (hi, taken)) in holes {
            let take = taken.min(hi - lo + 1);
            gone.extend(lo..lo + take);
            removed.from_holes += u64::from(take);
        }
        gone.sort_unstable_by(|a, b| b.cmp(a));
        for s in gone {
            self.expunge(s);
        }
        removed
    }

    fn forget_uid(&mut self, uid: u32) -> bool {
        if let Some(s) = self.seq_of(uid) {
            self.seqs[s as usize - 1] = None;
            return true;
        }
        self.unplaced.remove(&uid).is_some()
    }

    fn unplace(&mut self, first: u32, last: u32) {
        let last = last.min(self.seqs.len() as u32);
        if first == 0 || first > last {
            return;
        }
        for s in first..=last {
            if let Some(r) = self.seqs[s as usize - 1].take() {
                self.unplaced.insert(r.uid, r);
            }
        }
    }

    fn clear(&mut self) {
        *self = Model::default();
    }
}

fn flags_of(view: &View<'_>, id: Option<uidcache::FlagSetId>) -> Option<Flags> {
    id.map(|id| {
        view.flag_names(id)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
    })
}

fn assert_same(view: &View<'_>, model: &Model, ctx: &str) {
    assert_eq!(view.uidvalidity(), model.uidvalidity, "{ctx}: uidvalidity");
    assert_eq!(view.uidnext(), model.uidnext, "{ctx}: uidnext");
    assert_eq!(
        view.highestmodseq(),
        model.highestmodseq,
        "{ctx}: highestmodseq"
    );
    assert_eq!(view.exists(), model.exists, "{ctx}: exists");
    let placed: Vec<(u32, Rec)> = view
        .placed_messages()
        .unwrap()
        .into_iter()
        .map(|(s, m)| {
            (
                s,
                Rec {
                    uid: m.uid,
                    flags: flags_of(view, m.flags),
                    modseq: m.modseq,
                },
            )
        })
        .collect();
    let want: Vec<(u32, Rec)> = model.known().map(|(s, r)| (s, r.clone())).collect();
    assert_eq!(placed, want, "{ctx}: placed records");
    let unplaced: Vec<Rec> = view
        .unplaced_messages()
        .unwrap()
        .into_iter()
        .map(|m| Rec {
            uid: m.uid,
            flags: flags_of(view, m.flags),
            modseq: m.modseq,
        })
        .collect();
    let want: Vec<Rec> = model.unplaced.values().cloned().collect();
    assert_eq!(unplaced, want, "{ctx}: unplaced records");
    // Segments must tile 1..=exists exactly as the model's holes do.
    let mut tiles = Vec::new();
    for seg in view.segments() {
        let (a, b, known) = match seg {
            Segment::Known(a, b) => (a, b, true),
            Segment::Hole(a, b) => (a, b, false),
        };
        for s in a..=b {
            tiles.push((s, known));
        }
    }
    let want: Vec<(u32, bool)> = model
        .seqs
        .iter()
        .enumerate()
        .map(|(i, r)| (i as u32 + 1, r.is_some()))
        .collect();
    assert_eq!(tiles, want, "{ctx}: segments");
    // Unknown flags, twice: the second call skips the slices the first proved (and the
    // index's per-slice bit, kept across changes, reopens and compactions, skips others).
    let mut want: Vec<(u32, u32)> = Vec::new();
    for (i, r) in model.seqs.iter().enumerate() {
        let seq = i as u32 + 1;
        if r.as_ref().is_none_or(|r| r.flags.is_some()) {
            continue;
        }
        match want.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => want.push((seq, seq)),
        }
    }
    for round in ["first", "second"] {
        let got: Vec<(u32, u32)> = view.unknown_flags().map(|r| r.unwrap()).collect();
        assert_eq!(got, want, "{ctx}: unknown_flags ({round} call)");
    }
    // Point reads.
    for (s, r) in model.seqs.iter().enumerate() {
        // The whole record: point reads have their own path (the read index).
        let peeked = view.peek_message_at(s as u32 + 1);
        let m = view.message_at(s as u32 + 1).unwrap();
        if peeked.is_some() {
            assert_eq!(peeked, m, "{ctx}: peek_message_at({})", s + 1);
        }
        let got = m.map(|m| Rec {
            uid: m.uid,
            flags: flags_of(view, m.flags),
            modseq: m.modseq,
        });
        assert_eq!(got.as_ref(), r.as_ref(), "{ctx}: message_at({})", s + 1);
    }
    let max_uid = model
        .known()
        .map(|(_, r)| r.uid)
        .chain(model.unplaced.keys().copied())
        .max()
        .unwrap_or(0);
    // Every UID of small mailboxes; a stride through large ones (the model is O(n) a lookup).
    let stride = (max_uid / 150).max(1) as usize;
    for uid in (1..=max_uid + 2).step_by(stride) {
        let want = match model.seq_of(uid) {
            Some(s) => UidPosition::Placed(s),
            None if model.unplaced.contains_key(&uid) => UidPosition::Unplaced {
                hole: model.hole_for(uid),
            },
            None => match model.hole_for(uid) {
                Some((first, last)) => UidPosition::InHole { first, last },
                None => UidPosition::Absent,
            },
        };
        assert_eq!(
            view.position_of_uid(uid).unwrap(),
            want,
            "{ctx}: position_of_uid({uid})"
        );
    }
    let stride = (model.seqs.len() / 150).max(1);
    for seq in (0..=model.seqs.len() as u32 + 1).step_by(stride) {
        let plan = view.fetch_plan(seq, 16);
        let unknown = seq >= 1
            && (seq as usize) <= model.seqs.len()
            && model.seqs[seq as usize - 1].is_none();
        assert_eq!(plan.is_some(), unknown, "{ctx}: fetch_plan({seq}) presence");
        if let Some(range) = plan {
            assert!(
                range.contains(&seq) && range.end() - range.start() < 16,
                "{ctx}: fetch_plan({seq}) = {range:?}"
            );
            for s in range {
                assert!(
                    model.seqs[s as usize - 1].is_none(),
                    "{ctx}: fetch_plan({seq}) overlaps known {s}"
                );
            }
        }
    }
}

const FLAG_POOL: [&[u8]; 7] = [
    b"\\Seen",
    b"\\Flagged",
    b"$Junk",
    b"\\Recent",
    b"$Forwarded",
    b"\\seen",
    b"Work",
];

fn random_flags(rng: &mut Rng) -> Vec<&'static [u8]> {
    (0..rng.below(4))
        .map(|_| FLAG_POOL[rng.below(FLAG_POOL.len() as u64) as usize])
        .collect()
}

/// The server's mailbox, from which mostly consistent answers are drawn.
#[derive(Clone)]
struct Truth {
    uids: Vec<u32>,
    next_uid: u32,
    /// New UIDs mostly follow the last one by one (a mailbox that seldom loses a
    /// message), so that most slices are dense (issue 12: removals and lookups in them
    /// read no block); else by one to three, so that few are.
    dense: bool,
}

impl Truth {
    /// How far the next new UID lies above the last one.
    fn gap(&self, rng: &mut Rng) -> u32 {
        if !self.dense {
            1 + rng.below(3) as u32
        } else if rng.below(32) == 0 {
            2 + rng.below(2) as u32
        } else {
            1
        }
    }
}

struct Case {
    rng: Rng,
    dir: tempfile::TempDir,
    options: OpenOptions,
    model: Model,
    truth: Truth,
    log: Vec<String>,
}

impl Case {
    fn open(&self) -> Cache {
        Cache::open_with(self.dir.path(), self.options.clone()).unwrap()
    }

    /// One random change inside `tx`, mirrored on the model (and the truth).
    fn step(&mut self, tx: &mut Transaction<'_>, model: &mut Model, truth: &mut Truth) {
        let rng = &mut self.rng;
        let exists = model.seqs.len() as u32;
        let pick_seq = |rng: &mut Rng| {
            if exists == 0 {
                1
            } else {
                1 + rng.below(exists as u64) as u32
            }
        };
        match rng.below(106) {
            100..=105 => self.removal_run(tx, model, truth),
            0..=9 => {
                let n = if rng.below(20) == 0 {
                    2100 + rng.below(300) as u32
                } else {
                    1 + rng.below(12) as u32
                };
                for _ in 0..n {
                    truth.next_uid += truth.gap(rng);
                    truth.uids.push(truth.next_uid);
                }
                let count = truth.uids.len() as u32;
                self.log.push(format!("set_exists({count})"));
                let ok = tx.set_exists(count).is_ok();
                assert_eq!(ok, model.set_exists(count), "set_exists({count})");
            }
            10..=34 => {
                let a = pick_seq(rng);
                let span = if rng.below(10) == 0 { 3000 } else { 40 };
                let len = 1 + rng.below(span) as u32;
                let b = (a + len - 1).min(truth.uids.len() as u32);
                let uids: Vec<u32> = (a..=b)
                    .filter_map(|s| truth.uids.get(s as usize - 1).copied())
                    .collect();
                self.log
                    .push(format!("learn_range({a}, {} uids)", uids.len()));
                let ok = tx.learn_range(a, &uids).is_ok();
                let entries: Vec<_> = uids.iter().map(|u| (*u, None, None)).collect();
                assert_eq!(ok, model.learn(a, &entries), "learn_range({a}, {uids:?})");
            }
            35..=44 => {
                let a = pick_seq(rng);
                let n = 1 + rng.below(5) as usize;
                let mut entries = Vec::new();
                let mut names = Vec::new();
                for k in 0..n {
                    let Some(uid) = truth.uids.get(a as usize - 1 + k).copied() else {
                        break;
                    };
                    names.push((
                        uid,
                        (rng.below(3) > 0).then(|| random_flags(rng)),
                        (rng.below(3) > 0).then(|| 1 + rng.below(1000)),
                    ));
                }
                let updates: Vec<(u32, Update<'_>)> = names
                    .iter()
                    .map(|(u, f, m)| {
                        (
                            *u,
                            Update {
                                flags: f.as_deref(),
                                modseq: *m,
                            },
                        )
                    })
                    .collect();
                for (u, f, m) in &names {
                    entries.push((*u, f.as_deref().map(norm_flags), *m));
                }
                self.log.push(format!("learn_many({a}, {entries:?})"));
                let ok = tx.learn_many(a, &updates).is_ok();
                assert_eq!(ok, model.learn(a, &entries), "learn_many({a})");
            }
            45..=52 => {
                let flags = (rng.below(2) == 0).then(|| random_flags(rng));
                let modseq = (rng.below(2) == 0).then(|| 1 + rng.below(1000));
                let by_seq = rng.below(2) == 0;
                let target = if by_seq {
                    pick_seq(rng)
                } else {
                    rng.below(truth.next_uid as u64 + 2) as u32
                };
                self.log.push(format!(
                    "update(by_seq={by_seq}, {target}, {flags:?}, {modseq:?})"
                ));
                let update = Update {
                    flags: flags.as_deref(),
                    modseq,
                };
                let ok = if by_seq {
                    tx.update_seq(target, update)
                } else {
                    tx.update_uid(target, update)
                }
                .is_ok();
                let uid = if by_seq {
                    model
                        .seqs
                        .get((target as usize).wrapping_sub(1))
                        .and_then(|r| r.as_ref())
                        .map(|r| r.uid)
                } else {
                    Some(target)
                        .filter(|u| model.seq_of(*u).is_some() || model.unplaced.contains_key(u))
                };
                if let Some(uid) = uid {
                    model.update_uid(uid, flags.as_deref().map(norm_flags), modseq);
                }
                assert_eq!(ok, uid.is_some(), "update");
            }
            53..=64 => {
                let seq = if rng.below(10) == 0 {
                    exists + 1
                } else {
                    pick_seq(rng)
                };
                self.log.push(format!("expunge({seq})"));
                let ok = tx.expunge(seq).is_ok();
                assert_eq!(ok, model.expunge(seq), "expunge({seq})");
                if ok && (seq as usize) <= truth.uids.len() {
                    truth.uids.remove(seq as usize - 1);
                }
            }
            65..=74 => {
                let uid = match truth.uids.len() {
                    0 => 1 + rng.below(10) as u32,
                    n if rng.below(8) > 0 => truth.uids[rng.below(n as u64) as usize],
                    _ => 1 + rng.below(truth.next_uid as u64 + 3) as u32,
                };
                self.log.push(format!("remove_uid({uid})"));
                let got = tx.remove_uid(uid).unwrap();
                assert_eq!(got, model.remove_uid(uid), "remove_uid({uid})");
                if let Some(i) = truth.uids.iter().position(|u| *u == uid) {
                    truth.uids.remove(i);
                }
            }
            75..=79 => {
                let uid = 1 + rng.below(truth.next_uid as u64 + 1) as u32;
                self.log.push(format!("forget_uid({uid})"));
                assert_eq!(
                    tx.forget_uid(uid).unwrap(),
                    model.forget_uid(uid),
                    "forget_uid({uid})"
                );
            }
            80..=85 => {
                let a = pick_seq(rng);
                let b = a + rng.below(exists as u64 + 1) as u32;
                self.log.push(format!("unplace({a}, {b})"));
                tx.unplace(a, b).unwrap();
                model.unplace(a, b);
            }
            86..=87 => {
                self.log.push("clear + set_exists".into());
                tx.clear().unwrap();
                model.clear();
                let count = truth.uids.len() as u32;
                assert!(tx.set_exists(count).is_ok() && model.set_exists(count));
            }
            88..=93 => {
                let v = (rng.below(4) > 0).then(|| 1 + rng.below(1 << 40));
                match rng.below(3) {
                    0 => {
                        tx.set_uidvalidity(v.map(|v| v as u32)).unwrap();
                        model.uidvalidity = v.map(|v| v as u32);
                    }
                    1 => {
                        tx.set_uidnext(v.map(|v| v as u32)).unwrap();
                        model.uidnext = v.map(|v| v as u32);
                    }
                    _ => {
                        tx.set_highestmodseq(v).unwrap();
                        model.highestmodseq = v;
                    }
                }
            }
            _ => {
                // Arbitrary, often contradictory answers: a misbehaving server.
                let a = rng.below(exists as u64 + 3) as u32;
                let mut uid = rng.below(truth.next_uid as u64 + 5) as u32;
                let uids: Vec<u32> = (0..1 + rng.below(6))
                    .map(|_| {
                        uid += rng.below(4) as u32;
                        uid
                    })
                    .collect();
                self.log.push(format!("random learn_range({a}, {uids:?})"));
                let ok = tx.learn_range(a, &uids).is_ok();
                let entries: Vec<_> = uids.iter().map(|u| (*u, None, None)).collect();
                assert_eq!(
                    ok,
                    model.learn(a, &entries),
                    "random learn_range({a}, {uids:?})"
                );
            }
        }
    }
}

impl Case {
    /// A run of removals with no read between them (issue 12): a VANISHED set in
    /// ascending UID order, one `remove_uid` each or one `remove_uids` of ranges, or one
    /// sequence number expunged again and again (an expunge range). The engine keeps the
    /// slices' sequence shift lazy across such a run (placed.rs); reads come only after it.
    fn removal_run(&mut self, tx: &mut Transaction<'_>, model: &mut Model, truth: &mut Truth) {
        let rng = &mut self.rng;
        let exists = model.seqs.len() as u32;
        match rng.below(3) {
            0 | 1 => {
                // Known UIDs (placed, unplaced or in holes) and a few the cache must prove
                // absent, ascending, as a VANISHED (EARLIER) names them.
                let mut uids: BTreeSet<u32> = BTreeSet::new();
                for _ in 0..1 + rng.below(40) {
                    match truth.uids.len() {
                        n if n > 0 && rng.below(5) > 0 => {
                            uids.insert(truth.uids[rng.below(n as u64) as usize]);
                        }
                        _ => {
                            uids.insert(1 + rng.below(truth.next_uid as u64 + 3) as u32);
                        }
                    }
                }
                let bulk = rng.below(2) == 0;
                self.log
                    .push(format!("removal run (bulk {bulk}): {uids:?}"));
                if bulk {
                    let expected = model.remove_set(&uids);
                    // Unsorted, as a server may list them: the order must not matter.
                    let mut ranges: Vec<_> = uids.iter().map(|&u| u..=u).collect();
                    ranges.reverse();
                    let got = tx.remove_uids(&ranges).unwrap();
                    assert_eq!(got, expected, "remove_uids({uids:?})");
                } else {
                    for &uid in &uids {
                        let removal = model.remove_uid(uid);
                        assert_eq!(tx.remove_uid(uid).unwrap(), removal, "remove_uid({uid})");
                    }
                }
                truth.uids.retain(|u| !uids.contains(u));
            }
            _ => {
                let seq = if exists == 0 {
                    1
                } else {
                    1 + rng.below(exists as u64) as u32
                };
                let times = 1 + rng.below(30) as u32;
                self.log.push(format!("expunge({seq}) x {times}"));
                for _ in 0..times {
                    let ok = tx.expunge(seq).is_ok();
                    assert_eq!(ok, model.expunge(seq), "expunge({seq})");
                    if ok && (seq as usize) <= truth.uids.len() {
                        truth.uids.remove(seq as usize - 1);
                    }
                }
            }
        }
    }
}

fn run_case(seed: u64, steps: usize, dense: bool) {
    let mut rng = Rng::new(seed);
    let small_journal = rng.below(2) == 0;
    let options = OpenOptions::new()
        .journal_limit(if small_journal {
            2048 + rng.below(8192)
        } else {
            1 << 20
        })
        .durability(if rng.below(2) == 0 {
            Durability::Durable
        } else {
            Durability::NoSync
        })
        // Without a checkpoint on drop, a reopen replays the journal's frames through the
        // same `State::apply` (issue 12: removal runs replayed with a lazy shift).
        .checkpoint_on_drop(rng.below(2) == 0);
    let mut case = Case {
        rng,
        dir: tempfile::tempdir().unwrap(),
        options,
        model: Model::default(),
        truth: Truth {
            uids: Vec::new(),
            next_uid: 0,
            dense,
        },
        log: Vec::new(),
    };
    let mut cache = Some(case.open());
    let mut step = 0;
    while step < steps {
        let c = cache.as_mut().unwrap();
        let mut model = case.model.clone();
        let mut truth = case.truth.clone();
        let mut tx = c.transaction().unwrap();
        let n = 1 + case.rng.below(8);
        for _ in 0..n {
            let ctx = format!("seed {seed} step {step}");
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                case.step(&mut tx, &mut model, &mut truth);
                assert_same(&tx.view(), &model, &ctx);
            }));
            if let Err(e) = result {
                let tail: Vec<_> = case.log.iter().rev().take(12).rev().collect();
                panic!(
                    "{ctx} failed; last ops: {tail:#?}; cause: {:?}",
                    e.downcast_ref::<String>()
                );
            }
            step += 1;
        }
        let ctx = format!("seed {seed} step {step}");
        match case.rng.below(10) {
            0 => {
                case.log.push("abort".into());
                drop(tx);
                assert_same(&c.view(), &case.model, &format!("{ctx} after abort"));
            }
            _ => {
                case.log.push("commit".into());
                tx.commit().unwrap();
                case.model = model;
                case.truth = truth;
                assert_same(&c.view(), &case.model, &format!("{ctx} after commit"));
            }
        }
        match case.rng.below(12) {
            0 => {
                case.log.push("reopen".into());
                // The old handle (and its lock) must be gone before the new one opens.
                drop(cache.take());
                cache = Some(case.open());
                assert_same(
                    &cache.as_ref().unwrap().view(),
                    &case.model,
                    &format!("{ctx} after reopen"),
                );
            }
            1 => {
                case.log.push("compact".into());
                cache.as_mut().unwrap().compact().unwrap();
                assert_same(
                    &cache.as_ref().unwrap().view(),
                    &case.model,
                    &format!("{ctx} after compact"),
                );
            }
            2 => {
                case.log.push("checkpoint".into());
                cache.as_mut().unwrap().checkpoint().unwrap();
            }
            3 => {
                let reader = Cache::open_read_only(case.dir.path()).unwrap();
                assert_same(&reader.view(), &case.model, &format!("{ctx} read-only"));
            }
            4 | 5 => {
                // A bounded compaction step (issue 12), published by a later checkpoint.
                let budget = 1 + case.rng.below(3000);
                case.log.push(format!("compact_step({budget})"));
                cache.as_mut().unwrap().compact_step(budget).unwrap();
                assert_same(
                    &cache.as_ref().unwrap().view(),
                    &case.model,
                    &format!("{ctx} after compact_step"),
                );
            }
            _ => {}
        }
    }
    drop(cache);
    let reopened = case.open();
    assert_same(
        &reopened.view(),
        &case.model,
        &format!("seed {seed} final reopen"),
    );
}

/// Cases to run (`UIDCACHE_MODEL_CASES`, else `default`) and the first seed
/// (`UIDCACHE_MODEL_SEED`, else 1).
fn seeds(default: u64) -> std::ops::Range<u64> {
    let cases: u64 = std::env::var("UIDCACHE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let first: u64 = std::env::var("UIDCACHE_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    first..first + cases
}

#[test]
fn engine_matches_model() {
    for seed in seeds(3000) {
        run_case(seed, 60, false);
    }
}

/// The same over mostly consecutive UIDs (issue 12): removals, splits and UID lookups
/// through dense slices, which take UIDs and positions from the index entry alone, next to
/// slices with gaps and compacted ones, agree with the model after every op.
#[test]
fn engine_matches_model_over_dense_uids() {
    for seed in seeds(1500) {
        run_case(seed, 60, true);
    }
}

#[test]
fn peek_answers_from_memory_only_and_never_differs() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000u32;
    let uid = |seq: u32| seq * 2 + 1;
    {
        let mut cache = Cache::open(dir.path()).unwrap();
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(n).unwrap();
        let uids: Vec<u32> = (1..=n).map(uid).collect();
        tx.learn_range(1, &uids).unwrap();
        tx.commit().unwrap();
    }
    let mut cache = Cache::open(dir.path()).unwrap();
    let view = cache.view();
    assert_eq!(view.peek_message_at(1), None, "nothing is read yet");
    // A block's first read checks a copy; its second maps it, and then peeks can answer.
    for _ in 0..2 {
        for seq in 1..=n {
            assert_eq!(view.message_at(seq).unwrap().unwrap().uid, uid(seq));
        }
    }
    let mut answered = 0;
    for seq in 1..=n + 1 {
        if let Some(m) = view.peek_message_at(seq) {
            assert_eq!(Some(m), view.message_at(seq).unwrap(), "seq {seq}");
            answered += 1;
        }
    }
    assert!(
        answered > n * 3 / 4,
        "only {answered} of {n} read twice were answered from memory"
    );
    assert_eq!(view.peek_message_at(n + 1), None, "past the end");
    // A flag change waits in the overlay: the peek steps aside, the full read has it.
    let mut tx = cache.transaction().unwrap();
    let update = Update {
        flags: Some(&[b"\\Seen"]),
        modseq: Some(7),
    };
    tx.update_seq(5, update).unwrap();
    tx.commit().unwrap();
    let view = cache.view();
    for _ in 0..2 {
        view.message_at(5).unwrap();
    }
    assert_eq!(view.peek_message_at(5), None);
    assert_eq!(view.message_at(5).unwrap().unwrap().modseq, Some(7));
}
