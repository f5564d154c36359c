//! The start of a session (SELECT/EXAMINE): which records keep their positions.
//!
//! Without QRESYNC every record loses its position (it becomes unplaced: kept by UID with
//! its flags and MODSEQ). With QRESYNC the server reports every expunge since the cached
//! state, so the records before the first unknown sequence number keep their positions once
//! the `VANISHED (EARLIER)` UIDs among them are removed and the rest shift down; a count
//! below that run is an expunge the server never reported, and an error.

use uidcache_engine::{Segment, Transaction, UidPosition};

use crate::apply;
use crate::error::{Error, LineError, Result};
use crate::response::{CacheCode, Event};
use crate::session::Session;

/// Whether `[UIDVALIDITY v]` means a different mailbox than the cached one. An unknown
/// stored value is not a difference: there is nothing to compare.
pub(crate) fn uidvalidity_changes(tx: &Transaction<'_>, v: u32) -> bool {
    tx.view().uidvalidity().is_some_and(|s| s != v)
}

/// Drops every record and HIGHESTMODSEQ; the count and UIDNEXT stay (they describe the
/// mailbox, not the records).
pub(crate) fn clear_records(tx: &mut Transaction<'_>) -> Result<()> {
    let (exists, uidnext) = (tx.view().exists(), tx.view().uidnext());
    tx.clear()?;
    if let Some(n) = exists {
        tx.set_exists(n)?;
    }
    tx.set_uidnext(uidnext)?;
    Ok(())
}

/// Applies the start of a session and returns the held responses still to apply in order.
pub(crate) fn start_session(
    tx: &mut Transaction<'_>,
    qresync: bool,
    held: Vec<(u64, Event)>,
    session: &mut Session,
) -> Result<Vec<(u64, Event)>, LineError> {
    let first_pos = held.first().map_or(0, |(p, _)| *p);
    let at = |line: u64| move |source: Error| LineError { line, source };
    // A new UIDVALIDITY drops everything before positions are considered.
    if let Some((pos, v)) = held.iter().rev().find_map(|(p, e)| match e {
        Event::Code(CacheCode::UidValidity(v)) => Some((*p, *v)),
        _ => None,
    }) {
        if uidvalidity_changes(tx, v) {
            clear_records(tx).map_err(at(pos))?;
            session.reset_pending_modseq();
        }
    }
    let old_count = tx.view().exists();
    let mut keep = if qresync { known_prefix(tx) } else { 0 };
    if keep > 0 {
        let earlier: Vec<(u32, u32)> = held
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Vanished {
                    earlier: true,
                    uids,
                } => Some(uids.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let pos = held
            .iter()
            .find(|(_, e)| matches!(e, Event::Vanished { earlier: true, .. }))
            .map_or(first_pos, |(p, _)| *p);
        let mut gone = Vec::new();
        for uid in apply::known_uids_in(&tx.view(), &earlier).map_err(at(pos))? {
            if let UidPosition::Placed(s) = tx
                .view()
                .position_of_uid(uid)
                .map_err(|e| at(pos)(e.into()))?
            {
                if s <= keep {
                    gone.push(s);
                }
            }
        }
        gone.sort_unstable_by(|a, b| b.cmp(a));
        for s in gone {
            tx.expunge(s).map_err(|e| at(pos)(e.into()))?;
            keep -= 1;
        }
    }
    let count = apply::count(tx);
    if keep < count {
        tx.unplace(keep + 1, count)
            .map_err(|e| at(first_pos)(e.into()))?;
    }
    // The SELECT's EXISTS is the new session's count, whatever the old one was.
    let exists_at = held.iter().position(|(_, e)| matches!(e, Event::Exists(_)));
    let mut rest = held;
    let new_count = match exists_at {
        Some(i) => match rest.remove(i) {
            (pos, Event::Exists(n)) => Some((pos, n)),
            _ => None,
        },
        None => None,
    };
    match new_count {
        Some((pos, n)) => {
            // With QRESYNC every expunge since the cached HIGHESTMODSEQ was reported, so the
            // known run survives whole. A count below it is a cache that was told it had
            // seen changes it never saw (a HIGHESTMODSEQ past a held-back expunge):
            // placing the run would shift every later message onto the wrong UID.
            if n < keep {
                return Err(at(pos)(Error::UnreportedExpunge {
                    exists: n,
                    known: keep,
                }));
            }
            tx.set_exists(n).map_err(|e| at(pos)(e.into()))?;
        }
        None => {
            // VANISHED (EARLIER) does not change the count.
            if let Some(n) = old_count {
                tx.set_exists(n).map_err(|e| at(first_pos)(e.into()))?;
            }
        }
    }
    Ok(rest)
}

/// The last sequence number of the known run that starts at 1 (0 when 1 is unknown).
fn known_prefix(tx: &Transaction<'_>) -> u32 {
    match tx.view().segments().first() {
        Some(Segment::Known(1, last)) => *last,
        _ => 0,
    }
}
