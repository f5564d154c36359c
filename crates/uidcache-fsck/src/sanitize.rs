//! Making an index image pass every rule by dropping what the rules condemn: entries become
//! holes (placed) or vanish (unplaced), bad overlay entries vanish, doubtful header values
//! are forgotten, and a false flags-known bit is cleared. Nothing is ever added, so the
//! result is a subset.

use std::collections::BTreeSet;

use uidcache_format::{known, IndexEntry, IndexImage};

use crate::blocks::Blocks;
use crate::report::{RepairAction, Severity};
use crate::rules::{check_image, Origin, Target};

/// Rounds of check-and-drop; each round drops at least one thing, and dropping an entry
/// never breaks a rule that held before, so this bound is only a guard.
const MAX_ROUNDS: usize = 32;

/// Drops whatever `image` violates; `true` when the result has no damage left (notes stay). `false` means
/// a flag table is damaged (nothing can be dropped to fix it).
pub(crate) fn sanitize(
    image: &mut IndexImage,
    blocks: &Blocks,
    actions: &mut Vec<RepairAction>,
) -> bool {
    for _ in 0..MAX_ROUNDS {
        // Notes (a stale UIDNEXT, a low HIGHESTMODSEQ) are what the server said: kept.
        let findings: Vec<_> = check_image(image, Origin::Index, blocks)
            .into_iter()
            .filter(|f| f.problem.severity == Severity::Damage)
            .collect();
        if findings.is_empty() {
            return true;
        }
        let mut placed = BTreeSet::new();
        let mut unplaced = BTreeSet::new();
        let mut overlay = BTreeSet::new();
        for f in findings {
            let reason = format!(
                "{}.{}: expected {}, found {}",
                f.problem.structure, f.problem.field, f.problem.expected, f.problem.found
            );
            match f.target {
                Target::Placed(i) => {
                    placed.insert((i, reason));
                }
                Target::Unplaced(j) => {
                    unplaced.insert((j, reason));
                }
                Target::Overlay(k) => {
                    overlay.insert((k, reason));
                }
                Target::PlacedFlagsKnown(i) => {
                    clear_flags_known(image.placed.get_mut(i), reason, actions);
                }
                Target::UnplacedFlagsKnown(j) => {
                    clear_flags_known(image.unplaced.get_mut(j), reason, actions);
                }
                Target::FlagTables => return false,
                Target::UidNext => forget(image, known::UIDNEXT, "UIDNEXT", reason, actions),
                Target::HighestModseq => forget(
                    image,
                    known::HIGHESTMODSEQ,
                    "HIGHESTMODSEQ",
                    reason,
                    actions,
                ),
            }
        }
        drop_placed(image, placed, actions);
        drop_unplaced(image, unplaced, actions);
        let mut gone = BTreeSet::new();
        for (k, reason) in overlay {
            if gone.insert(k) {
                if let Some(r) = image.overlay.get(k) {
                    actions.push(RepairAction::DroppedOverlay {
                        uid: r.uid.get(),
                        reason,
                    });
                }
            }
        }
        let mut k = 0;
        image.overlay.retain(|_| {
            k += 1;
            !gone.contains(&(k - 1))
        });
    }
    false
}

/// Clears an entry's flags-known bit: "unknown" is always true, and costs only a fetch.
fn clear_flags_known(
    entry: Option<&mut IndexEntry>,
    reason: String,
    actions: &mut Vec<RepairAction>,
) {
    if let Some(e) = entry.filter(|e| e.flags_known()) {
        *e = e.with_flags_known(false);
        actions.push(RepairAction::ClearedFlagsKnown {
            block_id: e.block_id.get(),
            first_uid: e.first_uid.get(),
            last_uid: e.last_uid.get(),
            reason,
        });
    }
}

fn forget(
    image: &mut IndexImage,
    bit: u32,
    field: &str,
    reason: String,
    actions: &mut Vec<RepairAction>,
) {
    if image.known & bit != 0 {
        image.known &= !bit;
        match bit {
            known::UIDNEXT => image.uidnext = 0,
            _ => image.highestmodseq = 0,
        }
        actions.push(RepairAction::ForgotHeader {
            field: field.to_string(),
            reason,
        });
    }
}

/// Drops placed entries `which` (first reason per entry wins), recording each.
pub(crate) fn drop_placed(
    image: &mut IndexImage,
    which: BTreeSet<(usize, String)>,
    actions: &mut Vec<RepairAction>,
) {
    let mut gone = BTreeSet::new();
    for (i, reason) in which {
        if !gone.insert(i) {
            continue;
        }
        if let Some(e) = image.placed.get(i) {
            actions.push(RepairAction::DroppedPlaced {
                block_id: e.block_id.get(),
                seq_start: e.seq_start.get(),
                len: e.len.get(),
                first_uid: e.first_uid.get(),
                last_uid: e.last_uid.get(),
                reason,
            });
        }
    }
    for i in gone.into_iter().rev() {
        if i < image.placed.len() {
            image.placed.remove(i);
        }
    }
}

/// Drops unplaced entries `which`, recording each.
pub(crate) fn drop_unplaced(
    image: &mut IndexImage,
    which: BTreeSet<(usize, String)>,
    actions: &mut Vec<RepairAction>,
) {
    let mut gone = BTreeSet::new();
    for (j, reason) in which {
        if !gone.insert(j) {
            continue;
        }
        if let Some(e) = image.unplaced.get(j) {
            actions.push(RepairAction::DroppedUnplaced {
                block_id: e.block_id.get(),
                len: e.len.get(),
                first_uid: e.first_uid.get(),
                last_uid: e.last_uid.get(),
                reason,
            });
        }
    }
    for j in gone.into_iter().rev() {
        if j < image.unplaced.len() {
            image.unplaced.remove(j);
        }
    }
}
