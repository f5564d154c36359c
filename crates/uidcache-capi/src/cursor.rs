//! Cursors: a sequence range read in batches, for C code that pulls rows rather than
//! taking callbacks.
//!
//! Ownership: `uidcache_cursor_open` returns a cursor the caller owns and frees with
//! `uidcache_cursor_close`. While it is open its cache cannot begin a transaction or close
//! (`UIDCACHE_ERR_BUSY`); other reads are fine. A reader's cursor sees the snapshot the
//! cache has at each call.
#![expect(
    unsafe_code,
    reason = "`#[unsafe(no_mangle)]` exports only; every unsafe block is in boundary.rs (tests/unsafe_confined.rs)"
)]

use crate::boundary;
use crate::handle::{UidcacheCache, UidcacheCursor};
use crate::status::{guard, UidcacheStatus};
use crate::types::UidcacheRow;

/// Opens a cursor over the known messages with sequence numbers in `first..=last` and
/// stores it in `*out` (NULL on failure; `UIDCACHE_ERR_BUSY` while a transaction of the
/// cache is open).
///
/// Ownership: the caller owns the cursor and frees it with `uidcache_cursor_close`, before
/// closing the cache. While it is open the cache refuses a transaction and closing
/// (`UIDCACHE_ERR_BUSY`); other reads are fine. Threads: the cursor belongs with its cache
/// (one thread at a time for both).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_cursor_open(
    cache: *mut UidcacheCache,
    first: u32,
    last: u32,
    out: *mut *mut UidcacheCursor,
) -> UidcacheStatus {
    guard(|| {
        let out = boundary::out(out, "out")?;
        out.write(std::ptr::null_mut());
        let h = boundary::handle(cache)?;
        out.write(boundary::new_cursor(h, first, last)?);
        Ok(())
    })
}

/// Stores up to `cap` next rows in `rows` and their number in `*count`, ascending by
/// sequence number; `*count` is 0 when the range is exhausted. `rows` may be NULL when
/// `cap` is 0.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_cursor_next(
    cursor: *mut UidcacheCursor,
    rows: *mut UidcacheRow,
    cap: usize,
    count: *mut usize,
) -> UidcacheStatus {
    guard(|| {
        let c = boundary::handle(cursor)?;
        let count = boundary::out(count, "count")?;
        count.write(0);
        let rows = boundary::slice_out(rows, cap, "rows")?;
        let Ok(next) = u32::try_from(c.next) else {
            return Ok(());
        };
        if next > c.last || rows.is_empty() {
            return Ok(());
        }
        let last = c.last;
        let mut n = 0;
        // Past the last row read, or past the range when it ran out before `rows` filled.
        let mut after = u64::from(last) + 1;
        {
            let view = boundary::cursor_engine(c)?.view();
            for (slot, item) in rows.iter_mut().zip(view.range(next..=last)) {
                let (seq, m) = item?;
                slot.write(UidcacheRow {
                    seq,
                    message: m.into(),
                });
                n += 1;
                if n == cap {
                    after = u64::from(seq) + 1;
                }
            }
        }
        c.next = after;
        count.write(n);
        Ok(())
    })
}

/// Frees the cursor. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_cursor_close(cursor: *mut UidcacheCursor) -> UidcacheStatus {
    guard(|| {
        if cursor.is_null() {
            return Ok(());
        }
        boundary::end_cursor(boundary::handle(cursor)?);
        Ok(())
    })
}
