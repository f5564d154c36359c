//! The values of the QRESYNC SELECT parameter (RFC 7162 section 3.2.5),
//! `(QRESYNC (uidvalidity modseq known-uids (known-sequence-set known-uid-set)))`: a pure
//! function of a [`View`], so that a client without an IMAP parser can resynchronize.

use std::fmt;

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
    pub fn qresync_param(&self) -> Result<Option<QresyncParam>> {
        let (Some(uidvalidity), Some(modseq)) = (self.uidvalidity(), self.highestmodseq()) else {
            return Ok(None);
        };
        let placed: Vec<(u32, u32)> = self
            .messages()
            .map(|r| r.map(|(seq, m)| (seq, m.uid)))
            .collect::<Result<_>>()?;
        let mut uids: Vec<u32> = placed.iter().map(|(_, uid)| *uid).collect();
        uids.extend(self.unplaced_messages()?.iter().map(|m| m.uid));
        uids.sort_unstable();
        uids.dedup();
        let mut known_uids: UidSet = uids.iter().copied().collect();
        if known_uids.to_string().len() > MAX_KNOWN_UIDS_LEN {
            known_uids = uids
                .last()
                .map(|u| UidSet(vec![(1, *u)]))
                .unwrap_or_default();
        }
        let mut sample = Vec::new();
        let mut step = 1usize;
        let mut k = placed.len();
        while k > 0 {
            if let Some(pair) = placed.get(k - 1) {
                sample.push(*pair);
            }
            k = k.saturating_sub(step);
            step = step.saturating_mul(2);
        }
        sample.reverse();
        Ok(Some(QresyncParam {
            uidvalidity,
            modseq,
            known_uids,
            sample,
        }))
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
