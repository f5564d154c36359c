//! uidcache for C: an opaque-handle C API over the [`uidcache`] embedding API, built as
//! `libuidcache_capi.so` and `libuidcache_capi.a`, declared in `include/uidcache.h`
//! (generated from this crate by cbindgen; `tests/header.rs` fails when it is stale).
//!
//! # The C API's rules
//!
//! - Every function returns a [`UidcacheStatus`] (0 is success), except
//!   `uidcache_abi_version` and `uidcache_last_error_message`; on an error the calling
//!   thread's last error message says what went wrong. Results go to out-parameters.
//! - Three handles: `uidcache_cache` (an open mailbox directory), `uidcache_txn` (an open
//!   transaction of one cache) and `uidcache_cursor` (a batch reader of a sequence range).
//!   Each is owned by the caller from the call that returns it to the call that frees it
//!   (`uidcache_close`, `uidcache_txn_commit` / `uidcache_txn_abort`,
//!   `uidcache_cursor_close`). A transaction or a cursor borrows its cache: while one is
//!   open, the calls that would conflict with it fail with `UIDCACHE_ERR_BUSY`.
//! - Threads: a handle may be used from any thread, by one thread at a time (a cache and
//!   its transaction and cursors count as one); the caller serialises. Separate caches are
//!   independent.
//! - No Rust panic crosses into C: each entry point catches one and returns
//!   `UIDCACHE_ERR_PANIC`. NULL where a pointer is required, misaligned pointers, lengths
//!   whose byte size overflows, unknown flag bits and handles of the wrong kind are errors.
//!
//! # Safety
//!
//! The entry points are `extern "C"` functions for C callers, whose contract is C's: a
//! non-NULL pointer points to valid memory of the stated type and length for the call,
//! and a handle is one this library returned and has not freed. They are not `unsafe fn`
//! so that every `unsafe` operation stays in one module (`boundary.rs`), where each is
//! argued; Rust programs use the [`uidcache`] crate instead.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod boundary;
pub mod cursor;
mod handle;
pub mod open;
pub mod read;
mod status;
pub mod txn;
pub mod types;

pub use handle::{UidcacheCache, UidcacheCursor, UidcacheTxn};
pub use status::UidcacheStatus;
