//! One IMAP connection as the cache sees it: every command the client sends and every
//! response the server answers go through a [`Session`], which applies them to a
//! transaction; the transaction is committed at each tagged completion.

use uidcache::imap::{Session, Step};
use uidcache::Cache;

use crate::server::ScriptedServer;
use crate::Result;

/// A connection to the (scripted) server and the session that follows it for the cache.
#[derive(Debug)]
pub struct Connection {
    server: ScriptedServer,
    session: Session,
    next_tag: u32,
    prefix: char,
    /// Every line sent and received, in order (`C:`/`S:`), for the client's log.
    pub transcript: Vec<String>,
}

impl Connection {
    /// A new connection (after the greeting and LOGIN, which teach the cache nothing).
    /// Tags are `prefix` and a counter: `a1`, `a2`, ...
    pub fn new(server: ScriptedServer, prefix: char) -> Connection {
        Connection {
            server,
            // A new Session for each connection: the one before it ended with the socket.
            session: Session::new(),
            next_tag: 1,
            prefix,
            transcript: Vec::new(),
        }
    }

    /// Sends `command` (without tag) and applies every response to `cache`, committing at
    /// the tagged completion. Returns when the command has completed.
    pub fn run(&mut self, cache: &mut Cache, command: &str) -> Result<()> {
        let line = format!("{}{} {command}", self.prefix, self.next_tag);
        self.next_tag += 1;
        self.transcript.push(format!("C: {line}"));
        let responses = self.server.answer(&line)?;
        // One transaction per command: what a command's responses change is committed at
        // once, when the server says the command is done (Step::Commit).
        let mut tx = cache.transaction()?;
        // The session must see the command before its responses: a SELECT starts a new
        // session, and a UID SEARCH's answer is placed by the range it asked for.
        self.session.command(&mut tx, line.as_bytes())?;
        for (n, response) in responses.iter().enumerate() {
            self.transcript.push(format!("S: {response}"));
            // The position is only for errors ("line 7: ..."); a socket reader would count.
            let step = self
                .session
                .response(&mut tx, n as u64 + 1, response.as_bytes())?;
            if step == Step::Commit {
                tx.commit()?;
                tx = cache.transaction()?;
            }
        }
        // Empty after the tagged completion: dropping it changes nothing. A client whose
        // socket closes before the completion calls `session.finish()` instead, and
        // commits `tx` only when it answers `Step::Commit` (`Step::Discard`: the loss cut a
        // SELECT short, and nothing since the last commit can be trusted).
        drop(tx);
        Ok(())
    }

    /// Whether the server saw every command its script expected.
    pub fn script_done(&self) -> bool {
        self.server.is_done()
    }

    /// How many positions the last SELECT kept (`Some(0)` after a plain SELECT).
    pub fn kept_by_select(&self) -> Option<u32> {
        self.session.last_select().map(|s| s.kept)
    }
}
