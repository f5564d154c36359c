//! Index rules that need no block: FORMAT.md 4.8 rules 1–9, and no two entries claiming
//! the same records of a block. (An entry's `flags` word is checked by decoding, which
//! refuses undefined bits, and against its records in `slices.rs`.)

use uidcache_format::{IndexEntry, SEQ_UNPLACED};

use super::{Locator, Target};
use crate::report::Severity::Damage;

/// A short, position-independent name of an entry for messages.
pub(crate) fn describe(e: &IndexEntry) -> String {
    let seq = e.seq_start.get();
    let at = if seq == SEQ_UNPLACED {
        "unplaced".to_string()
    } else {
        format!("seq {seq}+{}", e.len.get())
    };
    format!(
        "{at} UIDs {}..={} in block {:016x} from record {}",
        e.first_uid.get(),
        e.last_uid.get(),
        e.block_id.get(),
        e.first_record.get()
    )
}

/// Rules 1, 2, 3; `false` when the entry is too broken to check further.
fn common(loc: &mut Locator<'_>, t: Target, e: &IndexEntry) -> bool {
    let name = describe(e);
    let (len, first, last) = (e.len.get(), e.first_uid.get(), e.last_uid.get());
    if len == 0 {
        loc.report(
            Damage,
            t,
            12,
            "IndexEntry",
            "len",
            "at least 1",
            format_args!("0 ({name})"),
        );
        return false;
    }
    let mut sound = true;
    if first == 0 || last < first || last - first < len - 1 {
        loc.report(
            Damage,
            t,
            20,
            "IndexEntry",
            "first_uid",
            "0 < first_uid, last_uid - first_uid >= len - 1",
            &name,
        );
        sound = false;
    }
    let next = loc.image.next_block_id;
    if e.block_id.get() >= next {
        loc.report(
            Damage,
            t,
            0,
            "IndexEntry",
            "block_id",
            format_args!("below the header's next_block_id {next}"),
            &name,
        );
    }
    sound
}

fn placed(loc: &mut Locator<'_>) {
    let exists = u64::from(loc.image.exists);
    let mut prev: Option<IndexEntry> = None;
    for (i, e) in loc.image.placed.clone().iter().enumerate() {
        let t = Target::Placed(i);
        if !common(loc, t, e) {
            continue;
        }
        let name = describe(e);
        let (seq, len) = (u64::from(e.seq_start.get()), u64::from(e.len.get()));
        if seq == 0 || seq + len - 1 > exists {
            loc.report(
                Damage,
                t,
                8,
                "IndexEntry",
                "seq_start",
                format_args!("a range inside 1..={exists} (EXISTS; 0 when unknown)"),
                &name,
            );
            continue;
        }
        if let Some(p) = prev {
            let prev_end = u64::from(p.seq_start.get()) + u64::from(p.len.get()) - 1;
            if seq <= prev_end {
                loc.report(
                    Damage,
                    t,
                    8,
                    "IndexEntry",
                    "seq_start",
                    format_args!("above {prev_end}, the previous entry's last sequence number"),
                    &name,
                );
                continue;
            }
            let need = u64::from(p.last_uid.get()) + (seq - prev_end);
            if u64::from(e.first_uid.get()) < need {
                loc.report(
                    Damage,
                    t,
                    20,
                    "IndexEntry",
                    "first_uid",
                    format_args!("at least {need} (UID gap rule after {})", describe(&p)),
                    &name,
                );
                continue;
            }
        }
        prev = Some(*e);
    }
}

fn unplaced(loc: &mut Locator<'_>) {
    let mut prev_last: Option<u32> = None;
    for (j, e) in loc.image.unplaced.clone().iter().enumerate() {
        let t = Target::Unplaced(j);
        if e.seq_start.get() != SEQ_UNPLACED {
            loc.report(
                Damage,
                t,
                8,
                "IndexEntry",
                "seq_start",
                "0xFFFFFFFF (unplaced)",
                describe(e),
            );
            continue;
        }
        if !common(loc, t, e) {
            continue;
        }
        if let Some(p) = prev_last {
            if e.first_uid.get() <= p {
                loc.report(
                    Damage,
                    t,
                    20,
                    "IndexEntry",
                    "first_uid",
                    format_args!("above {p}, the previous unplaced entry's last UID"),
                    describe(e),
                );
                continue;
            }
        }
        prev_last = Some(e.last_uid.get());
    }
}

/// No two entries may claim the same record of a block (disjoint ranges may share a block:
/// an expunge splits a slice).
fn overlaps(loc: &mut Locator<'_>) {
    let mut ranges: Vec<(u64, u64, u64, Target)> = Vec::new();
    let all = loc
        .image
        .placed
        .iter()
        .enumerate()
        .map(|(i, e)| (Target::Placed(i), e));
    let all = all.chain(
        loc.image
            .unplaced
            .iter()
            .enumerate()
            .map(|(j, e)| (Target::Unplaced(j), e)),
    );
    for (t, e) in all {
        let start = u64::from(e.first_record.get());
        ranges.push((e.block_id.get(), start, start + u64::from(e.len.get()), t));
    }
    ranges.sort_unstable_by_key(|r| (r.0, r.1));
    let mut clashes = Vec::new();
    for pair in ranges.windows(2) {
        if let [a, b] = pair {
            if a.0 == b.0 && b.1 < a.2 {
                clashes.push((b.3, b.0, b.1, a.1, a.2));
            }
        }
    }
    for (second, block, start, a_start, a_end) in clashes {
        loc.report(
            Damage,
            second,
            16,
            "IndexEntry",
            "first_record",
            format_args!(
                "records of block {block:016x} that no other entry claims (another entry holds {a_start}..{a_end})"
            ),
            format_args!("record {start} claimed again"),
        );
    }
}

/// Runs every rule of this module.
pub(crate) fn check(loc: &mut Locator<'_>) {
    placed(loc);
    unplaced(loc);
    overlaps(loc);
}
