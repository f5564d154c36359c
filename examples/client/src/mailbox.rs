//! What a client asks the server, decided from what the cache knows: the SELECT (with the
//! QRESYNC parameter when it can), the positions still unknown, the flags still unknown,
//! the changes since a MODSEQ. Each function sends commands through a [`Connection`],
//! which applies the answers.

use uidcache::{Cache, Segment, View};

use crate::connection::Connection;
use crate::Result;

/// How many positions one `UID SEARCH` asks for: the client's page size.
/// `View::fetch_plan` aligns requests to multiples of it, so that two clients of the same
/// mailbox ask for the same ranges.
pub const SEARCH_BATCH: u32 = 50;

/// The SELECT to send. With QRESYNC (enabled first with `ENABLE QRESYNC`) and a cache that
/// knows UIDVALIDITY and HIGHESTMODSEQ, the parameter lets the server report only what
/// changed: expunges as `VANISHED (EARLIER)`, flag changes as FETCH. Otherwise a plain
/// SELECT with CONDSTORE, after which no cached position can be trusted.
pub fn select_command(view: &View<'_>, server_has_qresync: bool) -> Result<String> {
    if server_has_qresync {
        if let Some(param) = view.qresync_param()? {
            // Its Display is the IMAP text: `(QRESYNC (uidvalidity modseq known-uids ...))`.
            return Ok(format!("SELECT INBOX {param}"));
        }
    }
    Ok("SELECT INBOX (CONDSTORE)".to_string())
}

/// Asks for the UIDs at every position the cache does not know, `SEARCH_BATCH` at a time,
/// with ESEARCH (`UID SEARCH RETURN (ALL) a:b`): the answer is a few UID ranges, not one
/// number per message.
pub fn fill_positions(conn: &mut Connection, cache: &mut Cache) -> Result<()> {
    while let Some(first) = first_unknown(&cache.view()) {
        let Some(plan) = cache.view().fetch_plan(first, SEARCH_BATCH) else {
            break;
        };
        conn.run(
            cache,
            &format!(
                "UID SEARCH RETURN (ALL) {}",
                seq_set(*plan.start(), *plan.end())
            ),
        )?;
        // A search whose answer the session could not place (an expunge arrived during
        // it) leaves the hole; asking again and again would not help.
        if first_unknown(&cache.view()) == Some(first) {
            return Err(format!("the search of {plan:?} placed nothing").into());
        }
    }
    Ok(())
}

/// The first sequence number whose UID the cache does not know.
fn first_unknown(view: &View<'_>) -> Option<u32> {
    view.segments().into_iter().find_map(|s| match s {
        Segment::Hole(first, _) => Some(first),
        Segment::Known(..) => None,
    })
}

/// Fetches FLAGS and MODSEQ of the placed messages whose flags the cache has never seen
/// (new mail, or everything after the first SELECT), one FETCH per run of them.
pub fn fetch_unknown_flags(conn: &mut Connection, cache: &mut Cache) -> Result<()> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for row in cache.view().messages() {
        let (seq, m) = row?;
        if m.flags.is_some() {
            continue;
        }
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => runs.push((seq, seq)),
        }
    }
    for (first, last) in runs {
        conn.run(
            cache,
            &format!("FETCH {} (UID FLAGS MODSEQ)", seq_set(first, last)),
        )?;
    }
    Ok(())
}

/// After a plain SELECT: the flags that changed since `modseq`, the HIGHESTMODSEQ the
/// cache had before the SELECT (read it before sending the SELECT: the SELECT's own
/// `[HIGHESTMODSEQ n]` replaces the stored value when it completes).
pub fn fetch_changes_since(conn: &mut Connection, cache: &mut Cache, modseq: u64) -> Result<()> {
    conn.run(
        cache,
        &format!("FETCH 1:* (UID FLAGS) (CHANGEDSINCE {modseq})"),
    )
}

/// The user opened a message: mark it read on the server. The server's FETCH answer
/// carries the new flags and MODSEQ; the cache learns them from it, not from the command.
pub fn mark_read(conn: &mut Connection, cache: &mut Cache, uid: u32) -> Result<()> {
    conn.run(cache, &format!("UID STORE {uid} +FLAGS (\\Seen)"))
}

/// `a:b`, or `a` alone.
fn seq_set(first: u32, last: u32) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}:{last}")
    }
}
