//! Removing ranges of UIDs at once (an unsolicited `VANISHED`), at a cost that follows the
//! ranges and the records present, never the ranges' width: `1..=4294967295` over a cache
//! of ten records visits those ten records.

use std::ops::RangeInclusive;

use crate::error::{InvalidOp, Result};
use crate::txn::{Removal, Transaction};
use crate::view::{UidPosition, View};

/// Most positions one call removes from a hole inside the mailbox, one op each (a hole at
/// the end shrinks in one op, whatever its size); beyond it the call is refused.
pub const MAX_HOLE_REMOVALS: u64 = 1_000_000;

/// What [`Transaction::remove_uids`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Placed records removed (later messages shifted down).
    pub placed: u64,
    /// Unknown positions removed from holes, for UIDs that had to lie in one.
    pub from_holes: u64,
    /// Unplaced records removed without a position (the count did not change for them).
    pub unplaced: u64,
}

impl Removed {
    /// How much the message count dropped.
    pub fn count_drop(&self) -> u64 {
        self.placed + self.from_holes
    }
}

/// The lowest unplaced UID above `uid`. Unplaced slices hold disjoint UID ranges in order
/// (an insertion splits a straddling slice around the new one), so only the first slice
/// ending above `uid` can hold it.
fn unplaced_uid_above(view: &View<'_>, uid: u32) -> Result<Option<u32>> {
    let unplaced = &view.state.unplaced;
    let i = unplaced.partition_point(|s| s.last_uid <= uid);
    let Some(s) = unplaced.get(i) else {
        return Ok(None);
    };
    if s.first_uid > uid {
        return Ok(Some(s.first_uid));
    }
    // `uid < s.last_uid` here, so the UID above it is in the slice.
    let uids = s.uids(&view.src)?;
    let k = uids.count_below(uid + 1);
    Ok(Some(uids.uid(k)).filter(|u| *u != 0))
}

/// The smallest known UID (placed or unplaced) above `uid`.
fn known_uid_above(tx: &Transaction<'_>, uid: u32) -> Result<Option<u32>> {
    let placed = tx.placed_uid_above(uid)?;
    let unplaced = unplaced_uid_above(&tx.view(), uid)?;
    Ok(match (placed, unplaced) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    })
}

/// The body of [`Transaction::remove_uids`].
pub(crate) fn remove_uids(
    tx: &mut Transaction<'_>,
    ranges: &[RangeInclusive<u32>],
) -> Result<Removed> {
    let plan = {
        let v = tx.view();
        crate::removal_plan::plan(v.state, &v.src, ranges)?
    };
    if let Some(plan) = plan {
        tx.apply_plan(&plan)?;
        return Ok(Removed {
            placed: plan.hits.len() as u64,
            from_holes: plan.hole_positions(),
            unplaced: 0,
        });
    }
    // Unplaced records (or an unknown count): one UID at a time, in ascending order (each
    // UID once, whatever order and overlaps the ranges came in).
    let mut removed = Removed::default();
    for (a, b) in crate::removal_plan::normalized(ranges) {
        let mut uid = a;
        while uid <= b {
            #[cfg(test)]
            tests::STEPS.with(|s| s.set(s.get() + 1));
            // The transaction's own lookups: a view's would build the read index that the
            // next removal drops, O(slices) per UID.
            let next = match tx.position_of_uid(uid)? {
                UidPosition::InHole { first, last } => {
                    // A run of UIDs in one hole shrinks it once per UID: done in bulk.
                    let end = tx.placed_uid_above(uid)?.map_or(b, |n| b.min(n - 1));
                    let stop = shrink_hole(tx, uid, end, (first, last), &mut removed)?;
                    stop.checked_add(1)
                }
                // Found already: `remove_uid` would look it up once more.
                UidPosition::Placed(seq) => {
                    tx.remove_placed(uid, seq)?;
                    removed.placed += 1;
                    uid.checked_add(1)
                }
                _ => {
                    match tx.remove_uid(uid)? {
                        Removal::Placed(_) => removed.placed += 1,
                        Removal::Hole(_) => removed.from_holes += 1,
                        Removal::Unplaced => removed.unplaced += 1,
                        // An absent UID lies between adjacent known positions (or outside the
                        // known ends), so no hole can hold a UID below the next known one:
                        // skip there. This is what keeps the cost off the ranges' width.
                        Removal::Absent => {
                            match known_uid_above(tx, uid)? {
                                Some(next) => uid = next,
                                None => break,
                            }
                            continue;
                        }
                    }
                    uid.checked_add(1)
                }
            };
            match next {
                Some(next) => uid = next,
                None => break,
            }
        }
    }
    Ok(removed)
}

/// Removes UIDs `uid..=end`, all of which lie in the hole `first..=last`: one position
/// each, until the hole is empty. Returns the last UID handled.
fn shrink_hole(
    tx: &mut Transaction<'_>,
    uid: u32,
    end: u32,
    (first, last): (u32, u32),
    removed: &mut Removed,
) -> Result<u32> {
    let trailing = tx.view().exists() == Some(last);
    let run = u64::from(end) - u64::from(uid) + 1;
    let n = run.min(u64::from(last - first) + 1);
    let stop = uid + (n - 1) as u32;
    if !trailing && n > MAX_HOLE_REMOVALS {
        return Err(InvalidOp::TooManyHoleRemovals {
            count: n,
            limit: MAX_HOLE_REMOVALS,
        }
        .into());
    }
    // Unplaced records among them take a position of the hole each.
    let mut taken = 0u64;
    let mut at = unplaced_uid_above(&tx.view(), uid - 1)?;
    while let Some(u) = at.filter(|u| *u <= stop) {
        tx.remove_uid(u)?;
        taken += 1;
        at = unplaced_uid_above(&tx.view(), u)?;
    }
    let rest = n - taken;
    let count = tx.view().exists().unwrap_or(0);
    if trailing {
        tx.set_exists(count - rest as u32)?;
    } else {
        for _ in 0..rest {
            tx.expunge(first)?;
        }
    }
    removed.from_holes += n;
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use crate::OpenOptions;

    thread_local! {
        /// Iterations of the removal loop on this thread: the cost the width must not drive.
        pub(super) static STEPS: Cell<u64> = const { Cell::new(0) };
    }

    #[test]
    fn the_walk_visits_the_records_not_the_width_of_the_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = OpenOptions::new().open(dir.path()).unwrap();
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(20).unwrap();
        // Ten records with spread-out UIDs, then a hole of ten unknown messages.
        tx.learn_range(1, &[100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])
            .unwrap();
        tx.commit().unwrap();
        let mut tx = cache.transaction().unwrap();
        STEPS.with(|s| s.set(0));
        let removed = tx.remove_uids(&[1..=u32::MAX, 5..=3_000_000_000]).unwrap();
        let steps = STEPS.with(Cell::get);
        assert_eq!(removed.placed, 10);
        assert_eq!(removed.from_holes, 10);
        // Per record: its removal and the absent UID after it; per hole and range: one.
        assert!(steps <= 2 * 10 + 2 + 2, "{steps} steps for ten records");
        drop(tx);
    }
}
