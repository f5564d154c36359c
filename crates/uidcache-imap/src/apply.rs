//! The effect of one response on the cache, outside the start of a session.

use uidcache_engine::{Transaction, UidPosition, Update, View};

use crate::error::{Error, Result};
use crate::seqset;

/// The message count, `0` while unknown.
pub(crate) fn count(tx: &Transaction<'_>) -> u32 {
    tx.view().exists().unwrap_or(0)
}

/// `[UIDVALIDITY v]`: a new value means another mailbox, whose records are dropped (see
/// [`Transaction::record_uidvalidity`]). Returns whether they were.
pub(crate) fn uidvalidity(tx: &mut Transaction<'_>, v: u32) -> Result<bool> {
    Ok(tx.record_uidvalidity(v)?)
}

/// `* n EXISTS`: the count grows; it may not shrink.
pub(crate) fn exists(tx: &mut Transaction<'_>, n: u32) -> Result<()> {
    if let Some(count) = tx.view().exists() {
        if n < count {
            return Err(Error::ExistsShrank { given: n, count });
        }
    }
    Ok(tx.set_exists(n)?)
}

/// `* n EXPUNGE`.
pub(crate) fn expunge(tx: &mut Transaction<'_>, seq: u32) -> Result<()> {
    let count = tx.view().exists();
    if seq == 0 || count.is_none_or(|c| seq > c) {
        return Err(Error::SeqOutOfRange { seq, count });
    }
    Ok(tx.expunge(seq)?)
}

/// `* n FETCH (...)`.
pub(crate) fn fetch(
    tx: &mut Transaction<'_>,
    seq: u32,
    uid: Option<u32>,
    flags: Option<&[Vec<u8>]>,
    modseq: Option<u64>,
) -> Result<()> {
    let count = tx.view().exists();
    if seq == 0 || count.is_none_or(|c| seq > c) {
        return Err(Error::SeqOutOfRange { seq, count });
    }
    let names: Option<Vec<&[u8]>> = flags.map(|f| f.iter().map(Vec::as_slice).collect());
    let update = Update {
        flags: names.as_deref(),
        modseq,
    };
    match uid {
        Some(uid) => tx.learn(seq, uid, update).map_err(Error::from_learn),
        None => {
            if tx.view().message_at(seq)?.is_some() {
                tx.update_seq(seq, update)?;
            }
            Ok(())
        }
    }
}

/// Above this many UIDs, [`known_uids_in`] reads the records instead of probing each UID.
const WALK_LIMIT: u64 = 4096;

/// The known UIDs (placed or unplaced) that lie in `ranges`, ascending. Walks the ranges when
/// they are small and the records when the ranges are large, so that `1:4294967295` costs no
/// more than the cache's size.
pub(crate) fn known_uids_in(view: &View<'_>, ranges: &[(u32, u32)]) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    if seqset::count(ranges) <= WALK_LIMIT {
        for &(a, b) in ranges {
            for uid in a..=b {
                if !matches!(
                    view.position_of_uid(uid)?,
                    UidPosition::Absent | UidPosition::InHole { .. }
                ) {
                    out.push(uid);
                }
            }
        }
    } else {
        let mut sorted: Vec<(u32, u32)> = ranges.to_vec();
        sorted.sort_unstable();
        let inside = |uid: u32| {
            let i = sorted.partition_point(|(a, _)| *a <= uid);
            i.checked_sub(1)
                .and_then(|i| sorted.get(i))
                .is_some_and(|(_, b)| uid <= *b)
        };
        for (_, m) in view.placed_messages()? {
            if inside(m.uid) {
                out.push(m.uid);
            }
        }
        for m in view.unplaced_messages()? {
            if inside(m.uid) {
                out.push(m.uid);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// `* VANISHED (EARLIER) uids`: the records go; the count does not change.
pub(crate) fn vanished_earlier(tx: &mut Transaction<'_>, ranges: &[(u32, u32)]) -> Result<()> {
    for uid in known_uids_in(&tx.view(), ranges)? {
        tx.forget_uid(uid)?;
    }
    Ok(())
}

/// `* VANISHED uids`: each message goes and the count drops for each; unknown UIDs that must
/// lie in a hole shrink it.
pub(crate) fn vanished(tx: &mut Transaction<'_>, ranges: &[(u32, u32)]) -> Result<()> {
    // Read once: removals only shrink the set, and every candidate is checked again.
    let mut unplaced: Option<Vec<u32>> = None;
    for &(a, b) in ranges {
        let mut uid = a;
        loop {
            // The transaction's own lookups: a view's would build the read index that the
            // next removal drops, O(slices) per UID.
            if let UidPosition::InHole { first, last } = tx.position_of_uid(uid)? {
                // A run of UIDs in one hole shrinks it once per UID: done in bulk, so that
                // `1:4294967295` over a huge hole costs one pass.
                let end = tx.placed_uid_above(uid)?.map_or(b, |n| b.min(n - 1));
                let stop = shrink_hole(tx, uid, end, first, last)?;
                match stop.checked_add(1) {
                    Some(next) if next <= b => {
                        uid = next;
                        continue;
                    }
                    _ => break,
                }
            }
            let removal = tx.remove_uid(uid)?;
            let next = if removal == uidcache_engine::Removal::Absent {
                // An absent UID lies between adjacent known positions (or outside the known
                // ends), so no hole can hold a UID below the next placed one: skip there.
                let unplaced = match &unplaced {
                    Some(u) => u,
                    None => unplaced.insert(
                        tx.view()
                            .unplaced_messages()?
                            .iter()
                            .map(|m| m.uid)
                            .collect(),
                    ),
                };
                let i = unplaced.partition_point(|u| *u <= uid);
                min_opt(tx.placed_uid_above(uid)?, unplaced.get(i).copied())
            } else {
                uid.checked_add(1)
            };
            match next {
                Some(next) if next <= b => uid = next,
                _ => break,
            }
        }
    }
    Ok(())
}

/// Most positions one VANISHED may remove from inside the sequence (a trailing hole shrinks
/// in one step); beyond this the response is refused rather than journaled op by op.
const MAX_HOLE_SHRINK: u64 = 1_000_000;

/// Removes UIDs `uid..=end`, all of which lie in the hole `first..=last`, one position each
/// until the hole is empty. Returns the last UID handled.
fn shrink_hole(tx: &mut Transaction<'_>, uid: u32, end: u32, first: u32, last: u32) -> Result<u32> {
    let run = u64::from(end) - u64::from(uid) + 1;
    let n = run.min(u64::from(last - first) + 1);
    let stop = uid + (n - 1) as u32;
    let mut removed = 0u64;
    for m in tx.view().unplaced_messages()? {
        if (uid..=stop).contains(&m.uid) {
            tx.remove_uid(m.uid)?;
            removed += 1;
        }
    }
    let rest = n - removed;
    let count = count(tx);
    if last == count {
        tx.set_exists(count - rest as u32)?;
    } else {
        if rest > MAX_HOLE_SHRINK {
            return Err(
                uidcache_engine::Error::Invalid(uidcache_engine::InvalidOp::Unsupported(format!(
                    "VANISHED removes {rest} unknown messages from inside the mailbox"
                )))
                .into(),
            );
        }
        for _ in 0..rest {
            tx.expunge(first)?;
        }
    }
    Ok(stop)
}

fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
