//! The three opaque handles C holds, and the rules that keep their borrows sound: a
//! transaction or a cursor borrows its cache, so while one is open the cache refuses to
//! close, to begin another transaction, or (for a transaction) to be read; each refusal is
//! `UIDCACHE_ERR_BUSY`, never undefined behaviour.

use std::ptr::NonNull;

use uidcache::{Cache, Transaction};

use crate::status::Fail;

/// Tags in each handle's `magic` field, so that a pointer to
/// another kind of handle, or to a closed one whose memory was not reused yet, is refused
/// rather than misread. Read as a plain `u64` through a raw field pointer: any bit pattern
/// is a valid one, and no reference to the handle is made before the tag matched.
pub(crate) const MAGIC_CACHE: u64 = 0x7569_6463_6361_6368;
/// See [`MAGIC_CACHE`].
pub(crate) const MAGIC_TXN: u64 = 0x7569_6463_7478_6e21;
/// See [`MAGIC_CACHE`].
pub(crate) const MAGIC_CURSOR: u64 = 0x7569_6463_6375_7273;
/// Written into a handle just before it is freed.
pub(crate) const MAGIC_DEAD: u64 = 0xdead_dead_dead_dead;

/// A handle type: its tag.
pub(crate) trait Handle {
    /// The tag its first field holds while it is alive.
    const MAGIC: u64;
    /// What C calls it, for messages.
    const NAME: &'static str;
    /// Where its tag lies (Rust's layout, not C's: the handles are opaque to C).
    const MAGIC_OFFSET: usize;
    /// Its tag.
    fn magic_mut(&mut self) -> &mut u64;
}

impl Handle for UidcacheCache {
    const MAGIC: u64 = MAGIC_CACHE;
    const NAME: &'static str = "uidcache_cache";
    const MAGIC_OFFSET: usize = std::mem::offset_of!(UidcacheCache, magic);
    fn magic_mut(&mut self) -> &mut u64 {
        &mut self.magic
    }
}

impl Handle for UidcacheTxn {
    const MAGIC: u64 = MAGIC_TXN;
    const NAME: &'static str = "uidcache_txn";
    const MAGIC_OFFSET: usize = std::mem::offset_of!(UidcacheTxn, magic);
    fn magic_mut(&mut self) -> &mut u64 {
        &mut self.magic
    }
}

impl Handle for UidcacheCursor {
    const MAGIC: u64 = MAGIC_CURSOR;
    const NAME: &'static str = "uidcache_cursor";
    const MAGIC_OFFSET: usize = std::mem::offset_of!(UidcacheCursor, magic);
    fn magic_mut(&mut self) -> &mut u64 {
        &mut self.magic
    }
}

/// One open cache (`uidcache_cache` in C). Owns the engine's `Cache`.
// `repr(C)` puts `magic` first in every handle, whatever the other fields.
#[repr(C)]
pub struct UidcacheCache {
    pub(crate) magic: u64,
    /// The engine's handle, boxed once and reached only through this pointer: the open
    /// transaction holds a `&mut` into it, which moving or reborrowing a `Box` field would
    /// invalidate. Freed by `boundary::free_cache`.
    pub(crate) cache: NonNull<Cache>,
    /// A transaction of this cache is open: the cache is borrowed mutably.
    pub(crate) txn_open: bool,
    /// Cursors of this cache still open: the cache is borrowed shared.
    pub(crate) cursors: usize,
}

/// An open transaction (`uidcache_txn` in C).
// `repr(C)` puts `magic` first in every handle, whatever the other fields.
#[repr(C)]
pub struct UidcacheTxn {
    pub(crate) magic: u64,
    /// `None` once committed or broken by a failed commit.
    pub(crate) txn: Option<Transaction<'static>>,
    /// The cache whose `txn_open` this transaction set.
    pub(crate) owner: NonNull<UidcacheCache>,
}

/// A cursor over a sequence range (`uidcache_cursor` in C).
// `repr(C)` puts `magic` first in every handle, whatever the other fields.
#[repr(C)]
pub struct UidcacheCursor {
    pub(crate) magic: u64,
    pub(crate) owner: NonNull<UidcacheCache>,
    /// The next sequence number to look at; past `last` when done.
    pub(crate) next: u64,
    pub(crate) last: u32,
}

impl UidcacheCache {
    /// Refuses while a transaction holds the cache mutably.
    #[inline]
    pub(crate) fn check_no_txn(&self) -> Result<(), Fail> {
        if self.txn_open {
            Err(Self::txn_busy())
        } else {
            Ok(())
        }
    }

    /// The error of a call that a transaction of the cache keeps from running.
    #[cold]
    pub(crate) fn txn_busy() -> Fail {
        Fail::busy("a transaction of this cache is open: commit or abort it first")
    }

    /// Refuses while anything borrows the cache.
    pub(crate) fn check_idle(&self) -> Result<(), Fail> {
        self.check_no_txn()?;
        if self.cursors > 0 {
            return Err(Fail::busy(format!(
                "{} cursor(s) of this cache are open: close them first",
                self.cursors
            )));
        }
        Ok(())
    }
}

// `boundary::handle` reads a tag at `H::MAGIC_OFFSET` of whatever handle C passed, maybe
// one of another kind: that read must stay inside every handle's block.
const _: () = {
    const fn min(a: usize, b: usize) -> usize {
        if a < b {
            a
        } else {
            b
        }
    }
    let smallest = min(
        size_of::<UidcacheCache>(),
        min(size_of::<UidcacheTxn>(), size_of::<UidcacheCursor>()),
    );
    assert!(UidcacheCache::MAGIC_OFFSET + size_of::<u64>() <= smallest);
    assert!(UidcacheTxn::MAGIC_OFFSET + size_of::<u64>() <= smallest);
    assert!(UidcacheCursor::MAGIC_OFFSET + size_of::<u64>() <= smallest);
};

// The header lets a handle move to another thread between calls: the engine's handles
// must be `Send`.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<uidcache::Cache>();
    send::<Transaction<'static>>();
};
