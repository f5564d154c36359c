//! The uidcache storage engine: one IMAP mailbox's state (message sequence number →
//! UID, FLAGS, MODSEQ, plus UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and EXISTS) in a directory.
//!
//! Records live in immutable, memory-mapped block files named by a 64-bit ID that is never
//! reused or renamed. An index file lists slices of those blocks in sequence order; changes
//! append checksummed frames to a journal, and the index is rewritten atomically when the
//! journal grows past a bound. The byte-level format is specified in [FORMAT.md].
//!
//! [FORMAT.md]: https://github.com/uidcache/uidcache/blob/main/format-spec/FORMAT.md
//!
//! # Example
//! ```
//! use uidcache_engine::{Cache, Update};
//! let dir = tempfile::tempdir().unwrap();
//! let mut cache = Cache::open(dir.path()).unwrap();
//! let mut tx = cache.transaction().unwrap();
//! tx.set_uidvalidity(Some(1234)).unwrap();
//! tx.set_exists(5).unwrap();
//! tx.learn_range(1, &[10, 11, 15, 20, 21]).unwrap();
//! tx.update_seq(2, Update { flags: Some(&[b"\\Seen"]), modseq: Some(7) }).unwrap();
//! tx.expunge(1).unwrap();
//! tx.commit().unwrap();
//! let view = cache.view();
//! let m = view.message_at(1).unwrap().unwrap();
//! assert_eq!((m.uid, m.modseq), (11, Some(7)));
//! assert_eq!(view.flag_names(m.flags.unwrap()).unwrap(), vec![&b"\\Seen"[..]]);
//! ```
#![deny(missing_docs)]
// Unsafe code only in `mmap`, each block with its argument.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_debug_implementations)]

// Readers keep blocks mapped while the writer unlinks them and renames a new index over the
// old one; the writer lock is an advisory `flock`; a directory is fsynced to make a rename
// durable; files whose type is not yet known are opened `O_NONBLOCK` (a FIFO must not hang
// a reader) and read with `pread`. Windows has none of these semantics, and a build there
// would otherwise fail deep inside with no word of why.
#[cfg(not(unix))]
compile_error!(
    "uidcache supports Unix only (Linux, macOS, the BSDs): it needs flock, mmap of files \
     that are unlinked while mapped, directory fsync and O_NONBLOCK/O_NOFOLLOW opens"
);

mod blocks;
mod cache;
mod compact;
mod dirfs;
mod error;
mod flags;
mod gaps;
mod identity;
mod image;
mod inspect;
mod iter;
mod journal;
mod lock;
#[expect(
    unsafe_code,
    reason = "the one module allowed unsafe code: mapping block files and pinned record pointers"
)]
mod mmap;
mod options;
mod overlay;
mod pending;
mod placed;
mod qresync;
mod ranges;
mod removal_plan;
mod remove;
mod safeopen;
mod select;
mod seqindex;
mod slice;
mod stale;
mod state;
mod syncer;
#[doc(hidden)]
pub mod tools;
mod tracker;
mod txn;
mod uid_search;
mod vfs;
mod view;
mod walked;

pub use cache::{
    background_closes, wait_for_close, wait_for_closes, Cache, LayoutInfo, Stats,
    MAX_BACKGROUND_CLOSES,
};
pub use compact::{
    CompactStats, STEP_CREDIT_PER_CHANGE, STEP_CREDIT_PER_REMOVAL, STEP_MAX_RECORDS,
};
pub use error::{Error, ErrorKind, FlagTableError, InvalidOp, Invariant, Result};
pub use flags::{check_flag_list, FlagSetId, MAX_FLAGS, MAX_FLAG_BYTES};
pub use gaps::{Holes, UnknownFlags};
pub use iter::{ChangedSince, Messages};
pub use options::{Durability, OpenOptions, CLOSE_IN_BACKGROUND_ABOVE};
pub use pending::PENDING_BLOCKS_IN_MEMORY;
pub use qresync::{QresyncParam, UidSet};
pub use remove::{Removed, MAX_HOLE_REMOVALS};
pub use select::{SelectOutcome, SelectResult};
pub use stale::StaleSnapshot;
pub use tracker::TrackedChanges;
pub use txn::{Removal, Transaction, Update, MAX_MESSAGES};
pub use view::{Message, Segment, UidPosition, View};
