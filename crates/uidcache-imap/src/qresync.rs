//! The QRESYNC SELECT parameter (RFC 7162 3.2.5):
//! `(QRESYNC (uidvalidity modseq known-uids (known-sequence-set known-uid-set)))`.

use uidcache_engine::View;

use crate::error::Result;
use crate::seqset::format_set;

/// Longest known-uids list written out exactly; longer ones become `1:highest` (the server
/// then reports vanished UIDs we never knew, which costs bytes but loses nothing).
const MAX_KNOWN_UIDS_LEN: usize = 2000;

/// The parameter for `SELECT mailbox <param>`, or `None` when UIDVALIDITY or HIGHESTMODSEQ
/// is unknown (QRESYNC needs both).
///
/// The sample (RFC 7162 3.2.5.2) pairs placed sequence numbers with their UIDs, taken at
/// distances 1, 2, 4, 8, ... below the highest known sequence number: dense where new
/// expunges are likely to be compared, and logarithmic in the mailbox size.
pub fn qresync_param(view: &View<'_>) -> Result<Option<String>> {
    let (Some(uidvalidity), Some(modseq)) = (view.uidvalidity(), view.highestmodseq()) else {
        return Ok(None);
    };
    let placed = view.placed_messages()?;
    let mut uids: Vec<u32> = placed.iter().map(|(_, m)| m.uid).collect();
    uids.extend(view.unplaced_messages()?.iter().map(|m| m.uid));
    uids.sort_unstable();
    uids.dedup();
    let mut known = format_set(uids.iter().copied());
    if known.len() > MAX_KNOWN_UIDS_LEN {
        known = uids.last().map_or(String::new(), |u| format!("1:{u}"));
    }
    let mut sample = Vec::new();
    let mut step = 1usize;
    let mut k = placed.len();
    while k > 0 {
        if let Some((seq, m)) = placed.get(k - 1) {
            sample.push((*seq, m.uid));
        }
        k = k.saturating_sub(step);
        step = step.saturating_mul(2);
    }
    sample.reverse();
    let mut out = format!("(QRESYNC ({uidvalidity} {modseq}");
    if !known.is_empty() {
        out.push(' ');
        out.push_str(&known);
        if !sample.is_empty() {
            let seqs: Vec<String> = sample.iter().map(|(s, _)| s.to_string()).collect();
            let suids: Vec<String> = sample.iter().map(|(_, u)| u.to_string()).collect();
            out.push_str(&format!(" ({} {})", seqs.join(","), suids.join(",")));
        }
    }
    out.push_str("))");
    Ok(Some(out))
}
