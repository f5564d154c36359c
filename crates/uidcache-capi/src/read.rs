//! Reads of a cache's committed state: counters, a message by sequence number, a UID's
//! position, runs and holes, the fetch plan, flag names, the QRESYNC parameter, and
//! callbacks over a sequence range or the changes since a MODSEQ.
//!
//! Every read is refused with `UIDCACHE_ERR_BUSY` while a transaction of the cache is open
//! (commit first: a transaction's changes are visible only once committed).
#![expect(
    unsafe_code,
    reason = "`#[unsafe(no_mangle)]` exports only; every unsafe block is in boundary.rs (tests/unsafe_confined.rs)"
)]

use std::ffi::c_void;
use std::mem::MaybeUninit;

use uidcache::{FlagSetId, Segment, View};

use crate::boundary;
use crate::handle::UidcacheCache;
use crate::status::{guard, Fail, UidcacheStatus};
use crate::types::{
    UidcacheCounters, UidcacheMessage, UidcachePosition, UidcacheRow, UIDCACHE_SEGMENT_HOLE,
    UIDCACHE_SEGMENT_KNOWN,
};

/// Called once per row; return 0 to go on, anything else to stop (the call then returns
/// `UIDCACHE_OK`). `row` is valid during the call only.
pub type UidcacheRowFn = Option<extern "C" fn(ctx: *mut c_void, row: *const UidcacheRow) -> i32>;

/// Called once per flag name (`len` bytes, not NUL-terminated, valid during the call
/// only); return 0 to go on, anything else to stop.
pub type UidcacheNameFn =
    Option<extern "C" fn(ctx: *mut c_void, name: *const u8, len: usize) -> i32>;

/// Called once per run of known (`UIDCACHE_SEGMENT_KNOWN`) or unknown
/// (`UIDCACHE_SEGMENT_HOLE`) sequence numbers `first..=last`, ascending; return 0 to go
/// on, anything else to stop.
pub type UidcacheSegmentFn =
    Option<extern "C" fn(ctx: *mut c_void, kind: u32, first: u32, last: u32) -> i32>;

/// Runs `read` on the cache's committed view.
fn with_view(
    cache: *mut UidcacheCache,
    read: impl FnOnce(&View<'_>) -> Result<(), Fail>,
) -> UidcacheStatus {
    guard(|| {
        let h = boundary::handle(cache)?;
        read(&boundary::engine(h)?.view())
    })
}

/// Stores the mailbox's counters in `*out`.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_get_counters(
    cache: *mut UidcacheCache,
    out: *mut UidcacheCounters,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let out = boundary::out(out, "out")?;
        out.write(UidcacheCounters {
            uidvalidity: view.uidvalidity().unwrap_or(0),
            uidnext: view.uidnext().unwrap_or(0),
            exists: view.exists().unwrap_or(0),
            highestmodseq: view.highestmodseq().unwrap_or(0),
            record_count: view.record_count(),
            unplaced_count: view.unplaced_count(),
            has_uidvalidity: view.uidvalidity().is_some(),
            has_uidnext: view.uidnext().is_some(),
            has_exists: view.exists().is_some(),
            has_highestmodseq: view.highestmodseq().is_some(),
        });
        Ok(())
    })
}

/// The message at sequence number `seq`: `*found` is true and `*out` holds it, or
/// `*found` is false (the position is unknown or out of range) and `*out` is untouched.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_message_at(
    cache: *mut UidcacheCache,
    seq: u32,
    out: *mut UidcacheMessage,
    found: *mut bool,
) -> UidcacheStatus {
    guard(|| {
        // A message-list redraw makes this call in a loop: the common case (valid
        // arguments, the record in a block this handle has mapped) is answered here with
        // no error value on the stack, everything else by `message_at_slow`.
        if message_at_fast(cache, seq, out, found) {
            return Ok(());
        }
        message_at_slow(cache, seq, out, found)
    })
}

/// The in-memory answer (`View::peek_message_at`), when the arguments are valid.
#[inline(always)]
fn message_at_fast(
    cache: *mut UidcacheCache,
    seq: u32,
    out: *mut UidcacheMessage,
    found: *mut bool,
) -> bool {
    let (Some(h), Some(out), Some(found)) = (
        boundary::try_handle(cache),
        boundary::try_out(out),
        boundary::try_out(found),
    ) else {
        return false;
    };
    let Some(cache) = boundary::try_engine(h) else {
        return false;
    };
    match cache.view().peek_message_at(seq) {
        Some(m) => {
            out.write(UidcacheMessage::from(m));
            found.write(true);
            true
        }
        None => false,
    }
}

#[inline(never)]
fn message_at_slow(
    cache: *mut UidcacheCache,
    seq: u32,
    out: *mut UidcacheMessage,
    found: *mut bool,
) -> Result<(), Fail> {
    let h = boundary::handle(cache)?;
    let out = boundary::out(out, "out")?;
    let found = boundary::out(found, "found")?;
    write_found(out, found, boundary::engine(h)?.view().message_at(seq)?);
    Ok(())
}

/// Writes `message` to `out` when there is one, and whether there is to `found`: the
/// outputs of every call that looks one message up.
fn write_found(
    out: &mut MaybeUninit<UidcacheMessage>,
    found: &mut MaybeUninit<bool>,
    message: Option<uidcache::Message>,
) {
    if let Some(m) = message {
        out.write(UidcacheMessage::from(m));
    }
    found.write(message.is_some());
}

/// Where UID `uid` stands (see `UIDCACHE_POSITION_*`).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_position_of_uid(
    cache: *mut UidcacheCache,
    uid: u32,
    out: *mut UidcachePosition,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let out = boundary::out(out, "out")?;
        out.write(view.position_of_uid(uid)?.into());
        Ok(())
    })
}

/// The unplaced record with UID `uid` (known by UID, without a position), as
/// `uidcache_message_at` reports.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_unplaced_message(
    cache: *mut UidcacheCache,
    uid: u32,
    out: *mut UidcacheMessage,
    found: *mut bool,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let out = boundary::out(out, "out")?;
        let found = boundary::out(found, "found")?;
        write_found(out, found, view.unplaced_message(uid)?);
        Ok(())
    })
}

/// Calls `row` for each known message with a sequence number in `first..=last`,
/// ascending (unknown positions are skipped: `uidcache_fetch_plan` says what to fetch).
/// `ctx` is passed through. The cache must not be used from inside the callback.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_range(
    cache: *mut UidcacheCache,
    first: u32,
    last: u32,
    row: UidcacheRowFn,
    ctx: *mut c_void,
) -> UidcacheStatus {
    with_view(cache, |view| call_rows(row, ctx, view.range(first..=last)))
}

/// Calls `row` for each message whose MODSEQ is known and above `modseq`: placed ones
/// first (ascending by sequence number), then unplaced ones (`seq` 0, ascending by UID).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_changed_since(
    cache: *mut UidcacheCache,
    modseq: u64,
    row: UidcacheRowFn,
    ctx: *mut c_void,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let rows = view
            .changed_since(modseq)
            .map(|item| item.map(|(seq, m)| (seq.unwrap_or(0), m)));
        call_rows(row, ctx, rows)
    })
}

/// Hands each `(seq, message)` to the caller's `row` until it returns nonzero (a stop, not
/// an error) or a read fails.
fn call_rows(
    row: UidcacheRowFn,
    ctx: *mut c_void,
    rows: impl Iterator<Item = uidcache::Result<(u32, uidcache::Message)>>,
) -> Result<(), Fail> {
    let row = row.ok_or_else(|| Fail::null("row"))?;
    for item in rows {
        let (seq, m) = item?;
        let r = UidcacheRow {
            seq,
            message: m.into(),
        };
        if row(ctx, &r) != 0 {
            break;
        }
    }
    Ok(())
}

/// Calls `segment` for each maximal run of known or unknown sequence numbers covering
/// `1..=exists`, in order.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_segments(
    cache: *mut UidcacheCache,
    segment: UidcacheSegmentFn,
    ctx: *mut c_void,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let segment = segment.ok_or_else(|| Fail::null("segment"))?;
        for s in view.segments() {
            let (kind, first, last) = match s {
                Segment::Known(a, b) => (UIDCACHE_SEGMENT_KNOWN, a, b),
                Segment::Hole(a, b) => (UIDCACHE_SEGMENT_HOLE, a, b),
            };
            if segment(ctx, kind, first, last) != 0 {
                break;
            }
        }
        Ok(())
    })
}

/// The range a client should fetch next to learn `seq`: at most `max` sequence numbers,
/// aligned to multiples of `max`, never overlapping what is known. `*found` is false (and
/// `*first`, `*last` untouched) when `seq` is known or out of range.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_fetch_plan(
    cache: *mut UidcacheCache,
    seq: u32,
    max: u32,
    first: *mut u32,
    last: *mut u32,
    found: *mut bool,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let first = boundary::out(first, "first")?;
        let last = boundary::out(last, "last")?;
        let found = boundary::out(found, "found")?;
        match view.fetch_plan(seq, max) {
            Some(r) => {
                first.write(*r.start());
                last.write(*r.end());
                found.write(true);
            }
            None => {
                found.write(false);
            }
        }
        Ok(())
    })
}

/// Calls `name` for each flag name of the flag set `flag_set` (from
/// `uidcache_message.flag_set`), sorted by bytes. An unknown flag set is
/// `UIDCACHE_ERR_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_flag_names(
    cache: *mut UidcacheCache,
    flag_set: u32,
    name: UidcacheNameFn,
    ctx: *mut c_void,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let name = name.ok_or_else(|| Fail::null("name"))?;
        let names = view
            .flag_names(FlagSetId(flag_set))
            .ok_or_else(|| Fail::argument(format!("no flag set {flag_set} in this cache")))?;
        for n in names {
            if name(ctx, n.as_ptr(), n.len()) != 0 {
                break;
            }
        }
        Ok(())
    })
}

/// Whether `message` carries the flag `name` (`len` bytes; ASCII case does not matter):
/// `*out` is 1 or 0, or -1 when the message's FLAGS were never learned.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_has_flag(
    cache: *mut UidcacheCache,
    message: *const UidcacheMessage,
    name: *const u8,
    len: usize,
    out: *mut i32,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let message = boundary::req_ref(message, "message")?.to_engine();
        let name = boundary::slice(name, len, "name")?;
        let out = boundary::out(out, "out")?;
        let answer = view.has_flag(&message, name);
        // A flag set this cache does not have answers "no" in the engine; here it is the
        // caller's mistake. Only a "no" needs the (allocating) check.
        if let (Some(false), Some(id)) = (answer, message.flags) {
            if view.flag_names(id).is_none() {
                return Err(Fail::argument(format!(
                    "no flag set {} in this cache",
                    id.0
                )));
            }
        }
        out.write(match answer {
            Some(true) => 1,
            Some(false) => 0,
            None => -1,
        });
        Ok(())
    })
}

/// Writes the QRESYNC parameter of a SELECT for the cached state (the text after the
/// mailbox name: `(QRESYNC (uidvalidity modseq known-uids ...))`), NUL-terminated, into
/// `buf` (`cap` bytes; NULL allowed when `cap` is 0), and its length without the NUL into
/// `*len`. Without UIDVALIDITY or HIGHESTMODSEQ there is none: `*len` is 0 (and `buf`
/// holds "" when `cap` > 0). When `cap` is too small, `UIDCACHE_ERR_BUFFER_TOO_SMALL`
/// and `*len` says how many bytes the text needs (plus one for the NUL).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_qresync_param(
    cache: *mut UidcacheCache,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> UidcacheStatus {
    with_view(cache, |view| {
        let len = boundary::out(len, "len")?;
        let buf = boundary::slice_out(buf, cap, "buf")?;
        let text = view
            .qresync_param()?
            .map(|p| p.to_string())
            .unwrap_or_default();
        len.write(text.len());
        if text.len() >= buf.len() {
            if let Some(first) = buf.first_mut() {
                first.write(0);
            }
            if text.is_empty() && buf.is_empty() {
                return Ok(());
            }
            return Err(Fail::new(
                UidcacheStatus::UidcacheErrBufferTooSmall,
                format!("the QRESYNC parameter needs {} bytes", text.len() + 1),
            ));
        }
        for (slot, &b) in buf.iter_mut().zip(text.as_bytes().iter().chain(&[0])) {
            slot.write(b);
        }
        Ok(())
    })
}
