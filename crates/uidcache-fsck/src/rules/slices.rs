//! Rules that read the records an entry points at: the block exists and is sound, is long
//! enough, the records match the entry's UIDs and ascend, their flag sets are defined, and
//! unplaced records do not contradict placed ones (FORMAT.md 4.2, 4.8 "Not checked on
//! load", 6.1, 6.3).

use std::path::Path;

use uidcache_engine::tools::block_path;
use uidcache_format::{
    known, IndexEntry, Record, BLOCK_HEADER_SIZE, FLAGS_UNKNOWN, INDEX_ENTRY_FLAGS_OFFSET,
    RECORD_SIZE,
};

use super::entries::describe;
use super::{Locator, Target};
use crate::blocks::Blocks;
use crate::report::{Problem, Severity::Damage};

fn record_offset(index: u64) -> u64 {
    BLOCK_HEADER_SIZE as u64 + index * RECORD_SIZE as u64
}

fn block_rel(id: u64) -> std::path::PathBuf {
    block_path(Path::new(""), id)
}

/// The records of `e`, or `None` after reporting why they cannot be read.
fn slice_records<'b>(
    loc: &mut Locator<'_>,
    t: Target,
    e: &IndexEntry,
    blocks: &'b Blocks,
) -> Option<&'b [Record]> {
    let id = e.block_id.get();
    let Some(records) = blocks.records(id) else {
        let state = if blocks.bad.contains_key(&id) {
            "damaged"
        } else {
            "missing"
        };
        loc.report(
            Damage,
            t,
            0,
            "IndexEntry",
            "block_id",
            format_args!("a sound block file {}", block_rel(id).display()),
            format_args!("the file is {state} ({})", describe(e)),
        );
        return None;
    };
    let start = e.first_record.get() as usize;
    let end = start.saturating_add(e.len.get() as usize);
    let Some(slice) = records.get(start..end).filter(|s| !s.is_empty()) else {
        loc.report(
            Damage,
            t,
            16,
            "IndexEntry",
            "first_record",
            format_args!(
                "first_record + len <= {} (the block's record_count)",
                records.len()
            ),
            describe(e),
        );
        return None;
    };
    Some(slice)
}

/// Ends, order and flag sets of one slice; `true` when its records can be trusted.
fn slice_rules(
    loc: &mut Locator<'_>,
    t: Target,
    e: &IndexEntry,
    recs: &[Record],
    flagsets: &[bool],
) -> bool {
    let name = describe(e);
    let (Some(first), Some(last)) = (recs.first(), recs.last()) else {
        return false;
    };
    let mut ok = true;
    if first.uid.get() != e.first_uid.get() {
        loc.report(
            Damage,
            t,
            20,
            "IndexEntry",
            "first_uid",
            format_args!("{}, the UID of the slice's first record", first.uid.get()),
            &name,
        );
        ok = false;
    }
    if last.uid.get() != e.last_uid.get() {
        loc.report(
            Damage,
            t,
            24,
            "IndexEntry",
            "last_uid",
            format_args!("{}, the UID of the slice's last record", last.uid.get()),
            &name,
        );
        ok = false;
    }
    let base = u64::from(e.first_record.get());
    let file = block_rel(e.block_id.get());
    for (k, pair) in recs.windows(2).enumerate() {
        if let [a, b] = pair {
            if b.uid.get() <= a.uid.get() {
                let at = record_offset(base + k as u64 + 1);
                loc.push_at(
                    t,
                    Problem::new(
                        Damage,
                        &file,
                        at,
                        "Record",
                        "uid",
                        format_args!(
                            "above UID {} (strictly ascending within {name})",
                            a.uid.get()
                        ),
                        b.uid.get(),
                    ),
                );
                ok = false;
                break;
            }
        }
    }
    // A record whose overlay entry holds flags is never read for its own (FORMAT.md 4.7):
    // its set may have been freed by a checkpoint.
    let overridden = |uid: u32| {
        loc.image
            .overlay
            .binary_search_by_key(&uid, |o| o.uid.get())
            .ok()
            .and_then(|i| loc.image.overlay.get(i))
            .is_some_and(|o| o.flags.get() != FLAGS_UNKNOWN)
    };
    let bad_flags = recs.iter().position(|r| {
        let flags = r.flags.get();
        flags != FLAGS_UNKNOWN
            && !flagsets.get(flags as usize).copied().unwrap_or(false)
            && !overridden(r.uid.get())
    });
    if e.flags_known() {
        // The bit lets a sync skip fetching these flags: it must be true.
        let unknown = recs
            .iter()
            .position(|r| r.flags.get() == FLAGS_UNKNOWN && !overridden(r.uid.get()));
        if let Some((k, r)) = unknown.and_then(|k| recs.get(k).map(|r| (k, r))) {
            let bit = match t {
                Target::Unplaced(j) => Target::UnplacedFlagsKnown(j),
                Target::Placed(i) => Target::PlacedFlagsKnown(i),
                other => other,
            };
            loc.report(
                Damage,
                bit,
                INDEX_ENTRY_FLAGS_OFFSET as u64,
                "IndexEntry",
                "flags",
                "bit 0 (FLAGS known) only when every record has FLAGS, in its block or the overlay",
                format_args!(
                    "bit 0 set, but record {} (UID {}) has none ({name})",
                    base + k as u64,
                    r.uid.get()
                ),
            );
        }
    }
    if let Some((k, r)) = bad_flags.and_then(|k| recs.get(k).map(|r| (k, r))) {
        let flags = r.flags.get();
        let at = record_offset(base + k as u64) + 4;
        loc.push_at(
            t,
            Problem::new(
                Damage,
                &file,
                at,
                "Record",
                "flags",
                format_args!(
                    "FLAGS_UNKNOWN or a defined flag-set ID (below {}, not a free slot)",
                    flagsets.len()
                ),
                format_args!("{flags} (UID {})", r.uid.get()),
            ),
        );
        ok = false;
    }
    ok
}

/// Why placed knowledge rules out unplaced `uid`, if it does.
fn contradiction(placed: &[IndexEntry], exists: u32, uid: u32) -> Option<String> {
    let i = placed.partition_point(|s| s.last_uid.get() < uid);
    let next = placed.get(i);
    if let Some(n) = next.filter(|n| n.first_uid.get() <= uid) {
        return Some(format!("UID {uid} lies inside placed {}", describe(n)));
    }
    let end = |s: &IndexEntry| {
        s.seq_start
            .get()
            .saturating_add(s.len.get().saturating_sub(1))
    };
    let lo = i
        .checked_sub(1)
        .and_then(|p| placed.get(p))
        .map_or(1, |p| end(p).saturating_add(1));
    let hi = next.map_or(exists, |n| n.seq_start.get().saturating_sub(1));
    (lo > hi).then(|| {
        format!("UID {uid} lies between adjacent known sequence numbers (no hole can hold it)")
    })
}

/// Runs every rule of this module.
pub(crate) fn check(loc: &mut Locator<'_>, blocks: &Blocks, flagsets: &[bool]) {
    let image = loc.image;
    let mut good_placed = Vec::new();
    for (i, e) in image.placed.iter().enumerate() {
        if e.len.get() == 0 {
            continue;
        }
        let t = Target::Placed(i);
        if let Some(recs) = slice_records(loc, t, e, blocks) {
            slice_rules(loc, t, e, recs, flagsets);
        }
        good_placed.push(*e);
    }
    let exists_known = image.known & known::EXISTS != 0;
    for (j, e) in image.unplaced.iter().enumerate() {
        if e.len.get() == 0 {
            continue;
        }
        let t = Target::Unplaced(j);
        let Some(recs) = slice_records(loc, t, e, blocks) else {
            continue;
        };
        if !slice_rules(loc, t, e, recs, flagsets) || !exists_known {
            continue;
        }
        if let Some(why) = recs
            .iter()
            .find_map(|r| contradiction(&good_placed, image.exists, r.uid.get()))
        {
            loc.report(
                Damage,
                t,
                20,
                "IndexEntry",
                "records",
                "unplaced UIDs that placed knowledge does not rule out (FORMAT.md 6.3)",
                format_args!("{why} ({})", describe(e)),
            );
        }
    }
}
