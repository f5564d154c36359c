//! Feeding transcript lines to a session, committing at each completion: what a client's
//! response loop does.

use uidcache_engine::{Cache, Durability};
use uidcache_imap::{Session, Step};

use super::{engine, DemoError};

/// Counts what was fed.
#[derive(Default)]
pub(crate) struct Feeder {
    /// Server lines applied.
    pub(crate) responses: u64,
    /// How every commit is made.
    pub(crate) durability: Durability,
}

impl Feeder {
    /// Applies `lines` (`C: ` / `S: `), committing at every tagged completion.
    pub(crate) fn feed(
        &mut self,
        cache: &mut Cache,
        session: &mut Session,
        lines: &[String],
    ) -> Result<(), DemoError> {
        let mut tx = cache.transaction().map_err(engine("transaction"))?;
        for line in lines {
            if let Some(c) = line.strip_prefix("C: ") {
                session
                    .command(&mut tx, c.as_bytes())
                    .map_err(|e| DemoError::Session(e.to_string()))?;
            } else if let Some(s) = line.strip_prefix("S: ") {
                self.responses += 1;
                let step = session
                    .response(&mut tx, self.responses, s.as_bytes())
                    .map_err(|e| DemoError::Session(e.to_string()))?;
                if step == Step::Commit {
                    tx.commit_with(self.durability).map_err(engine("commit"))?;
                    tx = cache.transaction().map_err(engine("transaction"))?;
                }
            }
        }
        tx.commit_with(self.durability).map_err(engine("commit"))
    }
}
