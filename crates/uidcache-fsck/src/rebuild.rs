//! The repaired state: the checkpoint (or, for a cache never checkpointed, an empty one)
//! stripped of what its rules condemn, the journal replayed onto it with the engine, the
//! result stripped again; or, when no state can be trusted, an empty cache that keeps
//! UIDVALIDITY only when a checksum vouches for it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use uidcache_engine::tools::{Replay, JOURNAL_FILE};
use uidcache_format::{known, HeaderField, IndexImage, Op, JOURNAL_HEADER_SIZE};

use crate::error::Result;
use crate::journal::{Journal, JournalFile};
use crate::read::finding;
use crate::report::RepairAction;
use crate::sanitize::{drop_unplaced, sanitize};
use crate::survey::Survey;

/// The generation above every one the directory has used.
pub(crate) fn next_generation(s: &Survey) -> u64 {
    let index = s.index.as_ref().and_then(|i| {
        let image = i.image.as_ref().map(|m| m.generation);
        image.or(i.header.map(|h| h.generation))
    });
    let journal = match &s.journal {
        JournalFile::Sound(j) => Some(j.generation),
        _ => None,
    };
    index.max(journal).map_or(1, |g| g.saturating_add(1))
}

/// An empty cache of `generation`, keeping a trustworthy UIDVALIDITY.
pub(crate) fn reset(
    s: &Survey,
    generation: u64,
    reason: String,
    actions: &mut Vec<RepairAction>,
) -> IndexImage {
    let header = s.index.as_ref().and_then(|i| i.header);
    let mut uidvalidity = header.and_then(|h| h.uidvalidity);
    if let JournalFile::Sound(j) = &s.journal {
        if header.map_or(j.generation == 0, |h| h.generation == j.generation) {
            for op in j.frames.iter().flat_map(|f| &f.ops) {
                match op {
                    Op::Clear => uidvalidity = None,
                    Op::SetHeader {
                        field: HeaderField::UidValidity,
                        value,
                    } => {
                        uidvalidity = value.and_then(|v| u32::try_from(v).ok());
                    }
                    _ => {}
                }
            }
            if j.lost.is_some() {
                // Lost frames may have changed it.
                uidvalidity = None;
            }
        }
    }
    let image = s.index.as_ref().and_then(|i| i.image.as_ref());
    let count = |v: &[uidcache_format::IndexEntry]| v.iter().map(|e| u64::from(e.len.get())).sum();
    actions.push(RepairAction::Reset {
        uidvalidity_kept: uidvalidity,
        placed_records: image.map_or(0, |m| count(&m.placed)),
        unplaced_records: image.map_or(0, |m| count(&m.unplaced)),
        reason,
    });
    // Keep the identity the surviving files carry; without one, the cache starts a new
    // identity (FORMAT.md 1.5) and no old block is kept.
    let cache_id = image
        .map(|m| m.cache_id)
        .or(header.map(|h| h.cache_id))
        .or((s.identity != uidcache_format::NO_IDENTITY).then_some(s.identity))
        .unwrap_or_else(uidcache_engine::tools::fresh_cache_id);
    IndexImage {
        cache_id,
        known: if uidvalidity.is_some() {
            known::UIDVALIDITY
        } else {
            0
        },
        uidvalidity: uidvalidity.unwrap_or(0),
        generation,
        next_block_id: next_block_id(s, 1),
        ..IndexImage::default()
    }
}

/// `floor`, raised above every block file present, so no ID is ever reused.
fn next_block_id(s: &Survey, floor: u64) -> u64 {
    let top = s
        .layout
        .blocks
        .keys()
        .next_back()
        .map_or(0, |id| id.saturating_add(1));
    floor.max(top).max(1)
}

/// The base state and the journal that continues it.
fn base<'s>(
    dir: &Path,
    s: &'s Survey,
    actions: &mut Vec<RepairAction>,
) -> Option<(IndexImage, Option<&'s Journal>, bool)> {
    let journal = match &s.journal {
        JournalFile::Sound(j) => Some(j),
        _ => None,
    };
    if let Some(image) = s.index.as_ref().and_then(|i| i.image.clone()) {
        let mut image = image;
        let placed_before = image.placed.len();
        if sanitize(&mut image, &s.blocks, actions)
            && Replay::from_index_with(dir, image.clone(), Arc::clone(&s.vfs)).is_ok()
        {
            let lost = image.placed.len() != placed_before;
            let journal = journal.filter(|j| j.generation == image.generation);
            return Some((image, journal, lost));
        }
    }
    // A journal of generation 0 continues the empty index of a new cache.
    let j = journal.filter(|j| j.generation == 0)?;
    let image = IndexImage {
        cache_id: s.identity,
        next_block_id: 1,
        ..IndexImage::default()
    };
    Some((image, Some(j), false))
}

/// Replays `journal` onto `replay`, skipping `Learn`s of unusable blocks; returns whether
/// anything was skipped and whether any frame was applied. A block read that fails stops
/// the repair: the frames after it are not damaged, only unread.
fn replay_journal(
    s: &Survey,
    replay: &mut Replay,
    j: &Journal,
    actions: &mut Vec<RepairAction>,
) -> Result<(bool, bool)> {
    let (mut skipped, mut applied) = (false, false);
    for (n, frame) in j.frames.iter().enumerate() {
        let mut ops = Vec::with_capacity(frame.ops.len());
        for op in &frame.ops {
            match op {
                Op::Learn {
                    block_id, seq, len, ..
                } if s.blocks.unusable(*block_id) => {
                    skipped = true;
                    actions.push(RepairAction::SkippedLearn {
                        frame_offset: frame.offset,
                        block_id: *block_id,
                        seq: *seq,
                        len: *len,
                    });
                }
                other => ops.push(other.clone()),
            }
        }
        if let Err(e) = replay.apply_frame(&ops) {
            let e = finding(e)?;
            actions.push(RepairAction::DroppedFrames {
                offset: frame.offset,
                first_frame: frame.seq,
                count: (j.frames.len() - n) as u64,
                reason: e.to_string(),
            });
            return Ok((skipped, applied));
        }
        applied = true;
    }
    if let Some(lost) = &j.lost {
        actions.push(RepairAction::DroppedFrames {
            offset: lost.offset,
            first_frame: lost.frame,
            count: 0,
            reason: lost.reason.clone(),
        });
    }
    Ok((skipped, applied))
}

/// The repaired state, of generation `generation`; fails only on a read that fails.
pub(crate) fn rebuild(
    dir: &Path,
    s: &Survey,
    generation: u64,
    actions: &mut Vec<RepairAction>,
) -> Result<IndexImage> {
    if let JournalFile::Unusable = s.journal {
        actions.push(RepairAction::DroppedFrames {
            offset: 0,
            first_frame: 1,
            count: 0,
            reason: format!("{JOURNAL_FILE} header damaged or unreadable"),
        });
    }
    let Some((base, journal, mut lost)) = base(dir, s, actions) else {
        return Ok(reset(
            s,
            generation,
            "the index cannot be read or rebuilt".into(),
            actions,
        ));
    };
    let mut image = base.clone();
    if let Some(j) = journal {
        if let Ok(mut replay) = Replay::from_index_with(dir, base, Arc::clone(&s.vfs)) {
            let (skipped, applied) = replay_journal(s, &mut replay, j, actions)?;
            image = replay.image(generation);
            lost |= skipped;
            if lost && applied && !image.unplaced.is_empty() {
                // Replay pruned unplaced records with knowledge that is now gone: those it
                // kept may be ones the full state had dropped.
                let all: BTreeSet<(usize, String)> = (0..image.unplaced.len())
                    .map(|j| (j, "placed records were lost before the journal replay, so these may be records it would have pruned".to_string()))
                    .collect();
                drop_unplaced(&mut image, all, actions);
            }
        }
    } else if let JournalFile::Sound(j) = &s.journal {
        if j.generation > base.generation && (!j.frames.is_empty() || j.lost.is_some()) {
            actions.push(RepairAction::DroppedFrames {
                offset: JOURNAL_HEADER_SIZE as u64,
                first_frame: 1,
                count: j.frames.len() as u64,
                reason: "the journal's generation is above the index's".into(),
            });
        }
    }
    image.generation = generation;
    if !sanitize(&mut image, &s.blocks, actions) {
        return Ok(reset(
            s,
            generation,
            "a flag table is damaged".into(),
            actions,
        ));
    }
    image.next_block_id = next_block_id(s, image.next_block_id);
    Ok(image)
}
