//! The QRESYNC SELECT parameter (RFC 7162 3.2.5):
//! `(QRESYNC (uidvalidity modseq known-uids (known-sequence-set known-uid-set)))`. The
//! engine computes it ([`uidcache_engine::View::qresync_param`]); this is its text.

use uidcache_engine::View;

use crate::error::Result;

/// The parameter for `SELECT mailbox <param>`, or `None` when UIDVALIDITY or HIGHESTMODSEQ
/// is unknown (QRESYNC needs both): [`uidcache_engine::QresyncParam`] as text.
pub fn qresync_param(view: &View<'_>) -> Result<Option<String>> {
    Ok(view.qresync_param()?.map(|p| p.to_string()))
}
