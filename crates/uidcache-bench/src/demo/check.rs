//! The demo's deep consistency check: every record of the cache against the simulated
//! server's truth (the fsck crate checks the files; this checks the meaning).

use std::collections::BTreeSet;

use uidcache_engine::Cache;
use uidcache_imap::sim::SimServer;

/// What the deep check found when the cache agreed with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Messages on the server.
    pub count: u32,
    /// Positions whose record is known (each equal to the server's).
    pub placed: u64,
    /// Known records with FLAGS.
    pub flags_known: u64,
    /// Known records with a MODSEQ.
    pub modseq_known: u64,
    /// Records known by UID but not by position.
    pub unplaced: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} positions known and equal to the server's, {} with flags, {} with MODSEQ, {} unplaced",
            self.placed, self.count, self.flags_known, self.modseq_known, self.unplaced
        )
    }
}

/// `Ok(summary)` when the cache agrees with the server, else every disagreement found (up
/// to about a thousand, so that one bug does not flood the terminal).
pub(crate) fn deep_check(cache: &Cache, server: &SimServer) -> Result<Summary, Vec<String>> {
    let view = cache.view();
    let mut problems = Vec::new();
    let count = server.messages.len() as u32;
    if view.exists() != Some(count) {
        problems.push(format!("EXISTS {:?}, server has {count}", view.exists()));
    }
    if view.uidvalidity() != Some(server.uidvalidity) {
        problems.push(format!(
            "UIDVALIDITY {:?}, server has {}",
            view.uidvalidity(),
            server.uidvalidity
        ));
    }
    if view.highestmodseq().is_some_and(|h| h > server.modseq) {
        problems.push(format!(
            "HIGHESTMODSEQ {:?} is ahead of the server's {}",
            view.highestmodseq(),
            server.modseq
        ));
    }
    let placed = match view.placed_messages() {
        Ok(p) => p,
        Err(e) => return Err(vec![format!("reading records: {e}")]),
    };
    let (mut flags_known, mut modseq_known) = (0u64, 0u64);
    for (seq, m) in &placed {
        let Some(truth) = (*seq as usize)
            .checked_sub(1)
            .and_then(|i| server.messages.get(i))
        else {
            problems.push(format!("record at {seq} beyond the server's count"));
            continue;
        };
        if truth.uid != m.uid {
            problems.push(format!(
                "seq {seq}: UID {} but the server has {}",
                m.uid, truth.uid
            ));
            continue;
        }
        if let Some(id) = m.flags {
            flags_known += 1;
            let have: BTreeSet<Vec<u8>> = view
                .flag_names(id)
                .unwrap_or_default()
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect();
            let want: BTreeSet<Vec<u8>> =
                truth.flags.iter().map(|f| f.as_bytes().to_vec()).collect();
            if have != want {
                problems.push(format!("UID {}: flags differ from the server's", m.uid));
            }
        }
        if let Some(ms) = m.modseq {
            modseq_known += 1;
            if ms != truth.modseq {
                problems.push(format!(
                    "UID {}: MODSEQ {ms}, server {}",
                    m.uid, truth.modseq
                ));
            }
        }
        if problems.len() > 1000 {
            break;
        }
    }
    let unplaced = match view.unplaced_messages() {
        Ok(u) => u.len() as u64,
        Err(e) => return Err(vec![format!("reading unplaced records: {e}")]),
    };
    if problems.is_empty() {
        Ok(Summary {
            count,
            placed: placed.len() as u64,
            flags_known,
            modseq_known,
            unplaced,
        })
    } else {
        Err(problems)
    }
}
