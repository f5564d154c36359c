//! Feeding transcript lines to a session, committing at each completion: what a client's
//! response loop does.

use uidcache_engine::Cache;
use uidcache_imap::{Session, Step};

use crate::failure::Failure;

/// Counts what was fed.
#[derive(Default)]
pub struct Feeder {
    /// Server lines applied.
    pub responses: u64,
}

impl Feeder {
    /// Applies `lines` (`C: ` / `S: `), committing at every tagged completion.
    pub fn feed(
        &mut self,
        cache: &mut Cache,
        session: &mut Session,
        lines: &[String],
    ) -> Result<(), Failure> {
        let mut tx = cache
            .transaction()
            .map_err(|e| Failure::engine("transaction", e))?;
        for line in lines {
            if let Some(c) = line.strip_prefix("C: ") {
                session
                    .command(&mut tx, c.as_bytes())
                    .map_err(|e| Failure::Input(e.to_string()))?;
            } else if let Some(s) = line.strip_prefix("S: ") {
                self.responses += 1;
                let step = session
                    .response(&mut tx, self.responses, s.as_bytes())
                    .map_err(|e| Failure::Input(e.to_string()))?;
                if step == Step::Commit {
                    tx.commit().map_err(|e| Failure::engine("commit", e))?;
                    tx = cache
                        .transaction()
                        .map_err(|e| Failure::engine("transaction", e))?;
                }
            }
        }
        tx.commit().map_err(|e| Failure::engine("commit", e))
    }
}
