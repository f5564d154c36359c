//! What a sync did: the mailbox, what changed in the cache, and what it cost on the wire.

use std::fmt;
use std::time::Duration;

use uidcache_engine::TrackedChanges;

use crate::catchup::Method;
use crate::conn::Traffic;

/// Counts of what a sync changed in the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Messages the cache did not hold before.
    pub new: u64,
    /// Messages the cache held and no longer does (expunged).
    pub gone: u64,
    /// Messages whose flags or MODSEQ changed.
    pub changed: u64,
    /// The mailbox was replaced (UIDVALIDITY changed) and the cache reset.
    pub reset: bool,
}

impl Changes {
    /// The counts from the engine's change tracker ([`uidcache_engine::Cache::track_changes`]):
    /// work proportional to the messages the sync touched, not to the mailbox.
    /// `reset` compares UIDVALIDITY before and after.
    pub(crate) fn from_tracked(
        t: TrackedChanges,
        before: Option<u32>,
        after: Option<u32>,
    ) -> Changes {
        Changes {
            new: t.new,
            gone: t.gone,
            changed: t.changed,
            reset: before.is_some() && before != after,
        }
    }
}

/// What a sync (or a watch) did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The mailbox.
    pub mailbox: String,
    /// How the last catch-up went.
    pub method: Method,
    /// Messages in the mailbox at the end.
    pub messages: u32,
    /// UIDVALIDITY at the end.
    pub uidvalidity: Option<u32>,
    /// HIGHESTMODSEQ recorded at the end.
    pub highestmodseq: Option<u64>,
    /// What changed in the cache.
    pub changes: Changes,
    /// Traffic over all connections.
    pub traffic: Traffic,
    /// Connections made after the first (`--watch`).
    pub reconnects: u32,
    /// Why the cache's positions and HIGHESTMODSEQ were dropped and every message
    /// resynchronized, when the server contradicted what the cache knew.
    pub healed: Option<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        writeln!(f, "mailbox     {} ({})", self.mailbox, self.method.name())?;
        writeln!(
            f,
            "messages    {} (UIDVALIDITY {}, HIGHESTMODSEQ {})",
            self.messages,
            opt(self.uidvalidity.map(u64::from)),
            opt(self.highestmodseq)
        )?;
        writeln!(
            f,
            "changes     {} new, {} expunged, {} with new flags{}",
            self.changes.new,
            self.changes.gone,
            self.changes.changed,
            if self.changes.reset {
                " (UIDVALIDITY changed: the cache was reset)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "traffic     {} round trips, {} commands, {} bytes sent, {} bytes received{}",
            self.traffic.round_trips,
            self.traffic.commands,
            self.traffic.bytes_out,
            self.traffic.bytes_in,
            if self.reconnects > 0 {
                format!(", {} reconnects", self.reconnects)
            } else {
                String::new()
            }
        )?;
        if let Some(why) = &self.healed {
            writeln!(
                f,
                "resynced    every message: {why} (positions and HIGHESTMODSEQ were dropped)"
            )?;
        }
        write!(f, "time        {:.2} s", self.elapsed.as_secs_f64())
    }
}
