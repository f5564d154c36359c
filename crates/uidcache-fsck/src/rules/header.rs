//! Header values against the records: HIGHESTMODSEQ at least every MODSEQ, UIDNEXT above
//! every UID. FORMAT.md section 9 and 4.8 say the engine does not promise these (it stores
//! what the server said), so violations are notes, not damage: a sync during which mail
//! arrived leaves UIDNEXT at or below the new UIDs until the server reports a new one, and
//! a HIGHESTMODSEQ below a record's MODSEQ only makes the next QRESYNC ask for more. Repair
//! leaves them as the server gave them.

use std::collections::HashMap;

use uidcache_format::{known, MODSEQ_UNKNOWN};

use super::{Locator, Target};
use crate::blocks::Blocks;
use crate::report::Severity::Note;

/// Highest effective MODSEQ and highest UID of every readable record, with their UIDs.
fn extremes(loc: &Locator<'_>, blocks: &Blocks) -> (Option<(u64, u32)>, Option<u32>) {
    let image = loc.image;
    let overlay: HashMap<u32, u64> = image
        .overlay
        .iter()
        .filter(|r| r.modseq.get() != MODSEQ_UNKNOWN)
        .map(|r| (r.uid.get(), r.modseq.get()))
        .collect();
    let mut top_modseq: Option<(u64, u32)> = None;
    let mut top_uid: Option<u32> = None;
    for e in image.placed.iter().chain(&image.unplaced) {
        let Some(records) = blocks.records(e.block_id.get()) else {
            continue;
        };
        let start = e.first_record.get() as usize;
        let end = start.saturating_add(e.len.get() as usize);
        for r in records.get(start..end).unwrap_or_default() {
            let uid = r.uid.get();
            let modseq = overlay.get(&uid).copied().unwrap_or(r.modseq.get());
            if modseq != MODSEQ_UNKNOWN && top_modseq.is_none_or(|(m, _)| modseq > m) {
                top_modseq = Some((modseq, uid));
            }
            top_uid = Some(top_uid.map_or(uid, |u| u.max(uid)));
        }
    }
    (top_modseq, top_uid)
}

/// Runs every rule of this module.
pub(crate) fn check(loc: &mut Locator<'_>, blocks: &Blocks) {
    let image = loc.image;
    let (top_modseq, top_uid) = extremes(loc, blocks);
    if image.known & known::HIGHESTMODSEQ != 0 {
        if let Some((modseq, uid)) = top_modseq.filter(|(m, _)| *m > image.highestmodseq) {
            loc.report(
                Note,
                Target::HighestModseq,
                0,
                "IndexHeader",
                "highestmodseq",
                "at least every record's MODSEQ (the engine does not enforce this: FORMAT.md 9)",
                format_args!("{} below MODSEQ {modseq} of UID {uid}", image.highestmodseq),
            );
        }
    }
    if image.known & known::UIDNEXT != 0 {
        if let Some(uid) = top_uid.filter(|u| *u >= image.uidnext) {
            loc.report(
                Note,
                Target::UidNext,
                0,
                "IndexHeader",
                "uidnext",
                "above every UID (the engine does not enforce this: FORMAT.md 4.8)",
                format_args!("{} not above UID {uid}", image.uidnext),
            );
        }
    }
}
