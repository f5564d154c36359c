//! SQLite as mail clients use it: a table keyed by UID with flags and MODSEQ, WAL mode, and
//! the sequence map rebuilt in memory at open (a Vec of UIDs).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::{Msg, Peer};
use crate::BenchError;

/// The SQLite peer.
pub struct Sqlite {
    db: Connection,
    uids: Vec<u32>,
    in_tx: bool,
}

impl Sqlite {
    /// Opens or creates `dir/cache.sqlite`; `durable` is `synchronous=FULL`, else `OFF`.
    pub fn open(dir: &Path, durable: bool) -> Result<Self, BenchError> {
        std::fs::create_dir_all(dir)?;
        let db = Connection::open(dir.join("cache.sqlite"))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", if durable { "FULL" } else { "OFF" })?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS msgs(uid INTEGER PRIMARY KEY, flags INTEGER NOT NULL, modseq INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
        )?;
        let exists: u32 = db
            .query_row("SELECT v FROM meta WHERE k = 'exists'", [], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let mut uids = Vec::with_capacity(exists as usize);
        {
            let mut stmt = db.prepare("SELECT uid FROM msgs ORDER BY uid")?;
            for uid in stmt.query_map([], |r| r.get::<_, u32>(0))? {
                uids.push(uid?);
            }
        }
        // Holes are not persisted (clients keep only known UIDs); pad to the count.
        uids.resize(exists.max(uids.len() as u32) as usize, 0);
        Ok(Sqlite {
            db,
            uids,
            in_tx: false,
        })
    }

    fn begin(&mut self) -> Result<(), BenchError> {
        if !self.in_tx {
            self.db.execute_batch("BEGIN")?;
            self.in_tx = true;
        }
        Ok(())
    }
}

impl Peer for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn set_exists(&mut self, count: u32) -> Result<(), BenchError> {
        self.begin()?;
        self.db.execute(
            "INSERT OR REPLACE INTO meta(k, v) VALUES ('exists', ?1)",
            params![count],
        )?;
        self.uids.resize(count as usize, 0);
        Ok(())
    }

    fn learn_range(&mut self, seq: u32, uids: &[u32]) -> Result<(), BenchError> {
        self.begin()?;
        let start = seq as usize - 1;
        {
            let mut stmt = self.db.prepare_cached(
                "INSERT OR REPLACE INTO msgs(uid, flags, modseq) VALUES (?1, 0, 0)",
            )?;
            for uid in uids {
                stmt.execute(params![uid])?;
            }
        }
        let slots = self
            .uids
            .get_mut(start..start + uids.len())
            .ok_or(BenchError::Range(seq))?;
        slots.copy_from_slice(uids);
        Ok(())
    }

    fn get(&mut self, seq: u32) -> Result<Option<Msg>, BenchError> {
        let Some(&uid) = self.uids.get((seq as usize).wrapping_sub(1)) else {
            return Ok(None);
        };
        let mut stmt = self
            .db
            .prepare_cached("SELECT flags, modseq FROM msgs WHERE uid = ?1")?;
        Ok(stmt
            .query_row(params![uid], |r| {
                Ok(Msg {
                    uid,
                    flags: r.get(0)?,
                    modseq: r.get::<_, i64>(1)? as u64,
                })
            })
            .optional()?)
    }

    fn seq_of(&mut self, uid: u32) -> Result<Option<u32>, BenchError> {
        Ok(self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1))
    }

    fn expunge(&mut self, seq: u32) -> Result<(), BenchError> {
        self.begin()?;
        let i = (seq as usize).wrapping_sub(1);
        if i >= self.uids.len() {
            return Err(BenchError::Range(seq));
        }
        let uid = self.uids.remove(i);
        self.db
            .prepare_cached("DELETE FROM msgs WHERE uid = ?1")?
            .execute(params![uid])?;
        let count = self.uids.len() as u32;
        self.db.execute(
            "INSERT OR REPLACE INTO meta(k, v) VALUES ('exists', ?1)",
            params![count],
        )?;
        Ok(())
    }

    fn set_flags(&mut self, seq: u32, flags: u32, modseq: u64) -> Result<(), BenchError> {
        self.begin()?;
        let uid = *self
            .uids
            .get((seq as usize).wrapping_sub(1))
            .ok_or(BenchError::Range(seq))?;
        self.db
            .prepare_cached("UPDATE msgs SET flags = ?1, modseq = ?2 WHERE uid = ?3")?
            .execute(params![flags, modseq as i64, uid])?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), BenchError> {
        if self.in_tx {
            self.db.execute_batch("COMMIT")?;
            self.in_tx = false;
        }
        Ok(())
    }

    fn fsyncs(&self) -> Option<u64> {
        None
    }
}
