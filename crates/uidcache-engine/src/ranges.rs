//! From a key to the range that holds it, among ascending, disjoint ranges of `u32` keys, in
//! O(1) for most keys: a table of equal key buckets, each naming the first range that can
//! hold its keys. The read index keeps one over the placed slices' sequence numbers and one
//! over their UIDs.
//!
//! A binary search of the slices themselves (32 bytes each) misses the cache on most of its
//! steps once there are thousands of slices; the bucket table is a few bytes per range and
//! a lookup reads one entry of it and one or two ranges beside each other.

/// One range: its first and last key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) first: u32,
    pub(crate) last: u32,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct RangeTable {
    /// The key of bucket 0's first key.
    base: u32,
    /// Keys per bucket, as a power of two.
    shift: u32,
    /// `first[b]`: the index of the first range whose last key is at least bucket `b`'s first
    /// key, `base + (b << shift)`, for every bucket and one past the last.
    first: Vec<u32>,
    /// The ranges in order, then a sentinel past every key (so that the range after a
    /// bucket's first candidate always exists).
    spans: Vec<Span>,
}

impl RangeTable {
    /// The table of `spans` (ascending, disjoint, `first <= last`), with buckets starting at
    /// key `base` (at most the first span's first key) and about `per_span` buckets per span.
    pub(crate) fn build(spans: &[Span], base: u32, per_span: usize) -> RangeTable {
        let end = spans.last().map_or(base, |s| s.last);
        let width = u64::from(end.saturating_sub(base)) + 1;
        let per_bucket = (width / (spans.len().max(1) * per_span.max(1)) as u64).max(1);
        let shift = per_bucket.ilog2();
        let buckets = (width >> shift) + 1;
        let mut first = Vec::with_capacity(buckets as usize + 1);
        let mut i = 0usize;
        for b in 0..=buckets {
            let start = u64::from(base) + (b << shift);
            while spans.get(i).is_some_and(|s| u64::from(s.last) < start) {
                i += 1;
            }
            first.push(i as u32);
        }
        let sentinel = Span {
            first: u32::MAX,
            last: u32::MAX,
        };
        RangeTable {
            base,
            shift,
            first,
            spans: spans.iter().copied().chain([sentinel]).collect(),
        }
    }

    /// Keys per bucket, as a power of two.
    pub(crate) fn shift(&self) -> u32 {
        self.shift
    }

    /// How many buckets cover the keys from `base` to the last span's last key.
    pub(crate) fn buckets(&self) -> usize {
        self.first.len() - 1
    }

    /// Span `i`, or the sentinel at `i == len`.
    #[inline(always)]
    pub(crate) fn span(&self, i: usize) -> Option<&Span> {
        self.spans.get(i)
    }

    /// `Ok(i)` when span `i` holds `key`, `Err(i)` when `key` lies in the gap before span `i`
    /// (or after the last one), as a binary search of the spans would say.
    #[inline(always)]
    pub(crate) fn find(&self, key: u32) -> std::result::Result<usize, usize> {
        let len = self.spans.len() - 1;
        let Some(offset) = key.checked_sub(self.base) else {
            // Below every bucket: below the first span.
            return Err(0);
        };
        let b = (offset >> self.shift) as usize;
        let Some(&lo) = self.first.get(b) else {
            // Past the last bucket: past the last span.
            return Err(len);
        };
        let lo = lo as usize;
        // The bucket's first candidate, or the next one when `key` lies past its end (the
        // sentinel has no end).
        let mut i = lo + usize::from(self.spans.get(lo).is_some_and(|s| s.last < key));
        let mut at = self.spans.get(i);
        if at.is_some_and(|s| s.last < key) {
            i = self.search_bucket(b, lo, key);
            at = self.spans.get(i);
        }
        match at {
            Some(s) if s.first <= key && i < len => Ok(i),
            _ => Err(i.min(len)),
        }
    }

    /// `find` in a bucket that holds several (short) spans: a search of its candidates.
    /// Kept out of line so that the common case stays short.
    #[inline(never)]
    fn search_bucket(&self, b: usize, lo: usize, key: u32) -> usize {
        let hi = self.first.get(b + 1).map_or(self.spans.len(), |&h| {
            (h as usize + 1).min(self.spans.len())
        });
        let candidates = self.spans.get(lo..hi).unwrap_or_default();
        lo + candidates.partition_point(|s| s.last < key)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What [`RangeTable::find`] must say: a binary search of all the spans.
    pub(crate) fn search(spans: &[Span], key: u32) -> std::result::Result<usize, usize> {
        let i = spans.partition_point(|s| s.last < key);
        match spans.get(i) {
            Some(s) if s.first <= key => Ok(i),
            _ => Err(i),
        }
    }

    #[test]
    fn find_agrees_with_a_search_of_all_spans() {
        let span = |first, len| Span {
            first,
            last: first + len - 1,
        };
        // Gaps, one-key spans, long spans, a crowded stretch, and keys near u32::MAX.
        let mut layouts = vec![
            vec![],
            vec![span(5, 1)],
            vec![span(1, 1000)],
            vec![span(7, 3), span(u32::MAX - 10, 5), span(u32::MAX - 2, 3)],
        ];
        let mut mixed = vec![span(3, 5), span(10, 1), span(11, 1), span(12, 40)];
        mixed.extend((0..30).map(|k| span(60 + 2 * k, 1)));
        mixed.push(span(200, 100));
        mixed.push(span(100_000, 3));
        layouts.push(mixed);
        let mut crowded: Vec<Span> = (0..64).map(|k| span(k + 1, 1)).collect();
        crowded.push(span(65, 5000));
        layouts.push(crowded);
        for spans in layouts {
            let mut keys: Vec<u32> = (0..400).chain(99_990..100_010).collect();
            for s in &spans {
                keys.extend([
                    s.first.saturating_sub(1),
                    s.first,
                    s.last,
                    s.last.saturating_add(1),
                ]);
            }
            keys.extend([u32::MAX - 1, u32::MAX]);
            for base in [0, 1, spans.first().map_or(0, |s| s.first)] {
                let table = RangeTable::build(&spans, base, 4);
                for &key in &keys {
                    assert_eq!(
                        table.find(key),
                        search(&spans, key),
                        "key {key} base {base}"
                    );
                }
            }
        }
    }
}
