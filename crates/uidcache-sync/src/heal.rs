//! Self-healing: when the server contradicts what the cache knows, the cache's knowledge
//! is what cannot be trusted (a server bug or a lost expunge left it wrong). The sync drops
//! the positions and HIGHESTMODSEQ, keeps the records by UID (so nothing is refetched that a
//! full refetch would not fetch anyway), and starts again; a second contradiction in the same
//! sync is the server contradicting itself, and an error.

use uidcache_engine::{Cache, InvalidOp};
use uidcache_imap::LineError;

use crate::error::{Error, Result};
use crate::options::SyncOptions;

/// Whether `e` says that the server's answers do not fit the cache's knowledge (as opposed
/// to I/O, TLS, a refused login or a command the server failed).
pub(crate) fn contradicts_cache(e: &Error) -> bool {
    use uidcache_imap::Error as Imap;
    match e {
        Error::Contradiction(_) => true,
        Error::Apply(LineError { source, .. }) => match source {
            Imap::UidOrder(_)
            | Imap::UnreportedExpunge { .. }
            | Imap::ExistsShrank { .. }
            | Imap::SeqOutOfRange { .. } => true,
            Imap::Engine(inner) => matches!(
                inner.invalid_op(),
                Some(
                    InvalidOp::UidOrder { .. }
                        | InvalidOp::ZeroUid { .. }
                        | InvalidOp::Conflict { .. }
                        | InvalidOp::SeqOutOfRange { .. }
                        | InvalidOp::ShrinkOverRecords { .. }
                )
            ),
            _ => false,
        },
        _ => false,
    }
}

/// Says on the event channel (stderr in the command) why, then drops what the cache can no
/// longer trust. Returns the reason, for the summary.
pub(crate) fn heal(cache: &mut Cache, opts: &mut SyncOptions, e: &Error) -> Result<String> {
    let why = e.to_string();
    crate::event(
        opts,
        &format!(
            "{why}; dropping the cached positions and HIGHESTMODSEQ and resynchronizing \
             every message"
        ),
    );
    forget_positions(cache)?;
    Ok(why)
}

/// Drops every position and HIGHESTMODSEQ in one commit: the next catch-up then relearns
/// every position and, with no HIGHESTMODSEQ to resync from, every flag.
fn forget_positions(cache: &mut Cache) -> Result<()> {
    let mut tx = cache.transaction()?;
    let count = tx.view().exists().unwrap_or(0);
    if count > 0 {
        tx.unplace(1, count)?;
    }
    tx.set_highestmodseq(None)?;
    tx.commit()?;
    Ok(())
}
