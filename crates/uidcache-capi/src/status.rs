//! Status codes, the thread's last error message, and the guard every entry point runs
//! its body in (no panic crosses into C).

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use uidcache::{Error, ErrorKind};

/// What a call did. `UIDCACHE_OK` is 0; every other value is an error, whose message
/// `uidcache_last_error_message` returns on the same thread. New codes may be added in a
/// minor release: treat an unknown one as `UIDCACHE_ERR_OTHER`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UidcacheStatus {
    /// Success.
    UidcacheOk = 0,
    /// A pointer that must not be NULL was NULL.
    UidcacheErrNull = 1,
    /// An argument is out of its domain: an unknown flag bit or durability, a length that
    /// overflows, a path that is not valid, a handle of the wrong type, a bad struct size.
    UidcacheErrArgument = 2,
    /// The handle is in use: a transaction or a cursor of this cache is open. Nothing was
    /// done, and a handle passed to a closing call is still valid.
    UidcacheErrBusy = 3,
    /// A file operation failed.
    UidcacheErrIo = 4,
    /// A file of the cache is damaged (open with `UIDCACHE_OPEN_REPAIR` to repair it).
    UidcacheErrCorrupt = 5,
    /// Another process holds the writer lock.
    UidcacheErrLocked = 6,
    /// The cache was opened read-only.
    UidcacheErrReadOnly = 7,
    /// An earlier I/O failure poisoned the handle: close it and open the cache again.
    UidcacheErrPoisoned = 8,
    /// The call contradicts the mailbox state (a sequence number out of range, UIDs out
    /// of order, ...); nothing was changed.
    UidcacheErrInvalidOp = 9,
    /// The directory holds other files and is not a cache.
    UidcacheErrNotACache = 10,
    /// A reader's snapshot is gone (the writer checkpointed): `uidcache_refresh` and read
    /// again.
    UidcacheErrStale = 11,
    /// The files were written by an older format version.
    UidcacheErrUpgradeRequired = 12,
    /// An internal consistency rule failed: a bug, or damage the checksums did not see.
    UidcacheErrInvariant = 13,
    /// A bug in the library (a Rust panic, caught at the boundary). The handle passed to
    /// the call should be released: a transaction aborted, a cache closed.
    UidcacheErrPanic = 14,
    /// The output buffer is too small; the length out-parameter says how much is needed.
    UidcacheErrBufferTooSmall = 15,
    /// Any other error.
    UidcacheErrOther = 16,
}

/// A failed call: its code and its message.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) status: UidcacheStatus,
    pub(crate) message: String,
}

impl Fail {
    #[cold]
    pub(crate) fn new(status: UidcacheStatus, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
        }
    }

    /// A NULL where a pointer is required; `what` names the parameter.
    #[cold]
    pub(crate) fn null(what: &str) -> Fail {
        Fail::new(UidcacheStatus::UidcacheErrNull, format!("{what} is NULL"))
    }

    #[cold]
    pub(crate) fn argument(message: impl Into<String>) -> Fail {
        Fail::new(UidcacheStatus::UidcacheErrArgument, message)
    }

    #[cold]
    pub(crate) fn busy(message: impl Into<String>) -> Fail {
        Fail::new(UidcacheStatus::UidcacheErrBusy, message)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::from_ref(&e)
    }
}

impl Fail {
    fn from_ref(e: &Error) -> Fail {
        let status = if e.is_stale() {
            UidcacheStatus::UidcacheErrStale
        } else if e.is_upgrade_required() {
            UidcacheStatus::UidcacheErrUpgradeRequired
        } else {
            status_of(e.kind())
        };
        Fail::new(status, e.to_string())
    }
}

fn status_of(kind: &ErrorKind) -> UidcacheStatus {
    use UidcacheStatus as S;
    match kind {
        ErrorKind::Io { .. } => S::UidcacheErrIo,
        ErrorKind::Corrupt { .. } => S::UidcacheErrCorrupt,
        ErrorKind::NotACache { .. } => S::UidcacheErrNotACache,
        ErrorKind::Locked { .. } => S::UidcacheErrLocked,
        ErrorKind::Poisoned | ErrorKind::AfterCommit(_) => S::UidcacheErrPoisoned,
        ErrorKind::ReadOnly => S::UidcacheErrReadOnly,
        ErrorKind::Invariant(_) => S::UidcacheErrInvariant,
        ErrorKind::Invalid(_) => S::UidcacheErrInvalidOp,
        _ => S::UidcacheErrOther,
    }
}

impl From<uidcache::RepairingError> for Fail {
    fn from(e: uidcache::RepairingError) -> Fail {
        use uidcache::fsck::FsckError;
        let status = match &e {
            uidcache::RepairingError::Open(inner) => return clone_kind(inner, &e),
            uidcache::RepairingError::Repair(FsckError::Locked { .. }) => {
                UidcacheStatus::UidcacheErrLocked
            }
            uidcache::RepairingError::Repair(FsckError::Io { .. }) => UidcacheStatus::UidcacheErrIo,
            _ => UidcacheStatus::UidcacheErrOther,
        };
        Fail::new(status, e.to_string())
    }
}

/// The code of the engine error inside a repairing error, with the outer message.
fn clone_kind(inner: &Error, outer: &uidcache::RepairingError) -> Fail {
    let code = Fail::from_ref(inner).status;
    Fail::new(code, outer.to_string())
}

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: &str) {
    // A NUL inside a message (from a path) would cut it short; show it instead.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(text));
}

/// The last error message of this thread, or NULL when no call on this thread has failed.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|slot| {
        slot.borrow()
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// Runs an entry point's body: a panic becomes `UIDCACHE_ERR_PANIC`, an error its code,
/// and either one the thread's last error message. Inlined, with the error paths out of
/// line, so that a call that succeeds costs little more than its body (a lookup is a few
/// nanoseconds; BENCHMARKS.md, "C API overhead").
#[inline]
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Fail>) -> UidcacheStatus {
    // A handle a panicking body touched may be half-changed; the engine's own types
    // discard or poison what a failed call leaves, and the code tells the caller to close.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => UidcacheStatus::UidcacheOk,
        Ok(Err(fail)) => report(fail),
        Err(payload) => report_panic(payload),
    }
}

#[cold]
#[inline(never)]
fn report(fail: Fail) -> UidcacheStatus {
    set_last_error(&fail.message);
    fail.status
}

#[cold]
#[inline(never)]
fn report_panic(payload: Box<dyn std::any::Any + Send>) -> UidcacheStatus {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string());
    set_last_error(&format!("internal error (please report): {what}"));
    UidcacheStatus::UidcacheErrPanic
}
