//! The uidcache storage engine: one IMAP mailbox's state (message sequence number →
//! UID, FLAGS, MODSEQ, plus UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and EXISTS) in a directory.
//!
//! Records live in immutable, memory-mapped block files named by a 64-bit ID that is never
//! reused or renamed. An index file lists slices of those blocks in sequence order; changes
//! append checksummed frames to a journal, and the index is rewritten atomically when the
//! journal grows past a bound. The byte-level format is `format-spec/FORMAT.md`.
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

mod blocks;
mod cache;
mod compact;
mod dirfs;
mod error;
mod flags;
mod identity;
mod image;
mod inspect;
mod journal;
mod lock;
mod mmap;
mod options;
mod seqindex;
mod slice;
mod stale;
mod state;
#[doc(hidden)]
pub mod tools;
mod txn;
mod vfs;
mod view;

pub use blocks::MAX_BLOCK_RECORDS;
pub use cache::{Cache, LayoutInfo, Stats};
pub use compact::{CompactStats, MIN_SLICE_RECORDS};
pub use dirfs::{
    block_id_of, block_path, BLOCKS_DIR, CLEAN_FILE, INDEX_FILE, JOURNAL_FILE, LOCK_FILE,
};
pub use error::{Error, InvalidOp, Result};
pub use flags::{check_flag_list, FlagSetId, MAX_FLAGS, MAX_FLAG_BYTES};
pub use identity::fresh_cache_id;
pub use inspect::Replay;
pub use journal::fresh_salt as fresh_journal_salt;
pub use options::{Durability, OpenOptions};
pub use stale::StaleSnapshot;
pub use txn::{Removal, Transaction, Update, INLINE_RECORDS};
pub use vfs::{BlockBytes, LockGuard, NotARegularFile, PathKind, StdVfs, Vfs, VfsFile};
pub use view::{Message, Segment, UidPosition, View};
