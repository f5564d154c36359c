//! What a sync did: the mailbox, what changed in the cache, and what it cost on the wire.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use uidcache_engine::View;

use crate::catchup::Method;
use crate::conn::Traffic;
use crate::error::Result;

/// The cache's messages by UID with a digest of their flags and their MODSEQ: enough to
/// count what a sync changed.
pub(crate) struct Snapshot {
    uidvalidity: Option<u32>,
    records: Vec<(u32, u64, Option<u64>)>,
}

impl Snapshot {
    pub(crate) fn take(view: &View<'_>) -> Result<Snapshot> {
        let digest = |flags: Option<uidcache_engine::FlagSetId>| {
            let mut h = DefaultHasher::new();
            flags.map(|id| view.flag_names(id)).hash(&mut h);
            h.finish()
        };
        let mut records: Vec<(u32, u64, Option<u64>)> = view
            .placed_messages()?
            .into_iter()
            .map(|(_, m)| (m.uid, digest(m.flags), m.modseq))
            .collect();
        records.extend(
            view.unplaced_messages()?
                .into_iter()
                .map(|m| (m.uid, digest(m.flags), m.modseq)),
        );
        records.sort_unstable_by_key(|r| r.0);
        Ok(Snapshot {
            uidvalidity: view.uidvalidity(),
            records,
        })
    }

    /// Whether the cache held no message.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Counts of what changed between two snapshots.
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
    pub(crate) fn between(before: &Snapshot, after: &Snapshot) -> Changes {
        let mut c = Changes {
            reset: before.uidvalidity.is_some() && before.uidvalidity != after.uidvalidity,
            ..Changes::default()
        };
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&before.records, &after.records);
        loop {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    if x != y {
                        c.changed += 1;
                    }
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    c.gone += 1;
                    i += 1;
                }
                (Some(_), Some(_)) | (None, Some(_)) => {
                    c.new += 1;
                    j += 1;
                }
                (Some(_), None) => {
                    c.gone += 1;
                    i += 1;
                }
                (None, None) => return c,
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_changes() {
        let snap = |v: Option<u32>, r: &[(u32, u64, Option<u64>)]| Snapshot {
            uidvalidity: v,
            records: r.to_vec(),
        };
        let before = snap(
            Some(1),
            &[(1, 7, Some(1)), (2, 7, Some(1)), (4, 7, Some(2))],
        );
        let after = snap(
            Some(1),
            &[(1, 7, Some(1)), (2, 8, Some(5)), (5, 7, Some(6))],
        );
        let c = Changes::between(&before, &after);
        assert_eq!((c.new, c.gone, c.changed, c.reset), (1, 1, 1, false));
        let c = Changes::between(&before, &snap(Some(2), &[]));
        assert_eq!((c.new, c.gone, c.reset), (0, 3, true));
    }
}
