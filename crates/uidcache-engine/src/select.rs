//! Recording a SELECT/EXAMINE: which cached positions survive a reconnect.
//!
//! Between two sessions other clients may expunge and append messages, so a sequence number
//! the cache placed last time may now hold another message. What the server proves decides
//! what stays placed:
//! - a new UIDVALIDITY: a different mailbox; everything is dropped;
//! - a plain SELECT: nothing is proven, so every record loses its position (it becomes
//!   unplaced: kept by UID with its flags and MODSEQ, placed again when a later search or
//!   FETCH names its UID);
//! - a QRESYNC SELECT (RFC 7162 3.2.5): the server reports every expunge since the cache's
//!   HIGHESTMODSEQ in `VANISHED (EARLIER)`, so the run of known positions from sequence
//!   number 1 (the proven prefix) stays placed once those UIDs are removed from it.

use std::ops::RangeInclusive;

use crate::error::{InvalidOp, Result};
use crate::txn::Transaction;
use crate::view::Segment;

/// What a SELECT or EXAMINE response said, for [`Transaction::record_select`]. Built with
/// [`SelectResult::new`] and the setters; what the response did not carry stays unset.
///
/// ```
/// use uidcache_engine::SelectResult;
/// // * 12 EXISTS, * OK [UIDVALIDITY 42], * OK [UIDNEXT 31], * VANISHED (EARLIER) 3:5
/// let vanished = [3..=5];
/// let select = SelectResult::new()
///     .uidvalidity(42)
///     .exists(12)
///     .uidnext(31)
///     .qresync(&vanished);
/// # let _ = select;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SelectResult<'a> {
    uidvalidity: Option<u32>,
    exists: Option<u32>,
    uidnext: Option<u32>,
    qresync: Option<&'a [RangeInclusive<u32>]>,
}

impl<'a> SelectResult<'a> {
    /// A result with nothing set: a plain SELECT that reported nothing the cache stores.
    pub fn new() -> SelectResult<'a> {
        SelectResult::default()
    }

    /// `[UIDVALIDITY v]`.
    #[must_use]
    pub fn uidvalidity(mut self, v: u32) -> SelectResult<'a> {
        self.uidvalidity = Some(v);
        self
    }

    /// `* n EXISTS`: the mailbox's count now. It may be below the cached count (messages
    /// were expunged since); see [`Transaction::record_select`].
    #[must_use]
    pub fn exists(mut self, n: u32) -> SelectResult<'a> {
        self.exists = Some(n);
        self
    }

    /// `[UIDNEXT n]`.
    #[must_use]
    pub fn uidnext(mut self, n: u32) -> SelectResult<'a> {
        self.uidnext = Some(n);
        self
    }

    /// The SELECT carried a `(QRESYNC (...))` parameter built from this cache (its
    /// UIDVALIDITY and HIGHESTMODSEQ), and the server answered with these
    /// `VANISHED (EARLIER)` UIDs, as inclusive ranges (empty when it sent none; the same
    /// ranges as [`Transaction::remove_uids`] takes). Without
    /// this call the SELECT counts as a plain one, which proves no position.
    #[must_use]
    pub fn qresync(mut self, vanished_earlier: &'a [RangeInclusive<u32>]) -> SelectResult<'a> {
        self.qresync = Some(vanished_earlier);
        self
    }
}

/// What [`Transaction::record_select`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectOutcome {
    /// The UIDVALIDITY differed from the cached one: every record and HIGHESTMODSEQ were
    /// dropped.
    pub cleared: bool,
    /// Sequence numbers `1..=kept` stayed placed; every later record became unplaced.
    pub kept: u32,
    /// Records stayed (by UID) whose flags the SELECT proved nothing about: a plain SELECT
    /// (no QRESYNC) of a cache that held records, with the same UIDVALIDITY. Their flags may
    /// be older than the server's `[HIGHESTMODSEQ]`, which must therefore not be stored until
    /// they are refetched (format-spec 9.1).
    pub unproven_flags: bool,
}

impl Transaction<'_> {
    /// Records a SELECT/EXAMINE response and applies the reconnect rule (see
    /// [`SelectResult`]): a new UIDVALIDITY drops everything; without QRESYNC no record
    /// stays placed; with QRESYNC the run of known positions from sequence number 1 stays,
    /// minus the `VANISHED (EARLIER)` UIDs in it (later messages shift down). Every other
    /// record keeps its UID, flags and MODSEQ but loses its position, so the count may
    /// shrink to any value the proven run allows: an EXISTS below the cached count is
    /// normal after other clients expunged.
    ///
    /// Call it once the SELECT's untagged responses are in (before applying its FETCH
    /// responses, in the same transaction). `VANISHED (EARLIER)` UIDs outside the kept run
    /// need nothing more: their records are unplaced, and no server names them again
    /// ([`Transaction::forget_uid`] frees them).
    ///
    /// HIGHESTMODSEQ is not changed (except cleared with a new UIDVALIDITY): it claims that
    /// the cache holds every change up to it, which only the caller knows. After a QRESYNC
    /// SELECT, set the server's `[HIGHESTMODSEQ n]` once its FETCH responses are applied;
    /// after a plain SELECT that left [`SelectOutcome::unproven_flags`], only once the flags
    /// changed since the stored value are fetched (`FETCH 1:* (FLAGS) (CHANGEDSINCE m)`).
    ///
    /// With QRESYNC, an EXISTS below the kept run is refused with
    /// [`InvalidOp::UnreportedExpunge`] and nothing changes: the server never reported an
    /// expunge among messages the cache holds, so the cached HIGHESTMODSEQ claimed changes
    /// it never saw. Drop the positions and HIGHESTMODSEQ (`unplace(1, u32::MAX)`,
    /// `set_highestmodseq(None)`) and record the SELECT again without QRESYNC.
    pub fn record_select(&mut self, select: &SelectResult<'_>) -> Result<SelectOutcome> {
        let cleared = self.uidvalidity_differs(select.uidvalidity);
        let unproven_flags = !cleared && select.qresync.is_none() && self.record_count() > 0;
        // Every check before the first change, so that a refusal changes nothing.
        let (keep, gone) = match select.qresync {
            Some(vanished) if !cleared => self.proven_prefix(vanished)?,
            _ => (0, Vec::new()),
        };
        if let Some(n) = select.exists {
            if n < keep {
                return Err(InvalidOp::UnreportedExpunge {
                    exists: n,
                    known: keep,
                }
                .into());
            }
        }
        if let Some(v) = select.uidvalidity {
            self.record_uidvalidity(v)?;
        }
        let old_count = self.view().exists();
        for &(lo, hi) in gone.iter().rev() {
            for seq in (lo..=hi).rev() {
                self.expunge(seq)?;
            }
        }
        let count = self.view().exists().unwrap_or(0);
        if keep < count {
            self.unplace(keep + 1, count)?;
        }
        // The SELECT's EXISTS is the new count; without one, VANISHED (EARLIER) does not
        // change the count (the expunges above only moved the run's later records down).
        if let Some(n) = select.exists.or(old_count) {
            self.set_exists(n)?;
        }
        if let Some(n) = select.uidnext {
            self.set_uidnext(Some(n))?;
        }
        Ok(SelectOutcome {
            cleared,
            kept: keep,
            unproven_flags,
        })
    }

    /// Records `[UIDVALIDITY v]`, at a SELECT or any time: when it differs from the cached
    /// value, the mailbox is another one, so every record and HIGHESTMODSEQ are dropped
    /// (the count and UIDNEXT stay: they describe the mailbox, not the records). Returns
    /// whether they were dropped. An unknown cached value is not a difference.
    pub fn record_uidvalidity(&mut self, v: u32) -> Result<bool> {
        let differs = self.uidvalidity_differs(Some(v));
        if differs {
            let (exists, uidnext) = (self.view().exists(), self.view().uidnext());
            self.clear()?;
            if let Some(n) = exists {
                self.set_exists(n)?;
            }
            self.set_uidnext(uidnext)?;
        }
        self.set_uidvalidity(Some(v))?;
        Ok(differs)
    }

    fn uidvalidity_differs(&self, v: Option<u32>) -> bool {
        let stored = self.view().uidvalidity();
        matches!((stored, v), (Some(s), Some(v)) if s != v)
    }

    /// The run of known positions from 1 that a QRESYNC SELECT proves: its length after the
    /// `vanished` UIDs are removed, and the sequence ranges of those UIDs within it
    /// (ascending, disjoint). Costs a search of the slices' UID extents and one block read
    /// per range end, not a walk of the UIDs.
    fn proven_prefix(&self, vanished: &[RangeInclusive<u32>]) -> Result<(u32, Vec<(u32, u32)>)> {
        let view = self.view();
        let prefix = match view.segments().first() {
            Some(Segment::Known(1, last)) => *last,
            _ => return Ok((0, Vec::new())),
        };
        // The first position whose UID is at least `uid`, or `prefix + 1`. Placed UIDs
        // ascend with their positions, so the slices' UID extents find the one block to
        // search: a bisection by position read a block at each of its ~24 steps (300
        // expunges at 10M opened 2,500 block files and mapped most of them).
        let first_at_least = |uid: u32| -> Result<u32> {
            let at = view.state.placed_seq_at_least(uid, &view.src)?;
            Ok(at.map_or(prefix + 1, |seq| seq.min(prefix + 1)))
        };
        let mut gone: Vec<(u32, u32)> = Vec::new();
        for range in vanished {
            let (a, b) = (*range.start(), *range.end());
            let (a, b) = (a.min(b), a.max(b));
            let lo = first_at_least(a)?;
            let hi = match b.checked_add(1) {
                Some(above) => first_at_least(above)?,
                None => prefix + 1,
            };
            if lo < hi {
                gone.push((lo, hi - 1));
            }
        }
        gone.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(gone.len());
        for (lo, hi) in gone {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let removed: u32 = merged.iter().map(|(lo, hi)| hi - lo + 1).sum();
        Ok((prefix - removed, merged))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use crate::Cache;

    /// A cache of UIDVALIDITY 42 whose messages 1..=3 are UIDs 10, 11, 12.
    fn cached() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        let mut tx = cache.transaction().unwrap();
        tx.set_uidvalidity(Some(42)).unwrap();
        tx.set_exists(3).unwrap();
        tx.learn_range(1, &[10, 11, 12]).unwrap();
        tx.set_highestmodseq(Some(7)).unwrap();
        tx.commit().unwrap();
        (dir, cache)
    }

    fn uid_at(tx: &Transaction<'_>, seq: u32) -> Option<u32> {
        tx.view().message_at(seq).unwrap().map(|m| m.uid)
    }

    #[test]
    fn a_plain_select_keeps_no_stale_position() {
        // Another client expunged message 1 (UID 10): the server now has UIDs 11, 12 at
        // 1 and 2. Nothing proves that, so nothing may stay placed.
        let (_dir, mut cache) = cached();
        let mut tx = cache.transaction().unwrap();
        let out = tx
            .record_select(&SelectResult::new().uidvalidity(42).exists(2).uidnext(13))
            .unwrap();
        assert_eq!(
            out,
            SelectOutcome {
                cleared: false,
                kept: 0,
                unproven_flags: true
            }
        );
        assert_eq!(uid_at(&tx, 1), None);
        assert_eq!(uid_at(&tx, 2), None);
        assert_eq!(tx.view().exists(), Some(2));
        assert_eq!(tx.view().uidnext(), Some(13));
        let unplaced: Vec<u32> = tx
            .view()
            .unplaced_messages()
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect();
        assert_eq!(unplaced, [10, 11, 12]);
        // The flags' claim is the caller's to make.
        assert_eq!(tx.view().highestmodseq(), Some(7));
        // A search that names the UIDs places them again.
        tx.learn_range(1, &[11, 12]).unwrap();
        assert_eq!(uid_at(&tx, 1), Some(11));
    }

    #[test]
    fn a_qresync_select_keeps_the_proven_prefix() {
        let (_dir, mut cache) = cached();
        let mut tx = cache.transaction().unwrap();
        let vanished = [10..=10];
        let out = tx
            .record_select(
                &SelectResult::new()
                    .uidvalidity(42)
                    .exists(3)
                    .qresync(&vanished),
            )
            .unwrap();
        assert_eq!(
            out,
            SelectOutcome {
                cleared: false,
                kept: 2,
                unproven_flags: false
            }
        );
        assert_eq!(uid_at(&tx, 1), Some(11));
        assert_eq!(uid_at(&tx, 2), Some(12));
        assert_eq!(uid_at(&tx, 3), None);
        assert_eq!(tx.view().exists(), Some(3));
    }

    #[test]
    fn vanished_ranges_beyond_the_cache_cost_nothing_and_remove_the_run() {
        let (_dir, mut cache) = cached();
        let mut tx = cache.transaction().unwrap();
        let vanished = [1..=10, 12..=u32::MAX];
        let out = tx
            .record_select(&SelectResult::new().exists(1).qresync(&vanished))
            .unwrap();
        assert_eq!(out.kept, 1);
        assert_eq!(uid_at(&tx, 1), Some(11));
        assert_eq!(tx.view().exists(), Some(1));
    }

    #[test]
    fn an_exists_below_the_proven_prefix_is_refused_and_changes_nothing() {
        let (_dir, mut cache) = cached();
        let mut tx = cache.transaction().unwrap();
        let err = tx
            .record_select(&SelectResult::new().uidvalidity(42).exists(2).qresync(&[]))
            .unwrap_err();
        assert!(
            matches!(
                err.invalid_op(),
                Some(InvalidOp::UnreportedExpunge {
                    exists: 2,
                    known: 3
                })
            ),
            "{err}"
        );
        assert_eq!(uid_at(&tx, 1), Some(10));
        assert_eq!(tx.view().exists(), Some(3));
    }

    #[test]
    fn a_new_uidvalidity_drops_everything_even_with_qresync() {
        let (_dir, mut cache) = cached();
        let mut tx = cache.transaction().unwrap();
        let out = tx
            .record_select(&SelectResult::new().uidvalidity(43).exists(1).qresync(&[]))
            .unwrap();
        assert!(out.cleared);
        assert_eq!(out.kept, 0);
        assert!(!out.unproven_flags);
        assert_eq!(uid_at(&tx, 1), None);
        assert!(tx.view().unplaced_messages().unwrap().is_empty());
        assert_eq!(tx.view().highestmodseq(), None);
        assert_eq!(tx.view().uidvalidity(), Some(43));
    }

    #[test]
    fn a_plain_select_of_an_empty_cache_leaves_nothing_unproven() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        let mut tx = cache.transaction().unwrap();
        let out = tx
            .record_select(&SelectResult::new().uidvalidity(42).exists(3))
            .unwrap();
        assert!(!out.unproven_flags);
    }

    #[test]
    fn without_exists_the_count_stays() {
        let (_dir, mut cache) = cached();
        let mut tx = cache.transaction().unwrap();
        tx.record_select(&SelectResult::new().qresync(&[11..=11]))
            .unwrap();
        // VANISHED (EARLIER) does not change the count: UID 12 moved down, 3 is unknown.
        assert_eq!(tx.view().exists(), Some(3));
        assert_eq!(uid_at(&tx, 2), Some(12));
        assert_eq!(uid_at(&tx, 3), None);
    }
}
