//! Opening and closing a cache, the ABI version, and the thread's last error.
#![expect(
    unsafe_code,
    reason = "`#[unsafe(no_mangle)]` exports only; every unsafe block is in boundary.rs (tests/unsafe_confined.rs)"
)]

use std::ffi::{c_char, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use uidcache::{Cache, Durability, OpenOptions};

use crate::boundary;
use crate::handle::UidcacheCache;
use crate::status::{guard, last_error_ptr, Fail, UidcacheStatus};

/// The ABI's major version: changes when a function, struct or constant changes in a way
/// that breaks programs built against the old header (the shared library's soname follows).
pub const UIDCACHE_ABI_MAJOR: u32 = 1;
/// The ABI's minor version: new functions, new constants, new status codes, new
/// `uidcache_open_options` fields at the end (guarded by its `size`). Programs built
/// against an older minor keep working.
pub const UIDCACHE_ABI_MINOR: u32 = 0;

/// `uidcache_open_options.flags`: open as a reader: no lock, no writes, any number of
/// readers beside the writer.
pub const UIDCACHE_OPEN_READ_ONLY: u32 = 1;
/// Fail when the cache does not exist instead of creating it.
pub const UIDCACHE_OPEN_NO_CREATE: u32 = 2;
/// Commits do not fsync by default: they survive a crash of the process, not of the
/// machine (the cache then opens at an earlier commit, never a mix).
pub const UIDCACHE_OPEN_NO_SYNC: u32 = 4;
/// Never compact the layout by itself.
pub const UIDCACHE_OPEN_NO_AUTO_COMPACT: u32 = 8;
/// Compact a fragmented layout when the handle is closed without `uidcache_close`'s
/// report (it always compacts then).
pub const UIDCACHE_OPEN_COMPACT_ON_DROP: u32 = 16;
/// Do not checkpoint the journal when the handle goes away.
pub const UIDCACHE_OPEN_NO_CHECKPOINT_ON_DROP: u32 = 32;
/// A writer whose files are damaged repairs them (dropping what is damaged, never
/// inventing a record) and opens again; the dropped records are to be fetched again.
pub const UIDCACHE_OPEN_REPAIR: u32 = 64;

const KNOWN_FLAGS: u32 = 127;

/// How to open a cache. Fill it with `uidcache_open_options_init` (which sets `size` and
/// the defaults), then change fields. Fields are only ever added at the end, and `size`
/// tells the library which ones a program knows.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidcacheOpenOptions {
    /// `sizeof(uidcache_open_options)` as the program was built.
    pub size: u32,
    /// `UIDCACHE_OPEN_*` bits.
    pub flags: u32,
    /// How long a writer waits for another writer's lock, in milliseconds; negative: fail
    /// at once with `UIDCACHE_ERR_LOCKED` (the default).
    pub lock_wait_ms: i64,
    /// Journal size in bytes beyond which a commit checkpoints; 0: the default (1 MiB).
    pub journal_limit: u64,
}

/// The ABI version the library was built with: `major << 16 | minor`. A program checks
/// that the major matches `UIDCACHE_ABI_MAJOR` and the minor is at least the one it needs.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_abi_version() -> u32 {
    UIDCACHE_ABI_MAJOR << 16 | UIDCACHE_ABI_MINOR
}

/// The message of the last failed call on the calling thread, or NULL when none failed.
/// The string belongs to the library and stays valid until the next failing call on this
/// thread; copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_last_error_message() -> *const c_char {
    last_error_ptr()
}

/// Fills `options` with the defaults (a durable writer that creates the cache) and its
/// `size`.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_open_options_init(options: *mut UidcacheOpenOptions) -> UidcacheStatus {
    guard(|| {
        boundary::out(options, "options")?.write(UidcacheOpenOptions {
            size: std::mem::size_of::<UidcacheOpenOptions>() as u32,
            flags: 0,
            lock_wait_ms: -1,
            journal_limit: 0,
        });
        Ok(())
    })
}

/// Opens the cache of one mailbox in the directory `dir` (a NUL-terminated path) and
/// stores the handle in `*out`. `options` may be NULL for the defaults.
///
/// Ownership: the caller owns the handle and releases it with `uidcache_close`.
/// Thread-safety: a handle (and its transaction and cursors) may move between threads but
/// must not be used by two threads at once; the caller serialises. Different handles are
/// independent, also on the same directory (one writer per directory across processes:
/// a second writer gets `UIDCACHE_ERR_LOCKED`).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_open(
    dir: *const c_char,
    options: *const UidcacheOpenOptions,
    out: *mut *mut UidcacheCache,
) -> UidcacheStatus {
    guard(|| {
        let out = boundary::out(out, "out")?;
        out.write(std::ptr::null_mut());
        let dir = boundary::cstr(dir, "dir")?;
        if dir.is_empty() {
            return Err(Fail::argument("dir is empty"));
        }
        let dir = OsStr::from_bytes(dir.to_bytes());
        let (flags, options) = match boundary::opt_ref(options, "options")? {
            Some(o) => (o.flags, engine_options(o)?),
            None => (0, OpenOptions::new()),
        };
        let cache = if flags & UIDCACHE_OPEN_REPAIR != 0 && flags & UIDCACHE_OPEN_READ_ONLY == 0 {
            uidcache::open_repairing(dir, options)?.0
        } else {
            Cache::open_with(dir, options)?
        };
        out.write(boundary::new_cache(cache));
        Ok(())
    })
}

fn engine_options(o: &UidcacheOpenOptions) -> Result<OpenOptions, Fail> {
    if (o.size as usize) < std::mem::size_of::<UidcacheOpenOptions>() {
        return Err(Fail::argument(format!(
            "options->size is {}: fill the options with uidcache_open_options_init",
            o.size
        )));
    }
    if o.flags & !KNOWN_FLAGS != 0 {
        return Err(Fail::argument(format!(
            "unknown bits {:#x} in options->flags",
            o.flags & !KNOWN_FLAGS
        )));
    }
    let on = |bit: u32| o.flags & bit != 0;
    let mut options = OpenOptions::new()
        .read_only(on(UIDCACHE_OPEN_READ_ONLY))
        .create(!on(UIDCACHE_OPEN_NO_CREATE))
        .auto_compact(!on(UIDCACHE_OPEN_NO_AUTO_COMPACT))
        .compact_on_drop(on(UIDCACHE_OPEN_COMPACT_ON_DROP))
        .checkpoint_on_drop(!on(UIDCACHE_OPEN_NO_CHECKPOINT_ON_DROP))
        .lock_wait(
            u64::try_from(o.lock_wait_ms)
                .ok()
                .map(Duration::from_millis),
        );
    if on(UIDCACHE_OPEN_NO_SYNC) {
        options = options.durability(Durability::NoSync);
    }
    if o.journal_limit != 0 {
        options = options.journal_limit(o.journal_limit);
    }
    Ok(options)
}

/// Closes the cache: a writer checkpoints its journal (compacting a fragmented layout
/// first, unless `UIDCACHE_OPEN_NO_AUTO_COMPACT`) and reports what a silent drop could
/// not. NULL is a no-op.
///
/// The handle is freed whatever the result, except on `UIDCACHE_ERR_BUSY` (a transaction
/// or a cursor of it is still open) and `UIDCACHE_ERR_ARGUMENT` (not a cache handle), when
/// nothing happened; a failed checkpoint loses nothing committed (the journal holds it).
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_close(cache: *mut UidcacheCache) -> UidcacheStatus {
    guard(|| {
        if cache.is_null() {
            return Ok(());
        }
        let h = boundary::handle(cache)?;
        boundary::take_cache(h)?.close()?;
        Ok(())
    })
}

/// Reads the committed state from disk again: a reader sees the writer's later commits,
/// and answers `UIDCACHE_ERR_STALE` with it (then reads again). Refused while a
/// transaction or a cursor of the cache is open.
#[unsafe(no_mangle)]
pub extern "C" fn uidcache_refresh(cache: *mut UidcacheCache) -> UidcacheStatus {
    guard(|| {
        let h = boundary::handle(cache)?;
        boundary::engine_mut(h)?.refresh()?;
        Ok(())
    })
}
