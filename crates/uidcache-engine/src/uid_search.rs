//! The position of a UID among a slice's records (ascending, distinct UIDs).
//!
//! Once a read pinned a slice, its first UID lookup builds a [`UidIndex`] in memory: a rank
//! bitmap when the slice is dense (a lookup reads no record at all), else buckets of about
//! eight records by UID. Until then, and for unplaced slices, [`position_of`] searches the
//! records: a few interpolation probes, then a binary search of what is left.
//!
//! A slice's UIDs are often dense (UIDs rise by one per message until expunges thin them
//! out), so the record that a straight line between two known records points at is at or
//! next to the one sought; a binary search instead touches about `log2(len)` cache lines
//! spread over the block. Two facts bound each step:
//! - the answer lies strictly between the two records known to bracket it (the anchors),
//! - UIDs rise by at least one per record, so it lies no further from an anchor than the
//!   UID difference to that anchor.
//!
//! After `PROBES` probes the search falls back to a binary search of the window the anchors
//! leave, so the worst case (UIDs that cluster against the line) stays O(log n).

use uidcache_format::Record;

/// Interpolation probes before the binary search. One lands on the record in a dense
/// slice; the second and third correct a guess thrown off by uneven gaps. More rarely pay
/// for their division.
const PROBES: usize = 3;

/// `Ok(k)` when `records[k]` has `uid`, `Err(k)` where it would be inserted, as
/// `records.binary_search_by_key(&uid, ..)` says for records sorted by distinct UIDs.
/// On records that are not sorted, the answer is unspecified but the search still ends
/// without a panic.
#[inline]
pub(crate) fn position_of(records: &[Record], uid: u32) -> Result<usize, usize> {
    let uid_at = |k: usize| records.get(k).map_or(0, |r| r.uid.get());
    let last = records.len().saturating_sub(1);
    position_within(records, uid, (uid_at(0), uid_at(last)))
}

/// [`position_of`] when the UIDs of the first and last record are known already (a slice's
/// extent in the index): two loads fewer, often two cache misses fewer. With other `ends`
/// the answer is unspecified, but the search still ends without a panic.
#[inline]
pub(crate) fn position_within(
    records: &[Record],
    uid: u32,
    ends: (u32, u32),
) -> Result<usize, usize> {
    position_by(records, |r| r.uid.get(), uid, ends)
}

/// The search itself, over anything sorted by distinct UIDs.
#[inline]
fn position_by<T>(
    items: &[T],
    key: impl Fn(&T) -> u32,
    uid: u32,
    (first, last_uid): (u32, u32),
) -> Result<usize, usize> {
    let uid_at = |k: usize| items.get(k).map_or(0, &key);
    let Some(last) = items.len().checked_sub(1) else {
        return Err(0);
    };
    // The anchors: items `l` and `r`, with `uid_at(l) < uid < uid_at(r)`.
    let (mut l, mut r) = (0usize, last);
    let (mut lu, mut ru) = (first, last_uid);
    if uid <= lu {
        return if uid == lu { Ok(0) } else { Err(0) };
    }
    if uid >= ru {
        return if uid == ru { Ok(last) } else { Err(last + 1) };
    }
    for _ in 0..PROBES {
        let (lo, hi) = window(l, lu, r, ru, uid);
        if lo >= hi {
            return Err(lo);
        }
        // The straight line between the anchors; `lu < uid < ru`, so `l <= g < r`, and the
        // window keeps the probe strictly between the anchors.
        let g = l + (u64::from(uid - lu) * (r - l) as u64 / u64::from(ru - lu)) as usize;
        let g = g.clamp(lo, hi - 1);
        let ug = uid_at(g);
        match ug.cmp(&uid) {
            std::cmp::Ordering::Equal => return Ok(g),
            std::cmp::Ordering::Less => (l, lu) = (g, ug),
            std::cmp::Ordering::Greater => (r, ru) = (g, ug),
        }
    }
    let (lo, hi) = window(l, lu, r, ru, uid);
    let rest = items.get(lo..hi.max(lo)).unwrap_or_default();
    match rest.binary_search_by_key(&uid, key) {
        Ok(k) => Ok(lo + k),
        Err(k) => Err(lo + k),
    }
}

/// A slice's records by UID, built from them at the first UID lookup in the slice once a
/// read pinned it: a rank bitmap when the slice's UIDs are dense enough, else buckets.
#[derive(Debug)]
pub(crate) enum UidIndex {
    /// At least one record per [`MAX_UIDS_PER_RECORD`] UIDs of the slice's extent.
    Rank(UidRank),
    /// Sparser slices.
    Buckets(UidBuckets),
}

/// Slices whose UID extent is at most this many times their record count get a
/// [`UidRank`]: at most 2 bytes per record (16 bytes per 64 UIDs), an eighth of the records'
/// own size.
const MAX_UIDS_PER_RECORD: u64 = 8;

impl UidIndex {
    /// The index of `records`, sorted by distinct UIDs.
    pub(crate) fn new(records: &[Record]) -> UidIndex {
        let uid_at = |k: usize| records.get(k).map_or(0, |r| r.uid.get());
        let width = u64::from(uid_at(records.len().saturating_sub(1)).saturating_sub(uid_at(0)));
        if width < MAX_UIDS_PER_RECORD * records.len() as u64 {
            UidIndex::Rank(UidRank::new(records))
        } else {
            UidIndex::Buckets(UidBuckets::new(records))
        }
    }

    /// [`position_of`] in `records`, the ones the index was made of.
    #[inline]
    pub(crate) fn position(&self, records: &[Record], uid: u32) -> Result<usize, usize> {
        match self {
            UidIndex::Rank(rank) => rank.position(uid),
            UidIndex::Buckets(buckets) => buckets.position(records, uid),
        }
    }
}

/// 64 UIDs of a slice's extent: which of them are records, and how many records lie
/// before them.
#[derive(Debug, Clone, Copy)]
struct RankWord {
    bits: u64,
    rank: u32,
}

/// A slice's UID set as a bitmap over its extent, with the number of records before each
/// 64-bit word: the position of a UID is the word's count plus the ones below its bit, and
/// whether the bit is set says if the record exists. One load from an array of 16 bytes per
/// 64 UIDs (4 bits per record when UIDs rise by 2 on average; a record is 128), which stays
/// in the CPU's caches where the records do not; no record is read, and no branch depends
/// on the data, so a loop of lookups overlaps their loads.
#[derive(Debug)]
pub(crate) struct UidRank {
    /// The first record's UID: bit 0 of word 0.
    base: u32,
    words: Box<[RankWord]>,
    /// The record count: the answer past the last word.
    len: u32,
}

impl UidRank {
    fn new(records: &[Record]) -> UidRank {
        let base = records.first().map_or(0, |r| r.uid.get());
        let top = records.last().map_or(0, |r| r.uid.get());
        let count = (u64::from(top.saturating_sub(base)) >> 6) as usize + 1;
        let mut words = vec![RankWord { bits: 0, rank: 0 }; count];
        for r in records {
            let offset = u64::from(r.uid.get().wrapping_sub(base));
            if let Some(w) = words.get_mut((offset >> 6) as usize) {
                w.bits |= 1 << (offset & 63);
            }
        }
        let mut rank = 0u32;
        for w in &mut words {
            w.rank = rank;
            rank += w.bits.count_ones();
        }
        UidRank {
            base,
            words: words.into_boxed_slice(),
            len: records.len() as u32,
        }
    }

    #[inline]
    fn position(&self, uid: u32) -> Result<usize, usize> {
        let Some(offset) = uid.checked_sub(self.base) else {
            return Err(0);
        };
        let Some(w) = self.words.get((offset >> 6) as usize) else {
            return Err(self.len as usize);
        };
        let bit = offset & 63;
        let k = (w.rank + (w.bits & ((1u64 << bit) - 1)).count_ones()) as usize;
        if w.bits >> bit & 1 == 1 {
            Ok(k)
        } else {
            Err(k)
        }
    }
}

/// Records per bucket of [`UidBuckets`], about: two cache lines of records.
const RECORDS_PER_BUCKET: usize = 8;

/// Longer stretches (a dense run among sparse UIDs) get the interpolation search.
const SHORT_STRETCH: usize = 32;

/// A slice's records by UID, kept in memory once a read pinned the slice: the slice's UID
/// extent cut into equal buckets (a power of two UIDs wide, about one per
/// [`RECORDS_PER_BUCKET`] records), each with the index of its first record. A lookup reads
/// two adjacent entries and searches the few records between them, which lie in one or two
/// cache lines: no chain of dependent misses, and no data-dependent branch before the
/// records' own load, so a loop of lookups overlaps their misses as a binary search of a
/// flat array does. Costs 4 bytes per bucket (0.5 to 1 byte per record).
#[derive(Debug)]
pub(crate) struct UidBuckets {
    /// The first record's UID: bucket 0's first UID.
    base: u32,
    /// UIDs per bucket, as a power of two.
    shift: u32,
    /// `starts[b]`: the index of the first record whose UID is at least bucket `b`'s first
    /// UID, for every bucket and one past the last (the record count).
    starts: Box<[u32]>,
}

impl UidBuckets {
    /// The buckets of `records`, sorted by distinct UIDs.
    pub(crate) fn new(records: &[Record]) -> UidBuckets {
        let uid_at = |k: usize| records.get(k).map_or(0, |r| r.uid.get());
        let base = uid_at(0);
        let width = u64::from(uid_at(records.len().saturating_sub(1)).saturating_sub(base)) + 1;
        let wanted = (records.len() / RECORDS_PER_BUCKET).max(1) as u64;
        let shift = (width / wanted).max(1).ilog2();
        let buckets = (width >> shift) + 1;
        let mut starts = Vec::with_capacity(buckets as usize + 1);
        let mut k = 0usize;
        for b in 0..=buckets {
            let start = u64::from(base) + (b << shift);
            while k < records.len() && u64::from(uid_at(k)) < start {
                k += 1;
            }
            starts.push(k as u32);
        }
        UidBuckets {
            base,
            shift,
            starts: starts.into_boxed_slice(),
        }
    }

    /// [`position_of`] in `records`, the ones the buckets were made of.
    #[inline]
    pub(crate) fn position(&self, records: &[Record], uid: u32) -> Result<usize, usize> {
        let Some(offset) = uid.checked_sub(self.base) else {
            return Err(0);
        };
        let b = (offset >> self.shift) as usize;
        // Records before `lo` lie in earlier buckets, records from `hi` on in later ones.
        let (Some(&lo), Some(&hi)) = (self.starts.get(b), self.starts.get(b + 1)) else {
            return Err(records.len());
        };
        let (lo, hi) = (lo as usize, hi as usize);
        let stretch = records.get(lo..hi.max(lo)).unwrap_or_default();
        let found = if stretch.len() <= SHORT_STRETCH {
            stretch.binary_search_by_key(&uid, |r| r.uid.get())
        } else {
            position_of(stretch, uid)
        };
        match found {
            Ok(k) => Ok(lo + k),
            Err(k) => Err(lo + k),
        }
    }
}

/// The records `lo..hi` that can still hold `uid`, between anchors `l` (UID `lu < uid`) and
/// `r` (UID `ru > uid`): strictly between them, and within `uid - lu` records of `l` and
/// `ru - uid` records of `r`. Every record before `lo` has a lower UID and every record from
/// `hi` on a higher one, so `lo` is also the insertion point when the window is empty.
#[inline(always)]
fn window(l: usize, lu: u32, r: usize, ru: u32, uid: u32) -> (usize, usize) {
    let lo = (l + 1).max(r.saturating_sub((ru - uid) as usize));
    let hi = r.min(l.saturating_add((uid - lu) as usize).saturating_add(1));
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(uids: &[u32]) -> Vec<Record> {
        uids.iter().map(|&u| Record::new(u, 0, 0)).collect()
    }

    fn check(uids: &[u32]) {
        let rs = records(uids);
        let top = uids.last().copied().unwrap_or(0);
        for uid in 0..=top.saturating_add(2) {
            assert_eq!(
                position_of(&rs, uid),
                uids.binary_search(&uid),
                "uid {uid} in {uids:?}"
            );
        }
    }

    #[test]
    fn agrees_with_a_binary_search() {
        check(&[]);
        check(&[1]);
        check(&[5]);
        check(&[1, 2]);
        check(&[3, 9]);
        check(&(1..=100).collect::<Vec<_>>());
        check(&(0..100).map(|k| 7 + 3 * k).collect::<Vec<_>>());
        // Dense runs with one huge gap between them: interpolation aims far off.
        let mut skewed: Vec<u32> = (1..=60).collect();
        skewed.extend(5_000..5_010);
        check(&skewed);
        let mut skewed: Vec<u32> = vec![1];
        skewed.extend(4_000..4_100);
        check(&skewed);
        // Squares: a gap that grows along the slice.
        check(&(1..60).map(|k| k * k).collect::<Vec<_>>());
    }

    /// Every way to search `uids`: the interpolation search, and both kinds of index.
    fn check_indexes(uids: &[u32]) {
        let rs = records(uids);
        let top = uids.last().copied().unwrap_or(0);
        let rank = UidIndex::Rank(UidRank::new(&rs));
        let buckets = UidIndex::Buckets(UidBuckets::new(&rs));
        let chosen = UidIndex::new(&rs);
        for uid in (0..=top.saturating_add(70)).chain([u32::MAX - 1, u32::MAX]) {
            let want = uids.binary_search(&uid);
            assert_eq!(rank.position(&rs, uid), want, "rank, uid {uid} in {uids:?}");
            assert_eq!(buckets.position(&rs, uid), want, "buckets, uid {uid}");
            assert_eq!(chosen.position(&rs, uid), want, "chosen, uid {uid}");
        }
    }

    #[test]
    fn indexes_agree_with_a_binary_search() {
        check_indexes(&[]);
        check_indexes(&[1]);
        check_indexes(&[64, 65]);
        check_indexes(&(1..=300).collect::<Vec<_>>());
        check_indexes(&(0..300).map(|k| 5 + 3 * k + k % 2).collect::<Vec<_>>());
        // Words and buckets that are full, empty, and cut by the extent's end.
        let mut mixed: Vec<u32> = (100..=163).collect();
        mixed.extend((300..340).step_by(7));
        mixed.extend(1_000..1_100);
        check_indexes(&mixed);
        // A dense run after a long gap: one bucket holds most records (the long stretch).
        let mut skewed: Vec<u32> = vec![1, 9];
        skewed.extend(2_000..2_200);
        check_indexes(&skewed);
    }

    #[test]
    fn the_index_is_a_bitmap_only_for_dense_slices() {
        let dense = records(&(0..100).map(|k| 10 + 7 * k).collect::<Vec<_>>());
        assert!(matches!(UidIndex::new(&dense), UidIndex::Rank(_)));
        let sparse = records(&(0..100).map(|k| 10 + 9 * k).collect::<Vec<_>>());
        assert!(matches!(UidIndex::new(&sparse), UidIndex::Buckets(_)));
        let wide = records(&[1, u32::MAX]);
        assert!(matches!(UidIndex::new(&wide), UidIndex::Buckets(_)));
    }

    #[test]
    fn uids_near_the_top_do_not_overflow() {
        let uids = [1, 2, u32::MAX - 3, u32::MAX - 1, u32::MAX];
        let rs = records(&uids);
        let buckets = UidBuckets::new(&rs);
        let rank = UidRank::new(&records(&uids[2..]));
        for uid in [
            0,
            1,
            2,
            3,
            u32::MAX - 4,
            u32::MAX - 3,
            u32::MAX - 2,
            u32::MAX,
        ] {
            assert_eq!(position_of(&rs, uid), uids.binary_search(&uid), "uid {uid}");
            assert_eq!(
                buckets.position(&rs, uid),
                uids.binary_search(&uid),
                "uid {uid}"
            );
            assert_eq!(
                rank.position(uid),
                uids[2..].binary_search(&uid),
                "uid {uid}"
            );
        }
    }

    #[test]
    fn unsorted_records_end_without_a_panic() {
        let rs = records(&[9, 3, 7, 1, 8, 8, 2, 10]);
        for uid in 0..12 {
            let k = match position_of(&rs, uid) {
                Ok(k) => k,
                Err(k) => k,
            };
            assert!(k <= rs.len(), "uid {uid}: {k}");
        }
    }
}
