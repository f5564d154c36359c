//! The flag overlay in memory: UID → [`Meta`], sorted, in short sorted vectors.
//!
//! A `BTreeMap` (11 keys a node) was 40% of a durable flag storm's time (a search for
//! `set_meta`'s merge, another for the insert, each a chase through several nodes), 2.6 ms
//! of a 1M VANISHED commit (its removals from 190,000 entries), and half of a checkpoint's
//! index image at 10M (walking the nodes). Here the entries lie in chunks of at most
//! `MAX_CHUNK`, with every chunk's last UID in one array: a lookup is a binary search of
//! that array and one of a chunk, both in a few cache lines; an insert or removal moves at
//! most a chunk's tail; a walk (iteration, `retain`) is a pass over arrays.

use std::ops::RangeInclusive;

use crate::state::Meta;

/// Entries per chunk at most. An insert or removal moves half a chunk on average (24 bytes
/// an entry, 3 KiB at 256); a lookup costs log2(entries / 256) probes of `lasts` more.
const MAX_CHUNK: usize = 64;

/// A chunk this short after a removal joins its successor if both fit in one.
const MIN_CHUNK: usize = MAX_CHUNK / 4;

/// The overlay: a sorted map from UID to [`Meta`] (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overlay {
    /// Non-empty, each sorted by UID, ascending from chunk to chunk.
    chunks: Vec<Vec<(u32, Meta)>>,
    /// The last UID of each chunk.
    lasts: Vec<u32>,
    len: usize,
}

impl Overlay {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every entry.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.lasts.clear();
        self.len = 0;
    }

    /// The chunk that holds `uid` if any chunk does: the first whose last UID is not below.
    fn chunk_of(&self, uid: u32) -> usize {
        self.lasts.partition_point(|last| *last < uid)
    }

    /// The entry of `uid`.
    pub(crate) fn get(&self, uid: &u32) -> Option<&Meta> {
        let chunk = self.chunks.get(self.chunk_of(*uid))?;
        let at = chunk.binary_search_by_key(uid, |(u, _)| *u).ok()?;
        chunk.get(at).map(|(_, m)| m)
    }

    /// Sets the entry of `uid`; returns the one it replaced.
    pub(crate) fn insert(&mut self, uid: u32, meta: Meta) -> Option<Meta> {
        if self.chunks.is_empty() {
            self.chunks.push(vec![(uid, meta)]);
            self.lasts.push(uid);
            self.len = 1;
            return None;
        }
        // Past every chunk's last UID: the end of the last chunk.
        let c = self.chunk_of(uid).min(self.chunks.len() - 1);
        let chunk = self.chunks.get_mut(c)?;
        match chunk.binary_search_by_key(&uid, |(u, _)| *u) {
            Ok(at) => chunk.get_mut(at).map(|e| std::mem::replace(&mut e.1, meta)),
            Err(at) => {
                chunk.insert(at, (uid, meta));
                self.len += 1;
                if let (Some(last), Some((tail, _))) = (self.lasts.get_mut(c), chunk.last()) {
                    *last = *tail;
                }
                if chunk.len() > MAX_CHUNK {
                    self.split(c);
                }
                None
            }
        }
    }

    /// Cuts chunk `c` in two halves.
    fn split(&mut self, c: usize) {
        let Some(chunk) = self.chunks.get_mut(c) else {
            return;
        };
        let upper = chunk.split_off(chunk.len() / 2);
        let (Some((low_last, _)), Some((high_last, _))) = (chunk.last(), upper.last()) else {
            return;
        };
        let (low_last, high_last) = (*low_last, *high_last);
        if let Some(last) = self.lasts.get_mut(c) {
            *last = low_last;
        }
        self.chunks.insert(c + 1, upper);
        self.lasts.insert(c + 1, high_last);
    }

    /// Removes the entry of `uid`; returns it.
    pub(crate) fn remove(&mut self, uid: &u32) -> Option<Meta> {
        let c = self.chunk_of(*uid);
        let chunk = self.chunks.get_mut(c)?;
        let at = chunk.binary_search_by_key(uid, |(u, _)| *u).ok()?;
        let (_, meta) = chunk.remove(at);
        self.len -= 1;
        match chunk.last() {
            None => {
                self.chunks.remove(c);
                self.lasts.remove(c);
            }
            Some((tail, _)) => {
                let tail = *tail;
                if let Some(last) = self.lasts.get_mut(c) {
                    *last = tail;
                }
                if chunk.len() < MIN_CHUNK {
                    self.join_next(c);
                }
            }
        }
        Some(meta)
    }

    /// Moves chunk `c + 1` into chunk `c` when both fit in one.
    fn join_next(&mut self, c: usize) {
        let fits = match (self.chunks.get(c), self.chunks.get(c + 1)) {
            (Some(a), Some(b)) => a.len() + b.len() <= MAX_CHUNK,
            _ => false,
        };
        if !fits {
            return;
        }
        let next = self.chunks.remove(c + 1);
        let next_last = self.lasts.remove(c + 1);
        if let Some(chunk) = self.chunks.get_mut(c) {
            chunk.extend(next);
        }
        if let Some(last) = self.lasts.get_mut(c) {
            *last = next_last;
        }
    }

    /// Keeps the entries for which `keep` holds, in one pass (UIDs ascending).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&u32, &mut Meta) -> bool) {
        for chunk in &mut self.chunks {
            chunk.retain_mut(|(uid, meta)| keep(uid, meta));
        }
        if self.chunks.iter().all(|c| c.len() >= MIN_CHUNK) {
            // Nothing to regroup: only the lasts and the count change.
            self.lasts = self
                .chunks
                .iter()
                .filter_map(|c| c.last().map(|e| e.0))
                .collect();
            self.len = self.chunks.iter().map(Vec::len).sum();
            return;
        }
        let entries: Vec<(u32, Meta)> = self.chunks.drain(..).flatten().collect();
        self.clear();
        self.extend_sorted(entries);
    }

    /// Appends `entries` (ascending, all above the last UID) in half-full chunks.
    fn extend_sorted(&mut self, entries: Vec<(u32, Meta)>) {
        for part in entries.chunks(MAX_CHUNK / 2) {
            if let Some((last, _)) = part.last() {
                self.lasts.push(*last);
                self.chunks.push(part.to_vec());
                self.len += part.len();
            }
        }
    }

    /// Every entry, UIDs ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u32, &Meta)> + '_ {
        self.chunks.iter().flatten().map(|(uid, meta)| (uid, meta))
    }

    /// Every UID, ascending.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &u32> + '_ {
        self.iter().map(|(uid, _)| uid)
    }

    /// Every entry's value, UIDs ascending.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Meta> + '_ {
        self.iter().map(|(_, meta)| meta)
    }

    /// The entries with UIDs in `range`, ascending.
    pub(crate) fn range(
        &self,
        range: RangeInclusive<u32>,
    ) -> impl Iterator<Item = (&u32, &Meta)> + '_ {
        let (first, last) = range.into_inner();
        let c = self.chunk_of(first);
        let at = self
            .chunks
            .get(c)
            .map_or(0, |chunk| chunk.partition_point(|(uid, _)| *uid < first));
        self.chunks
            .get(c..)
            .unwrap_or_default()
            .iter()
            .flatten()
            .skip(at)
            .take_while(move |(uid, _)| *uid <= last)
            .map(|(uid, meta)| (uid, meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn meta(n: u64) -> Meta {
        Meta {
            flags: n as u32,
            modseq: n,
        }
    }

    /// The structure's own rules: chunks non-empty and not over `MAX_CHUNK`, sorted within
    /// and across, `lasts` and `len` in step.
    fn check(o: &Overlay) {
        assert_eq!(o.chunks.len(), o.lasts.len());
        let mut prev = None;
        for (chunk, last) in o.chunks.iter().zip(&o.lasts) {
            assert!(!chunk.is_empty() && chunk.len() <= MAX_CHUNK);
            assert_eq!(chunk.last().map(|e| e.0), Some(*last));
            for (uid, _) in chunk {
                assert!(prev.is_none_or(|p| p < *uid), "{prev:?} then {uid}");
                prev = Some(*uid);
            }
        }
        assert_eq!(o.len, o.chunks.iter().map(Vec::len).sum::<usize>());
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u32, u64),
        Remove(u32),
        Retain(u32),
        Clear,
    }

    fn step(span: u32) -> impl Strategy<Value = Step> {
        prop_oneof![
            12 => (0..span, any::<u64>()).prop_map(|(u, m)| Step::Insert(u, m)),
            8 => (0..span).prop_map(Step::Remove),
            1 => (2..9u32).prop_map(Step::Retain),
            1 => Just(Step::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any sequence of changes leaves what a `BTreeMap` holds after the same changes, and
        /// every read (get, iteration, ranges) answers as the map does.
        #[test]
        fn the_overlay_answers_as_a_btreemap_does(
            steps in proptest::collection::vec(step(3_000), 1..4_000),
            probes in proptest::collection::vec((0..3_100u32, 0..400u32), 20),
        ) {
            let mut o = Overlay::default();
            let mut m: BTreeMap<u32, Meta> = BTreeMap::new();
            for s in &steps {
                match *s {
                    Step::Insert(u, n) => prop_assert_eq!(o.insert(u, meta(n)), m.insert(u, meta(n))),
                    Step::Remove(u) => prop_assert_eq!(o.remove(&u), m.remove(&u)),
                    Step::Retain(k) => {
                        o.retain(|u, _| u % k != 0);
                        m.retain(|u, _| u % k != 0);
                    }
                    Step::Clear => {
                        o.clear();
                        m.clear();
                    }
                }
                // After every change: a wrong `lasts` entry heals at the chunk's next
                // removal, so a check at the end only would miss it.
                check(&o);
            }
            prop_assert_eq!(o.len(), m.len());
            prop_assert_eq!(o.is_empty(), m.is_empty());
            let all: Vec<(u32, Meta)> = o.iter().map(|(u, v)| (*u, *v)).collect();
            let want: Vec<(u32, Meta)> = m.iter().map(|(u, v)| (*u, *v)).collect();
            prop_assert_eq!(&all, &want);
            prop_assert!(o.keys().copied().eq(m.keys().copied()));
            prop_assert!(o.values().copied().eq(m.values().copied()));
            for (first, width) in probes {
                prop_assert_eq!(o.get(&first), m.get(&first));
                let last = first.saturating_add(width);
                let got: Vec<u32> = o.range(first..=last).map(|(u, _)| *u).collect();
                let want: Vec<u32> = m.range(first..=last).map(|(u, _)| *u).collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn ascending_inserts_split_and_removals_join() {
        let mut o = Overlay::default();
        for uid in 0..(MAX_CHUNK as u32 * 8) {
            o.insert(uid, meta(u64::from(uid)));
        }
        check(&o);
        assert!(o.chunks.len() >= 8, "{} chunks", o.chunks.len());
        let before = o.chunks.len();
        for uid in 0..(MAX_CHUNK as u32 * 6) {
            assert_eq!(o.remove(&uid), Some(meta(u64::from(uid))));
            check(&o);
        }
        check(&o);
        assert!(o.chunks.len() < before, "removals joined no chunk");
        assert_eq!(o.len(), MAX_CHUNK * 2);
    }
}
