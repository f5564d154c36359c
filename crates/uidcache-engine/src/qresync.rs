//! The values of the QRESYNC SELECT parameter (RFC 7162 section 3.2.5),
//! `(QRESYNC (uidvalidity modseq known-uids (known-sequence-set known-uid-set)))`: a pure
//! function of a [`View`], so that a client without an IMAP parser can resynchronize.

use std::collections::VecDeque;
use std::fmt;

use crate::blocks::WithPending;
use crate::slice::Slice;

use crate::error::Result;
use crate::view::View;

/// Longest known-uids list written out exactly; longer ones become `1:highest` (the server
/// then reports vanished UIDs we never knew, which costs bytes but loses nothing).
const MAX_KNOWN_UIDS_LEN: usize = 2000;

/// A set of UIDs as ascending, disjoint, non-adjacent inclusive ranges; displayed as an
/// IMAP sequence set (`1:3,5,7:9`). Collect it from ascending UIDs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidSet(Vec<(u32, u32)>);

impl UidSet {
    /// The ranges, ascending.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<u32> for UidSet {
    /// Builds the set from ascending UIDs; a value not above the previous one starts a
    /// new range, as it comes.
    fn from_iter<I: IntoIterator<Item = u32>>(values: I) -> Self {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for v in values {
            match ranges.last_mut() {
                Some((_, b)) if b.checked_add(1) == Some(v) => *b = v,
                _ => ranges.push((v, v)),
            }
        }
        UidSet(ranges)
    }
}

impl fmt::Display for UidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, &(a, b)) in self.0.iter().enumerate() {
            if k > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}:{b}")?;
            }
        }
        Ok(())
    }
}

/// What a client sends in `SELECT mailbox (QRESYNC (...))` for the cached state; its
/// `Display` is that parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QresyncParam {
    /// The cached UIDVALIDITY.
    pub uidvalidity: u32,
    /// The cached HIGHESTMODSEQ.
    pub modseq: u64,
    /// Every known UID (placed or unplaced), or `1:highest` when the exact set would be
    /// longer than 2000 characters. Empty when nothing is known.
    pub known_uids: UidSet,
    /// `(seq, uid)` pairs of placed messages, ascending, at distances 1, 2, 4, 8, ... below
    /// the highest known sequence number: dense where new expunges are likely to be
    /// compared, and logarithmic in the mailbox size (RFC 7162 section 3.2.5.2).
    pub sample: Vec<(u32, u32)>,
}

impl fmt::Display for QresyncParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(QRESYNC ({} {}", self.uidvalidity, self.modseq)?;
        if !self.known_uids.is_empty() {
            write!(f, " {}", self.known_uids)?;
            if !self.sample.is_empty() {
                let list = |f: &mut fmt::Formatter<'_>, pick: fn(&(u32, u32)) -> u32| {
                    for (k, pair) in self.sample.iter().enumerate() {
                        if k > 0 {
                            f.write_str(",")?;
                        }
                        write!(f, "{}", pick(pair))?;
                    }
                    Ok(())
                };
                f.write_str(" (")?;
                list(f, |p| p.0)?;
                f.write_str(" ")?;
                list(f, |p| p.1)?;
                f.write_str(")")?;
            }
        }
        f.write_str("))")
    }
}

impl View<'_> {
    /// The QRESYNC parameter for the cached state, or `None` when UIDVALIDITY or
    /// HIGHESTMODSEQ is unknown (QRESYNC needs both). Its `to_string()` is what follows the
    /// mailbox name in `SELECT`.
    ///
    /// Built from the index: a slice whose UIDs are consecutive (`last_uid - first_uid + 1
    /// == len`) is one range without reading its block, other slices are read only until
    /// the exact set grows past its 2000-character limit, and each sample is one record.
    pub fn qresync_param(&self) -> Result<Option<QresyncParam>> {
        let (Some(uidvalidity), Some(modseq)) = (self.uidvalidity(), self.highestmodseq()) else {
            return Ok(None);
        };
        Ok(Some(QresyncParam {
            uidvalidity,
            modseq,
            known_uids: self.known_uids()?,
            sample: self.sample()?,
        }))
    }

    /// Every known UID, or `1:highest` once the exact set is longer than
    /// [`MAX_KNOWN_UIDS_LEN`] characters.
    fn known_uids(&self) -> Result<UidSet> {
        let (placed, unplaced) = (&self.state.placed[..], &self.state.unplaced[..]);
        let highest = placed
            .last()
            .map(|s| s.last_uid)
            .max(unplaced.last().map(|s| s.last_uid));
        let Some(highest) = highest else {
            return Ok(UidSet::default());
        };
        let mut set = ExactSet::default();
        // Placed and unplaced slices each ascend by UID and never share one, but an unplaced
        // slice's extent may span placed slices (a compaction merges unplaced neighbours
        // across them), so the two lists are merged run by run, not slice by slice.
        let mut placed = Runs::new(placed, &self.src);
        let mut unplaced = Runs::new(unplaced, &self.src);
        loop {
            let from_placed = match (placed.peek()?, unplaced.peek()?) {
                (Some(p), Some(u)) => p.0 < u.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let run = if from_placed {
                placed.pop()
            } else {
                unplaced.pop()
            };
            if let Some((a, b)) = run {
                if !set.push(a, b) {
                    return Ok(UidSet(vec![(1, highest)]));
                }
            }
        }
        Ok(set.finish())
    }

    /// `(seq, uid)` of the placed messages at distances 1, 2, 4, ... (counted in placed
    /// messages) below the last one, ascending.
    fn sample(&self) -> Result<Vec<(u32, u32)>> {
        let placed = &self.state.placed[..];
        let total: u64 = placed.iter().map(|s| u64::from(s.len)).sum();
        // Positions (0-based, among placed messages) wanted, descending.
        let mut wanted = Vec::new();
        let (mut k, mut step) = (total, 1u64);
        while k > 0 {
            wanted.push(k - 1);
            k = k.saturating_sub(step);
            step = step.saturating_mul(2);
        }
        let mut sample = Vec::with_capacity(wanted.len());
        let mut wanted = wanted.into_iter().peekable();
        // Walk the slices from the end; `after` is the placed messages past slice `s`.
        let mut after = total;
        for s in placed.iter().rev() {
            let first = after - u64::from(s.len);
            let mut records = None;
            while let Some(&pos) = wanted.peek().filter(|&&p| p >= first) {
                wanted.next();
                let k = (pos - first) as u32;
                let uid = match k {
                    0 => s.first_uid,
                    k if k + 1 == s.len => s.last_uid,
                    k => {
                        if records.is_none() {
                            records = Some(s.uids(&self.src)?);
                        }
                        records.as_ref().map_or(0, |v| v.uid(k))
                    }
                };
                sample.push((s.seq + k, uid));
            }
            if wanted.peek().is_none() {
                break;
            }
            after = first;
        }
        sample.reverse();
        Ok(sample)
    }
}

/// How many UIDs `first..=last` holds (`None` for a reversed pair, which only damage makes).
fn span(first: u32, last: u32) -> Option<u64> {
    u64::from(last).checked_sub(u64::from(first)).map(|d| d + 1)
}

/// Adds the UIDs of `records` (ascending, from `first` to `last`) to `set` as
/// runs: a part whose UID span equals its length is one run; others are halved. Reads
/// O(gaps × log n) records instead of all of them, so a slice with a few expunged
/// messages costs a few page reads.
fn push_runs(
    runs: &mut VecDeque<(u32, u32)>,
    first: u32,
    last: u32,
    records: &[uidcache_format::Record],
) {
    let n = records.len();
    if n == 0 {
        return;
    }
    if span(first, last) == Some(n as u64) {
        runs.push_back((first, last));
        return;
    }
    let (left, right) = records.split_at(n / 2);
    crate::walked::add(2);
    let (Some(left_last), Some(right_first)) = (left.last(), right.first()) else {
        return;
    };
    push_runs(runs, first, left_last.uid.get(), left);
    push_runs(runs, right_first.uid.get(), last, right);
}

/// The runs of consecutive UIDs of a list of slices (ascending by UID), one slice's worth
/// at a time: a slice whose UIDs are consecutive is one run read from the index alone.
struct Runs<'v> {
    slices: std::slice::Iter<'v, Slice>,
    src: &'v WithPending<'v>,
    runs: VecDeque<(u32, u32)>,
}

impl<'v> Runs<'v> {
    fn new(slices: &'v [Slice], src: &'v WithPending<'v>) -> Self {
        Runs {
            slices: slices.iter(),
            src,
            runs: VecDeque::new(),
        }
    }

    /// The next run, reading the next slice when this one's are used up.
    fn peek(&mut self) -> Result<Option<(u32, u32)>> {
        while self.runs.is_empty() {
            let Some(s) = self.slices.next() else {
                return Ok(None);
            };
            if s.is_dense() {
                self.runs.push_back((s.first_uid, s.last_uid));
            } else {
                let view = s.view(self.src)?;
                push_runs(&mut self.runs, s.first_uid, s.last_uid, view.records());
            }
        }
        Ok(self.runs.front().copied())
    }

    fn pop(&mut self) -> Option<(u32, u32)> {
        self.runs.pop_front()
    }
}

/// A [`UidSet`] built from ascending ranges that gives up once its text would be longer
/// than [`MAX_KNOWN_UIDS_LEN`].
#[derive(Default)]
struct ExactSet {
    ranges: Vec<(u32, u32)>,
    /// Length of the text of every range but the last (which may still grow), commas
    /// included.
    closed_len: usize,
}

impl ExactSet {
    /// Adds `a..=b` (above everything so far); `false` once the text is too long.
    fn push(&mut self, a: u32, b: u32) -> bool {
        match self.ranges.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(a) => *last = b,
            _ => {
                if let Some(&closed) = self.ranges.last() {
                    self.closed_len += text_len(closed) + 1;
                }
                self.ranges.push((a, b));
            }
        }
        self.closed_len + self.ranges.last().map_or(0, |&r| text_len(r)) <= MAX_KNOWN_UIDS_LEN
    }

    fn finish(self) -> UidSet {
        UidSet(self.ranges)
    }
}

/// Characters of `a:b` (or `a`).
fn text_len((a, b): (u32, u32)) -> usize {
    let digits = |v: u32| v.checked_ilog10().map_or(1, |d| d as usize + 1);
    if a == b {
        digits(a)
    } else {
        digits(a) + 1 + digits(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_set_collects_runs_and_prints_as_imap() {
        let set: UidSet = [1, 2, 3, 5, 7, 8].into_iter().collect();
        assert_eq!(set.ranges(), &[(1, 3), (5, 5), (7, 8)]);
        assert_eq!(set.to_string(), "1:3,5,7:8");
        assert_eq!(UidSet::default().to_string(), "");
        let top: UidSet = [u32::MAX - 1, u32::MAX].into_iter().collect();
        assert_eq!(top.to_string(), "4294967294:4294967295");
    }

    #[test]
    fn the_parameter_samples_at_doubling_distances() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = crate::Cache::open(dir.path()).unwrap();
        let view = cache.view();
        assert_eq!(view.qresync_param().unwrap(), None);
        let mut tx = cache.transaction().unwrap();
        tx.set_uidvalidity(Some(7)).unwrap();
        tx.set_highestmodseq(Some(90)).unwrap();
        tx.set_exists(12).unwrap();
        tx.learn_range(1, &(1..=10).map(|s| s * 2).collect::<Vec<_>>())
            .unwrap();
        tx.commit().unwrap();
        let param = cache.view().qresync_param().unwrap().unwrap();
        // Placed 1..=10; samples at 10, 9, 7, 3.
        assert_eq!(param.sample, vec![(3, 6), (7, 14), (9, 18), (10, 20)]);
        assert_eq!(
            param.to_string(),
            "(QRESYNC (7 90 2,4,6,8,10,12,14,16,18,20 (3,7,9,10 6,14,18,20)))"
        );
    }
}
