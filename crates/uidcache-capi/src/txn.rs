//! Transactions: changes that become visible and durable together at commit.
//!
//! Ownership: `uidcache_begin` returns a transaction the caller owns; exactly one of
//! `uidcache_txn_commit` and `uidcache_txn_abort` frees it. While it is open its cache
//! refuses reads, a second transaction and closing (`UIDCACHE_ERR_BUSY`). A failed change
//! leaves the transaction as it was (nothing of that call applied); an I/O error while
//! reading breaks it, and then every later call and the commit fail.
#![expect(
    unsafe_code,
    reason = "`#[unsafe(no_mangle)]` exports only; every unsafe block is in boundary.rs (tests/unsafe_confined.rs)"
)]

use uidcache::{Durability, SelectResult, Transaction};

use crate::boundary;
use crate::handle::{UidcacheCache, UidcacheTxn};
use crate::status::{guard, Fail, UidcacheStatus};
use crate::types::{
    uid_ranges, Names, UidcachePosition, UidcacheRemoved, UidcacheSelect, UidcacheSelectOutcome,
    UidcacheUidRange, UidcacheUpdate, UIDCACHE_SELECT_EXISTS, UIDCACHE_SELECT_QRESYNC,
    UIDCACHE_SELECT_UIDNEXT, UIDCACHE_SELECT_UIDVALIDITY,
};

/// `uidcache_txn_commit`: the durability the cache was opened with.
pub const UIDCACHE_DURABILITY_DEFAULT: u32 = 0;
/// `uidcache_txn_commit`: fsync before returning (survives power loss).
pub const UIDCACHE_DURABILITY_DURABLE: u32 = 1;
/// `uidcache_txn_commit`: no fsync (survives a crash of the process, not of the machine).
pub const UIDCACHE_DURABILITY_NO_SYNC: u32 = 2;

/// Runs `change` on the open transaction behind `txn`.
fn with_txn(
    txn: *mut UidcacheTxn,
    change: impl FnOnce(&mut Transaction<'static>) -> Result<(), Fail>,
) -> UidcacheStatus {
    guard(|| {
        let t = boundary::handle(txn)?;
        let tx = t
            .txn
            .as_mut()
            .ok_or_else(|| Fail::argument("the transaction has ended"))?;
        change(tx)
    })
}

/// Begins a transaction on a writer's cache and stores it in `*out` (NULL on failure).
/// Fails on a read-only or poisoned cache, and with `UIDCACHE_ERR_BUSY` while another
/// transaction or a cursor of the cache is open.
///
/// Ownership: the caller owns the transaction; exactly one of `uidcache_txn_commit` and
/// `uidcache_txn_abort` frees it. Until then its cache refuses reads, a second transaction
/// and closing (`UIDCACHE_ERR_BUSY`). Threads: the transaction belongs with its cache (one
/// thread at a time for both). A failed change leaves the transaction as it was, except an
/// I/O error while reading blocks, after which every later call and the commit fail.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_begin(
    cache: *mut UidcacheCache,
    out: *mut *mut UidcacheTxn,
) -> UidcacheStatus {
    guard(|| {
        let out = boundary::out(out, "out")?;
        out.write(std::ptr::null_mut());
        let h = boundary::handle(cache)?;
        out.write(boundary::begin(h)?);
        Ok(())
    })
}

/// Commits the transaction and frees it (whatever the result: a failed commit discards
/// the changes, and the error says whether the cache handle is now poisoned).
/// `durability` is one of `UIDCACHE_DURABILITY_*`; an unknown value is
/// `UIDCACHE_ERR_ARGUMENT` and then the transaction stays open.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_commit(txn: *mut UidcacheTxn, durability: u32) -> UidcacheStatus {
    guard(|| {
        let t = boundary::handle(txn)?;
        let durability = match durability {
            UIDCACHE_DURABILITY_DEFAULT => None,
            UIDCACHE_DURABILITY_DURABLE => Some(Durability::Durable),
            UIDCACHE_DURABILITY_NO_SYNC => Some(Durability::NoSync),
            other => return Err(Fail::argument(format!("unknown durability {other}"))),
        };
        let result = match t.txn.take() {
            Some(tx) => match durability {
                Some(d) => tx.commit_with(d),
                None => tx.commit(),
            },
            None => Ok(()),
        };
        boundary::end_txn(t);
        result.map_err(Fail::from)
    })
}

/// Discards the transaction's changes and frees it. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_abort(txn: *mut UidcacheTxn) -> UidcacheStatus {
    guard(|| {
        if txn.is_null() {
            return Ok(());
        }
        boundary::end_txn(boundary::handle(txn)?);
        Ok(())
    })
}

/// Records a SELECT/EXAMINE response and applies the reconnect rule: a new UIDVALIDITY
/// drops everything; without `UIDCACHE_SELECT_QRESYNC` no record stays placed; with it
/// the known run from sequence number 1 stays, minus the `VANISHED (EARLIER)` UIDs in it.
/// Other records keep their UID, flags and MODSEQ without a position. HIGHESTMODSEQ is not
/// changed (see `uidcache_select_outcome.unproven_flags`). `outcome` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_record_select(
    txn: *mut UidcacheTxn,
    select: *const UidcacheSelect,
    outcome: *mut UidcacheSelectOutcome,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        let s = boundary::req_ref(select, "select")?;
        let known = UIDCACHE_SELECT_UIDVALIDITY
            | UIDCACHE_SELECT_EXISTS
            | UIDCACHE_SELECT_UIDNEXT
            | UIDCACHE_SELECT_QRESYNC;
        if s.fields & !known != 0 {
            return Err(Fail::argument(format!(
                "unknown bits {:#x} in select->fields",
                s.fields & !known
            )));
        }
        let outcome = boundary::opt_out(outcome, "outcome")?;
        let vanished = uid_ranges(s.vanished, s.vanished_count, "select->vanished")?;
        let mut r = SelectResult::new();
        if s.fields & UIDCACHE_SELECT_UIDVALIDITY != 0 {
            r = r.uidvalidity(s.uidvalidity);
        }
        if s.fields & UIDCACHE_SELECT_EXISTS != 0 {
            r = r.exists(s.exists);
        }
        if s.fields & UIDCACHE_SELECT_UIDNEXT != 0 {
            r = r.uidnext(s.uidnext);
        }
        if s.fields & UIDCACHE_SELECT_QRESYNC != 0 {
            r = r.qresync(&vanished);
        }
        let done = tx.record_select(&r)?;
        if let Some(o) = outcome {
            o.write(UidcacheSelectOutcome {
                kept: done.kept,
                cleared: done.cleared,
                unproven_flags: done.unproven_flags,
            });
        }
        Ok(())
    })
}

/// Learns the UIDs of `count` consecutive sequence numbers from `seq` (a `UID SEARCH`
/// answer); `uids` may be NULL when `count` is 0.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_learn_range(
    txn: *mut UidcacheTxn,
    seq: u32,
    uids: *const u32,
    count: usize,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        let uids = boundary::slice(uids, count, "uids")?;
        tx.learn_range(seq, uids)?;
        Ok(())
    })
}

/// Learns that `uid` is at `seq`, with its flags and MODSEQ from `update` (NULL: neither).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_learn(
    txn: *mut UidcacheTxn,
    seq: u32,
    uid: u32,
    update: *const UidcacheUpdate,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        let names = Names::read(update)?;
        tx.learn(seq, uid, names.update())?;
        Ok(())
    })
}

/// Sets the flags and/or MODSEQ of the message at `seq` (a `FETCH` without UID).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_update_seq(
    txn: *mut UidcacheTxn,
    seq: u32,
    update: *const UidcacheUpdate,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        let names = Names::read(update)?;
        tx.update_seq(seq, names.update())?;
        Ok(())
    })
}

/// Sets the flags and/or MODSEQ of the message with `uid`, placed or not.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_update_uid(
    txn: *mut UidcacheTxn,
    uid: u32,
    update: *const UidcacheUpdate,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        let names = Names::read(update)?;
        tx.update_uid(uid, names.update())?;
        Ok(())
    })
}

/// Removes the message at `seq` (`* n EXPUNGE`); later messages move down.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_expunge(txn: *mut UidcacheTxn, seq: u32) -> UidcacheStatus {
    with_txn(txn, |tx| {
        tx.expunge(seq)?;
        Ok(())
    })
}

/// Removes the UIDs of `count` inclusive ranges (`* VANISHED 3:5,9`), at a cost that
/// follows the records present, not the ranges' width. `removed` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_remove_uids(
    txn: *mut UidcacheTxn,
    ranges: *const UidcacheUidRange,
    count: usize,
    removed: *mut UidcacheRemoved,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        let ranges = uid_ranges(ranges, count, "ranges")?;
        let removed = boundary::opt_out(removed, "removed")?;
        let done = tx.remove_uids(&ranges)?;
        if let Some(r) = removed {
            r.write(UidcacheRemoved {
                placed: done.placed,
                from_holes: done.from_holes,
                unplaced: done.unplaced,
            });
        }
        Ok(())
    })
}

/// Drops the positions of sequence numbers `first..=last` (the records stay, by UID).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_unplace(
    txn: *mut UidcacheTxn,
    first: u32,
    last: u32,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        tx.unplace(first, last)?;
        Ok(())
    })
}

/// Sets UIDVALIDITY to `*value`, or forgets it when `value` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_set_uidvalidity(
    txn: *mut UidcacheTxn,
    value: *const u32,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        tx.set_uidvalidity(boundary::opt_ref(value, "value")?.copied())?;
        Ok(())
    })
}

/// Sets UIDNEXT to `*value`, or forgets it when `value` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_set_uidnext(
    txn: *mut UidcacheTxn,
    value: *const u32,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        tx.set_uidnext(boundary::opt_ref(value, "value")?.copied())?;
        Ok(())
    })
}

/// Sets HIGHESTMODSEQ to `*value`, or forgets it when `value` is NULL. Set it only once
/// the cache holds every change up to it.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_set_highestmodseq(
    txn: *mut UidcacheTxn,
    value: *const u64,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        tx.set_highestmodseq(boundary::opt_ref(value, "value")?.copied())?;
        Ok(())
    })
}

/// Sets the message count (`* n EXISTS`).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_set_exists(txn: *mut UidcacheTxn, count: u32) -> UidcacheStatus {
    with_txn(txn, |tx| {
        tx.set_exists(count)?;
        Ok(())
    })
}

/// Where `uid` stands as the transaction has changed the state so far.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_txn_position_of_uid(
    txn: *mut UidcacheTxn,
    uid: u32,
    out: *mut UidcachePosition,
) -> UidcacheStatus {
    with_txn(txn, |tx| {
        let out = boundary::out(out, "out")?;
        out.write(tx.position_of_uid(uid)?.into());
        Ok(())
    })
}
