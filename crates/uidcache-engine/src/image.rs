//! Converting between the in-memory [`State`] and the index file's [`IndexImage`], checking
//! on the way in every rule that the spec states for the index.

use std::path::Path;

use uidcache_format::{
    known, placed_entry_offset, unplaced_entry_offset, FormatError, FormatErrorKind, IndexEntry,
    IndexImage, Record, FLAGS_UNKNOWN, INDEX_ENTRY_FIRST_UID_OFFSET, INDEX_ENTRY_LEN_OFFSET,
    INDEX_ENTRY_SEQ_START_OFFSET, SEQ_UNPLACED,
};

use crate::error::{Error, Result};
use crate::flags::FlagTable;
use crate::slice::{uids_leave_room, Slice};
use crate::state::{Header, Meta, State};

// Where the fields an index rule judges sit in their entry, for the error's file offset.
const SEQ_START: u64 = INDEX_ENTRY_SEQ_START_OFFSET as u64;
const LEN: u64 = INDEX_ENTRY_LEN_OFFSET as u64;
const FIRST_UID: u64 = INDEX_ENTRY_FIRST_UID_OFFSET as u64;

fn entry_of(s: &Slice, seq: u32, flags_known: bool) -> IndexEntry {
    IndexEntry::new(s.block, seq, s.len, s.first_record, s.first_uid, s.last_uid)
        .with_flags_known(flags_known)
}

fn slice_of(e: &IndexEntry, seq: u32) -> Slice {
    Slice {
        block: e.block_id.get(),
        first_record: e.first_record.get(),
        len: e.len.get(),
        seq,
        first_uid: e.first_uid.get(),
        last_uid: e.last_uid.get(),
        flags_known: e.flags_known(),
    }
}

/// The index image of `state` at checkpoint `generation`.
pub(crate) fn to_image(state: &State, generation: u64) -> IndexImage {
    let h = &state.header;
    let mut bits = 0;
    for (is_known, bit) in [
        (h.uidvalidity.is_some(), known::UIDVALIDITY),
        (h.uidnext.is_some(), known::UIDNEXT),
        (h.highestmodseq.is_some(), known::HIGHESTMODSEQ),
        (h.exists.is_some(), known::EXISTS),
    ] {
        if is_known {
            bits |= bit;
        }
    }
    // What `Placed::flags_known` says per slice, without its lookup of the slice again.
    let index = state.placed.built_index();
    let proved = |i: usize| index.is_some_and(|x| x.flags_proved(i));
    IndexImage {
        cache_id: state.cache_id,
        known: bits,
        generation,
        next_block_id: state.next_block_id,
        uidvalidity: h.uidvalidity.unwrap_or(0),
        uidnext: h.uidnext.unwrap_or(0),
        highestmodseq: h.highestmodseq.unwrap_or(0),
        exists: h.exists.unwrap_or(0),
        placed: state
            .placed
            .iter()
            .enumerate()
            .map(|(i, s)| entry_of(s, s.seq, s.flags_known || proved(i)))
            .collect(),
        unplaced: state
            .unplaced
            .iter()
            .map(|s| entry_of(s, SEQ_UNPLACED, s.flags_known))
            .collect(),
        overlay: state
            .overlay
            .iter()
            .map(|(uid, m)| Record::new(*uid, m.flags, m.modseq))
            .collect(),
        atoms: state.flags.atoms().to_vec(),
        flagsets: state.flags.sets().to_vec(),
    }
}

/// The state an index image describes, after checking the rules of FORMAT.md "Index rules".
pub(crate) fn from_image(image: IndexImage, path: &Path) -> Result<State> {
    let bad = |offset: u64, field: &'static str, expected: &str, found: String| {
        Error::corrupt(
            path,
            FormatError::new(
                FormatErrorKind::Invalid,
                "IndexEntry",
                field,
                offset,
                expected,
                found,
            ),
        )
    };
    let has = |bit| image.known & bit != 0;
    let header = Header {
        uidvalidity: has(known::UIDVALIDITY).then_some(image.uidvalidity),
        uidnext: has(known::UIDNEXT).then_some(image.uidnext),
        highestmodseq: has(known::HIGHESTMODSEQ).then_some(image.highestmodseq),
        exists: has(known::EXISTS).then_some(image.exists),
    };
    let exists = u64::from(header.exists.unwrap_or(0));
    let mut placed = Vec::with_capacity(image.placed.len());
    let mut prev: Option<Slice> = None;
    for (i, e) in image.placed.iter().enumerate() {
        let at = placed_entry_offset(i);
        let s = slice_of(e, e.seq_start.get());
        check_entry(&s, at, image.next_block_id, &bad)?;
        if s.seq == 0 || u64::from(s.seq) + u64::from(s.len) - 1 > exists {
            return Err(bad(
                at + SEQ_START,
                "seq_start",
                "a range inside 1..=exists",
                format!("{}+{}", s.seq, s.len),
            ));
        }
        if let Some(p) = prev {
            if s.seq <= p.seq_end() {
                return Err(bad(
                    at + SEQ_START,
                    "seq_start",
                    "after the previous entry",
                    s.seq.to_string(),
                ));
            }
            if !uids_leave_room((p.seq_end(), p.last_uid), (s.seq, s.first_uid)) {
                return Err(bad(
                    at + FIRST_UID,
                    "first_uid",
                    "UIDs increasing with sequence numbers",
                    s.first_uid.to_string(),
                ));
            }
        }
        prev = Some(s);
        placed.push(s);
    }
    let mut unplaced: Vec<Slice> = Vec::with_capacity(image.unplaced.len());
    for (i, e) in image.unplaced.iter().enumerate() {
        let at = unplaced_entry_offset(image.placed.len(), i);
        if e.seq_start.get() != SEQ_UNPLACED {
            return Err(bad(
                at + SEQ_START,
                "seq_start",
                "0xFFFFFFFF (unplaced)",
                e.seq_start.get().to_string(),
            ));
        }
        let s = slice_of(e, 0);
        check_entry(&s, at, image.next_block_id, &bad)?;
        if unplaced.last().is_some_and(|p| p.last_uid >= s.first_uid) {
            return Err(bad(
                at + FIRST_UID,
                "first_uid",
                "above the previous unplaced entry",
                s.first_uid.to_string(),
            ));
        }
        unplaced.push(s);
    }
    let flags = FlagTable::from_parts(image.atoms, image.flagsets).map_err(|e| {
        Error::corrupt(
            path,
            FormatError::new(
                FormatErrorKind::Invalid,
                "FlagTable",
                "ids",
                0,
                "a valid table",
                e,
            ),
        )
    })?;
    let mut overlay = crate::overlay::Overlay::default();
    for r in &image.overlay {
        let flags_ok = r.flags.get() == FLAGS_UNKNOWN || flags.is_defined(r.flags.get());
        if r.uid.get() == 0 || !flags_ok || overlay.insert(r.uid.get(), Meta::of(r)).is_some() {
            return Err(Error::corrupt(
                path,
                FormatError::new(
                    FormatErrorKind::Invalid,
                    "Overlay",
                    "record",
                    0,
                    "unique nonzero UIDs, valid flag sets",
                    r.uid.get(),
                ),
            ));
        }
    }
    Ok(State {
        header,
        placed: placed.into(),
        unplaced,
        overlay,
        flags,
        next_block_id: image.next_block_id,
        cache_id: image.cache_id,
    })
}

fn check_entry(
    s: &Slice,
    at: u64,
    next_block_id: u64,
    bad: &impl Fn(u64, &'static str, &str, String) -> Error,
) -> Result<()> {
    if s.len == 0 {
        return Err(bad(at + LEN, "len", "at least 1", "0".into()));
    }
    if s.first_uid == 0 || s.last_uid < s.first_uid || s.last_uid - s.first_uid < s.len - 1 {
        return Err(bad(
            at + FIRST_UID,
            "first_uid",
            "0 < first_uid, last_uid - first_uid >= len - 1",
            format!("{}..={}", s.first_uid, s.last_uid),
        ));
    }
    if s.block >= next_block_id {
        return Err(bad(
            at,
            "block_id",
            "below the header's next_block_id",
            s.block.to_string(),
        ));
    }
    Ok(())
}
