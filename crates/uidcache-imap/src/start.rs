//! The start of a session (SELECT/EXAMINE): the held responses of the SELECT become one
//! [`Transaction::record_select`] call, which applies the reconnect rule (what stays placed);
//! the rest are applied afterwards, in order, like any response.

use uidcache_engine::{SelectOutcome, SelectResult, Transaction};

use crate::error::{Error, LineError};
use crate::event::{CacheCode, Event};

/// What [`start_session`] did: the engine's account of the reconnect, and the held responses
/// still to apply in order.
pub(crate) struct Started {
    /// Whether a new UIDVALIDITY dropped the records, and how many positions stayed.
    pub(crate) outcome: SelectOutcome,
    /// The responses the SELECT call did not consume (FETCH, VANISHED, codes, ...).
    pub(crate) rest: Vec<(u64, Event)>,
}

/// Records the SELECT whose untagged responses are `held`; `qresync` says whether it
/// carried a QRESYNC parameter.
pub(crate) fn start_session(
    tx: &mut Transaction<'_>,
    qresync: bool,
    held: Vec<(u64, Event)>,
) -> Result<Started, LineError> {
    let first_pos = held.first().map_or(0, |(p, _)| *p);
    let mut select = SelectResult::new();
    let mut exists_pos = None;
    let mut vanished = Vec::new();
    let mut rest = Vec::with_capacity(held.len());
    for (pos, event) in held {
        match event {
            // The last value of a code wins, as when applied in order.
            Event::Code(CacheCode::UidValidity(v)) => select = select.uidvalidity(v),
            Event::Code(CacheCode::UidNext(n)) => select = select.uidnext(n),
            // The first EXISTS is the SELECT's count; a later one is a new message.
            Event::Exists(n) if exists_pos.is_none() => {
                select = select.exists(n);
                exists_pos = Some(pos);
            }
            Event::Vanished {
                earlier: true,
                ref uids,
            } => {
                vanished.extend(uids.iter().map(|&(a, b)| a..=b));
                // Also applied in order: the records of vanished UIDs outside the kept
                // run are unplaced now, and go with it.
                rest.push((pos, event));
            }
            other => rest.push((pos, other)),
        }
    }
    if qresync {
        select = select.qresync(&vanished);
    }
    let outcome = tx.record_select(&select).map_err(|e| {
        let source = Error::from(e);
        let line = match source {
            Error::UnreportedExpunge { .. } => exists_pos.unwrap_or(first_pos),
            _ => first_pos,
        };
        LineError { line, source }
    })?;
    Ok(Started { outcome, rest })
}
