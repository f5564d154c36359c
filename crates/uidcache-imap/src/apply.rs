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
/// lie in a hole shrink it. The engine's range removal does it at a cost that follows the
/// records, not the ranges' width.
pub(crate) fn vanished(tx: &mut Transaction<'_>, ranges: &[(u32, u32)]) -> Result<()> {
    let ranges: Vec<std::ops::RangeInclusive<u32>> = ranges.iter().map(|&(a, b)| a..=b).collect();
    tx.remove_uids(&ranges)?;
    Ok(())
}
