//! The peers: every workload runs the same calls on each of them.

mod floor;
mod rename;
mod sqlite;
mod timed;
mod uidcache;

pub use floor::Floor;
pub use rename::RenameLayout;
pub use sqlite::Sqlite;
pub use uidcache::Uidcache;

pub(crate) use timed::{CommitLog, Timed};

use std::path::Path;

use crate::BenchError;

/// One message as every peer stores it: UID, flag bits, MODSEQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Msg {
    /// UID.
    pub uid: u32,
    /// Flags as a small number (the peers intern flags differently; the workloads only
    /// need a value to change).
    pub flags: u32,
    /// MODSEQ.
    pub modseq: u64,
}

/// A mailbox store under benchmark. Sequence numbers are 1-based; every peer starts from a
/// mailbox whose count is set and whose UIDs are learned in ranges.
pub trait Peer {
    /// Short name used in reports.
    fn name(&self) -> &'static str;
    /// Sets the message count (growing adds unknown messages).
    fn set_exists(&mut self, count: u32) -> Result<(), BenchError>;
    /// Learns that `seq..` hold `uids`.
    fn learn_range(&mut self, seq: u32, uids: &[u32]) -> Result<(), BenchError>;
    /// The message at `seq`.
    fn get(&mut self, seq: u32) -> Result<Option<Msg>, BenchError>;
    /// The sequence number of `uid`.
    fn seq_of(&mut self, uid: u32) -> Result<Option<u32>, BenchError>;
    /// Removes `seq`; later messages shift down.
    fn expunge(&mut self, seq: u32) -> Result<(), BenchError>;
    /// Removes the message with `uid` (VANISHED); by default: find it, expunge it.
    fn remove_uid(&mut self, uid: u32) -> Result<(), BenchError> {
        if let Some(seq) = self.seq_of(uid)? {
            self.expunge(seq)?;
        }
        Ok(())
    }
    /// Sets flags and MODSEQ of the message at `seq`.
    fn set_flags(&mut self, seq: u32, flags: u32, modseq: u64) -> Result<(), BenchError>;
    /// Makes everything since the last commit one atomic, durable (if configured) change.
    fn commit(&mut self) -> Result<(), BenchError>;
    /// fsync calls so far on the committing thread, where the peer can count them.
    fn fsyncs(&self) -> Option<u64>;
    /// fsync calls so far on a peer's background thread (uidcache's syncer), if it has one.
    fn background_fsyncs(&self) -> Option<u64> {
        None
    }
}

/// How to build a peer on a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// uidcache.
    Uidcache,
    /// The seed's rename-based layout.
    Rename,
    /// SQLite as clients use it.
    Sqlite,
    /// A plain Vec, no persistence.
    Floor,
}

impl PeerKind {
    /// Every peer, uidcache first.
    pub const ALL: [PeerKind; 4] = [
        PeerKind::Uidcache,
        PeerKind::Rename,
        PeerKind::Sqlite,
        PeerKind::Floor,
    ];

    /// Report name.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Uidcache => "uidcache",
            PeerKind::Rename => "rename",
            PeerKind::Sqlite => "sqlite",
            PeerKind::Floor => "floor",
        }
    }

    /// Opens (creating if empty) the peer's store in `dir`.
    pub fn open(self, dir: &Path, durable: bool) -> Result<Box<dyn Peer>, BenchError> {
        Ok(match self {
            PeerKind::Uidcache => Box::new(Uidcache::open(dir, durable)?),
            PeerKind::Rename => Box::new(RenameLayout::open(dir, durable)?),
            PeerKind::Sqlite => Box::new(Sqlite::open(dir, durable)?),
            PeerKind::Floor => Box::new(Floor::default()),
        })
    }

    /// The peer named `name` (as in reports).
    pub fn from_name(name: &str) -> Option<PeerKind> {
        PeerKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Waits until the store in `dir` is settled after its handle was dropped: uidcache may
    /// finish a large closing checkpoint on a background thread after the drop returns
    /// (`OpenOptions::close_in_background_above`); the others close inline.
    pub fn wait_closed(self, dir: &Path) {
        if self == PeerKind::Uidcache {
            uidcache_engine::wait_for_close(dir);
        }
    }

    /// Whether the peer keeps anything on disk (reopen and durability mean something).
    pub fn persistent(self) -> bool {
        self != PeerKind::Floor
    }
}
