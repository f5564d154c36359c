//! Every `unsafe` operation of the C API: reading the pointers C passes, and the one
//! lifetime the borrow checker cannot see (a transaction borrowing its cache across calls).
//!
//! What C promises (the header says it for each function): a non-NULL pointer points to
//! memory that is valid for the stated type and length for the duration of the call, and a
//! handle pointer is one this library returned and that was not freed. What this module
//! checks on top: NULL, alignment, lengths whose byte size overflows, and each handle's tag
//! (so that a handle of another kind is refused); handle borrows are tracked in the handles
//! (`handle.rs`), so that misuse C can commit with valid pointers (closing a cache whose
//! transaction is open, reading it meanwhile) is an error and not undefined behaviour.
#![allow(
    unsafe_code,
    reason = "the C boundary: the one module with unsafe code"
)]

use std::ffi::{c_char, CStr};
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use uidcache::{Cache, Transaction};

use crate::handle::{Handle, UidcacheCache, UidcacheCursor, UidcacheTxn, MAGIC_DEAD};
use crate::status::Fail;

/// Moves `value` to the heap and hands C its pointer.
pub(crate) fn into_handle<H: Handle>(value: H) -> *mut H {
    Box::into_raw(Box::new(value))
}

/// The live handle behind `p`, or an error for NULL, a misaligned pointer, or a pointer to
/// something that is not a live handle of this kind.
#[inline]
pub(crate) fn handle<'a, H: Handle>(p: *mut H) -> Result<&'a mut H, Fail> {
    try_handle(p).ok_or_else(|| handle_error(p))
}

/// [`handle`] without the reason: for a call's fast path, which leaves errors to its slow
/// path.
#[inline]
pub(crate) fn try_handle<'a, H: Handle>(p: *mut H) -> Option<&'a mut H> {
    if magic_of(p)? != H::MAGIC {
        return None;
    }
    // SAFETY: the tag says this is a live `H` made by `into_handle`. C calls are not made
    // concurrently on one handle (the header's thread-safety rule), so this is the only
    // reference for the duration of the call.
    Some(unsafe { &mut *p })
}

/// The tag of the handle `p` points to; `None` for NULL or a misaligned pointer.
#[inline]
fn magic_of<H: Handle>(p: *mut H) -> Option<u64> {
    if p.is_null() || !p.is_aligned() {
        return None;
    }
    // SAFETY: `p` is non-null and aligned, and C promises it points to a handle this
    // library returned. Every handle is a heap block at least as large as its `magic`
    // field's end, at `MAGIC_OFFSET` (8-aligned: `p` is aligned for `H`, whose alignment
    // is at least `u64`'s; `handle.rs` asserts the offset fits every kind of handle). The
    // tag is read as a plain `u64` (every bit pattern valid), before any reference to the
    // handle exists. The check turns the likely mistakes (a handle of another kind, one
    // already freed whose memory still holds `MAGIC_DEAD`) into errors.
    Some(unsafe { p.cast::<u8>().add(H::MAGIC_OFFSET).cast::<u64>().read() })
}

/// Why `p` is not a live handle of kind `H`.
#[cold]
#[inline(never)]
fn handle_error<H: Handle>(p: *mut H) -> Fail {
    if p.is_null() {
        return Fail::null(H::NAME);
    }
    let what = match magic_of(p) {
        None => "a misaligned",
        Some(MAGIC_DEAD) => "a closed",
        Some(_) => "not a",
    };
    Fail::argument(format!("the pointer is {what} {} handle", H::NAME))
}

/// Frees a handle returned by `into_handle` and returns its fields. Its tag is set to
/// `MAGIC_DEAD` first, so that a later use of the stale pointer is refused as long as the
/// allocator has not reused the memory (a best effort: such a use is undefined in C).
pub(crate) fn free_handle<H: Handle>(h: &mut H) -> H {
    *h.magic_mut() = MAGIC_DEAD;
    let p: *mut H = h;
    // SAFETY: `h` was checked by `handle` (a live handle made by `into_handle`, so the
    // pointer came from `Box::into_raw`), and the caller gives up its reference with this
    // call: nothing uses the memory after the box is rebuilt and dropped.
    let boxed = unsafe { Box::from_raw(p) };
    *boxed
}

/// The engine's cache for reading. Refused while a transaction holds it mutably.
#[inline]
pub(crate) fn engine(h: &UidcacheCache) -> Result<&Cache, Fail> {
    try_engine(h).ok_or_else(UidcacheCache::txn_busy)
}

/// [`engine`] without the reason, for a call's fast path.
#[inline]
pub(crate) fn try_engine(h: &UidcacheCache) -> Option<&Cache> {
    if h.txn_open {
        return None;
    }
    // SAFETY: `h.cache` came from `Box::into_raw` in `new_cache` and is freed only by
    // `take_cache`, which consumes the handle. No `&mut Cache` exists: the only one is
    // an open transaction's, and `txn_open` just ruled that out.
    Some(unsafe { h.cache.as_ref() })
}

/// The engine's cache for a call that needs it alone (refresh). Refused while a
/// transaction or a cursor borrows it.
pub(crate) fn engine_mut(h: &mut UidcacheCache) -> Result<&mut Cache, Fail> {
    h.check_idle()?;
    // SAFETY: as in `engine`; and no cursor holds a shared borrow (`check_idle`), while
    // `&mut h` keeps this call the only user of the handle.
    Ok(unsafe { h.cache.as_mut() })
}

/// The cache of a cursor. A cursor's cache has no transaction (a transaction cannot begin
/// while a cursor is open) and outlives it (closing refuses while cursors are open).
pub(crate) fn cursor_engine(c: &UidcacheCursor) -> Result<&Cache, Fail> {
    // SAFETY: the cursor's owner is a live cache handle: `uidcache_close` refuses while
    // `cursors > 0`, and this cursor counted itself in at `uidcache_cursor_open`.
    let owner = unsafe { c.owner.as_ref() };
    engine(owner)
}

/// Boxes an opened cache into a new handle.
pub(crate) fn new_cache(cache: Cache) -> *mut UidcacheCache {
    let cache = NonNull::from(Box::leak(Box::new(cache)));
    into_handle(UidcacheCache {
        magic: UidcacheCache::MAGIC,
        cache,
        txn_open: false,
        cursors: 0,
    })
}

/// Frees the handle and returns its cache. Refused (the handle stays valid) while a
/// transaction or a cursor borrows it.
pub(crate) fn take_cache(h: &mut UidcacheCache) -> Result<Cache, Fail> {
    h.check_idle()?;
    let handle = free_handle(h);
    // SAFETY: `handle.cache` came from `Box::leak` in `new_cache`; nothing borrows it
    // (`check_idle`), and the handle that pointed to it is gone.
    Ok(*unsafe { Box::from_raw(handle.cache.as_ptr()) })
}

/// Begins a transaction on `h`'s cache: the transaction's borrow outlives this call, so
/// its lifetime is the handle's, enforced by `txn_open` instead of the borrow checker.
pub(crate) fn begin(h: &mut UidcacheCache) -> Result<*mut UidcacheTxn, Fail> {
    h.check_idle()?;
    // SAFETY: the `Cache` lives in its own allocation (`new_cache`) until `take_cache`,
    // which refuses while `txn_open`. From here until `end_txn` clears `txn_open`, this
    // `&mut` is the only reference to it: `engine`, `engine_mut`, `begin` and `take_cache`
    // all refuse while `txn_open` is set, and the raw pointer in `h.cache` is not
    // dereferenced meanwhile.
    let cache: &'static mut Cache = unsafe { &mut *h.cache.as_ptr() };
    let txn: Transaction<'static> = cache.transaction()?;
    h.txn_open = true;
    Ok(into_handle(UidcacheTxn {
        magic: UidcacheTxn::MAGIC,
        txn: Some(txn),
        owner: NonNull::from(h),
    }))
}

/// Frees a transaction handle (dropping an uncommitted transaction discards it) and
/// releases its cache.
pub(crate) fn end_txn(t: &mut UidcacheTxn) {
    let mut handle = free_handle(t);
    // Dropped first: the transaction's drop still uses the cache.
    drop(handle.txn.take());
    // SAFETY: the owner outlives its transactions (`take_cache` refuses while
    // `txn_open`), and C does not call into the cache during this call (one call at a time
    // per cache and its handles, the header's rule), so this is the only reference.
    unsafe { handle.owner.as_mut() }.txn_open = false;
}

/// Opens a cursor's claim on its cache.
pub(crate) fn new_cursor(
    h: &mut UidcacheCache,
    first: u32,
    last: u32,
) -> Result<*mut UidcacheCursor, Fail> {
    h.check_no_txn()?;
    h.cursors += 1;
    Ok(into_handle(UidcacheCursor {
        magic: UidcacheCursor::MAGIC,
        owner: NonNull::from(h),
        next: u64::from(first.max(1)),
        last,
    }))
}

/// Frees a cursor and releases its claim.
pub(crate) fn end_cursor(c: &mut UidcacheCursor) {
    let mut handle = free_handle(c);
    // SAFETY: as in `end_txn`: the owner outlives its cursors and is not in use.
    let owner = unsafe { handle.owner.as_mut() };
    owner.cursors = owner.cursors.saturating_sub(1);
}

/// The `T` that `p` points to, or `None` for NULL (an optional input).
#[inline]
pub(crate) fn opt_ref<'a, T>(p: *const T, what: &str) -> Result<Option<&'a T>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    if !p.is_aligned() {
        return Err(Fail::argument(format!("{what} is misaligned")));
    }
    // SAFETY: non-null and aligned; C promises a valid `T` for the call (header).
    Ok(Some(unsafe { &*p }))
}

/// The `T` that `p` points to; NULL is an error.
#[inline]
pub(crate) fn req_ref<'a, T>(p: *const T, what: &str) -> Result<&'a T, Fail> {
    opt_ref(p, what)?.ok_or_else(|| Fail::null(what))
}

/// Where to write an output; NULL is an error. The memory may be uninitialised: it is
/// only written (`MaybeUninit::write`).
#[inline]
pub(crate) fn out<'a, T>(p: *mut T, what: &str) -> Result<&'a mut MaybeUninit<T>, Fail> {
    opt_out(p, what)?.ok_or_else(|| Fail::null(what))
}

/// Where to write an output, or `None` for NULL or a misaligned pointer: for a call's fast
/// path, which leaves errors to its slow path.
#[inline]
pub(crate) fn try_out<'a, T>(p: *mut T) -> Option<&'a mut MaybeUninit<T>> {
    opt_out(p, "").ok().flatten()
}

/// Where to write an optional output, or `None` for NULL.
#[inline]
pub(crate) fn opt_out<'a, T>(
    p: *mut T,
    what: &str,
) -> Result<Option<&'a mut MaybeUninit<T>>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    if !p.is_aligned() {
        return Err(Fail::argument(format!("{what} is misaligned")));
    }
    // SAFETY: non-null and aligned; C promises writable memory for a `T` (header). As
    // `MaybeUninit`, uninitialised memory is fine: it is written, not read.
    Ok(Some(unsafe { &mut *p.cast::<MaybeUninit<T>>() }))
}

/// `len` elements at `p`. NULL is allowed only with `len == 0`.
#[inline]
pub(crate) fn slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    check_len::<T>(p, len, what)?;
    // SAFETY: non-null, aligned, `len * size_of::<T>()` fits in `isize` (checked); C
    // promises `len` valid elements (header).
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `len` writable elements at `p`, maybe uninitialised. NULL is allowed only with
/// `len == 0`.
#[inline]
pub(crate) fn slice_out<'a, T>(
    p: *mut T,
    len: usize,
    what: &str,
) -> Result<&'a mut [MaybeUninit<T>], Fail> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    check_len::<T>(p, len, what)?;
    // SAFETY: non-null, aligned, the byte size fits in `isize` (checked); C promises `len`
    // writable elements. As `MaybeUninit`, uninitialised memory is fine: only written.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<MaybeUninit<T>>(), len) })
}

#[inline]
fn check_len<T>(p: *const T, len: usize, what: &str) -> Result<(), Fail> {
    if !p.is_aligned() {
        return Err(Fail::argument(format!("{what} is misaligned")));
    }
    let bytes = len
        .checked_mul(std::mem::size_of::<T>())
        .filter(|&b| isize::try_from(b).is_ok())
        .ok_or_else(|| Fail::argument(format!("{what}: length {len} is too large")))?;
    // Wrapping around the address space is as impossible as the size above.
    (p as usize)
        .checked_add(bytes)
        .ok_or_else(|| Fail::argument(format!("{what}: length {len} wraps around")))?;
    Ok(())
}

/// A NUL-terminated string.
pub(crate) fn cstr<'a>(p: *const c_char, what: &str) -> Result<&'a CStr, Fail> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: non-null; C promises a NUL-terminated string valid for the call (header).
    Ok(unsafe { CStr::from_ptr(p) })
}
