//! uidcache itself, through its public API.

use std::path::Path;

use uidcache_engine::{Cache, Durability, Message, OpenOptions, Update};

use super::{Msg, Peer};
use crate::BenchError;

/// The workloads' flag values mapped to flag names (a few distinct sets, as in a mailbox).
const FLAG_SETS: [&[&[u8]]; 4] = [&[b"\\Seen"], &[b"\\Seen", b"\\Flagged"], &[b"$Junk"], &[]];

/// A change buffered until `commit`, which applies them in one transaction (the engine's
/// transaction borrows the cache, so it cannot live beside it in this struct).
enum Change {
    Exists(u32),
    Learn(u32, Vec<u32>),
    Expunge(u32),
    Remove(u32),
    Flags(u32, u32, u64),
}

/// uidcache behind the benchmark trait.
pub struct Uidcache {
    cache: Cache,
    pending: Vec<Change>,
}

impl Uidcache {
    /// Opens or creates the cache in `dir`.
    pub fn open(dir: &Path, durable: bool) -> Result<Self, BenchError> {
        let durability = if durable {
            Durability::Durable
        } else {
            Durability::NoSync
        };
        // The handle is closed by dropping it, with the default options: a checkpoint of
        // the index only (commits paid for compaction steps as they went, issue 12).
        let options = OpenOptions::new().durability(durability);
        let cache = Cache::open_with(dir, options)?;
        Ok(Uidcache {
            cache,
            pending: Vec::new(),
        })
    }
}

impl Peer for Uidcache {
    fn name(&self) -> &'static str {
        "uidcache"
    }

    fn set_exists(&mut self, count: u32) -> Result<(), BenchError> {
        self.pending.push(Change::Exists(count));
        Ok(())
    }

    fn learn_range(&mut self, seq: u32, uids: &[u32]) -> Result<(), BenchError> {
        self.pending.push(Change::Learn(seq, uids.to_vec()));
        Ok(())
    }

    fn get(&mut self, seq: u32) -> Result<Option<Msg>, BenchError> {
        // As the engine's docs advise for loops of lookups: the in-memory answer first, the
        // complete one out of line (see `get_slow`).
        match self.cache.view().peek_message_at(seq) {
            Some(m) => Ok(Some(to_msg(m))),
            None => get_slow(&self.cache, seq),
        }
    }

    fn seq_of(&mut self, uid: u32) -> Result<Option<u32>, BenchError> {
        Ok(match self.cache.view().position_of_uid(uid)? {
            uidcache_engine::UidPosition::Placed(seq) => Some(seq),
            _ => None,
        })
    }

    fn expunge(&mut self, seq: u32) -> Result<(), BenchError> {
        self.pending.push(Change::Expunge(seq));
        Ok(())
    }

    fn remove_uid(&mut self, uid: u32) -> Result<(), BenchError> {
        self.pending.push(Change::Remove(uid));
        Ok(())
    }

    fn set_flags(&mut self, seq: u32, flags: u32, modseq: u64) -> Result<(), BenchError> {
        self.pending.push(Change::Flags(seq, flags, modseq));
        Ok(())
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        let mut tx = self.cache.transaction()?;
        // Consecutive removals by UID are one VANISHED response: applied as the IMAP layer
        // applies one (`uidcache-imap`'s apply.rs), with one `remove_uids` of its ranges.
        let mut vanished: Vec<std::ops::RangeInclusive<u32>> = Vec::new();
        for change in self.pending.drain(..) {
            if let Change::Remove(uid) = change {
                vanished.push(uid..=uid);
                continue;
            }
            if !vanished.is_empty() {
                tx.remove_uids(&vanished)?;
                vanished.clear();
            }
            match change {
                Change::Exists(n) => tx.set_exists(n)?,
                Change::Learn(seq, uids) => tx.learn_range(seq, &uids)?,
                Change::Expunge(seq) => tx.expunge(seq)?,
                // Gathered into `vanished` above.
                Change::Remove(_) => {}
                Change::Flags(seq, flags, modseq) => {
                    let names = FLAG_SETS.get(flags as usize % FLAG_SETS.len()).copied();
                    tx.update_seq(
                        seq,
                        Update {
                            flags: names,
                            modseq: Some(modseq),
                        },
                    )?;
                }
            }
        }
        if !vanished.is_empty() {
            tx.remove_uids(&vanished)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn fsyncs(&self) -> Option<u64> {
        Some(self.cache.stats().fsyncs)
    }

    fn background_fsyncs(&self) -> Option<u64> {
        Some(self.cache.stats().background_fsyncs)
    }
}

fn to_msg(m: Message) -> Msg {
    Msg {
        uid: m.uid,
        flags: m.flags.map_or(0, |f| f.0),
        modseq: m.modseq.unwrap_or(0),
    }
}

/// `View::message_at`, kept out of line: its `Result` is returned through memory, and the
/// stack frame for it would otherwise be set up on every call of `get`.
#[inline(never)]
fn get_slow(cache: &Cache, seq: u32) -> Result<Option<Msg>, BenchError> {
    Ok(cache.view().message_at(seq)?.map(to_msg))
}
