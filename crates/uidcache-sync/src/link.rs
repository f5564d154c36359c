//! A logged-in connection with the selected mailbox's cache: commands go out, every
//! response goes through `uidcache_imap::Session` into a transaction, and each tagged
//! completion is a commit.
//!
//! The HIGHESTMODSEQ rule (RFC 7162 3.1.2.1 and 6): the cache may only claim a modseq once
//! every change up to it is applied and committed. `Session` applies it (format-spec 9.1),
//! including the hold after a plain SELECT of a cache that already holds messages; the
//! catch-up ends that hold once the flags are refetched.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use uidcache_engine::{Cache, Transaction};
use uidcache_imap::{Session, Step};

use crate::conn::{Conn, Kind, Received};
use crate::error::{printable, Error, Result};
use crate::net;
use crate::options::SyncOptions;
use crate::transcript::Transcript;
use crate::url::Security;

/// A logged-in connection.
pub(crate) struct Link {
    pub(crate) conn: Conn,
    pub(crate) session: Session,
    pub(crate) qresync_enabled: bool,
    pub(crate) interrupt: Arc<AtomicBool>,
}

impl Link {
    /// Connects, secures, logs in and enables QRESYNC when the server has it.
    pub(crate) fn connect(opts: &SyncOptions) -> Result<Link> {
        let t = &opts.target;
        let transcript = match opts.transcript.as_deref() {
            Some(path) => Some(Transcript::open(path)?),
            None => None,
        };
        let tls = net::tls_config(opts.ca_file.as_deref());
        let mut stream = net::connect(&t.host, t.port)?;
        if t.security == Security::Implicit {
            stream = stream.into_tls(&tls?, &t.host)?;
            let mut conn = Conn::open(stream, transcript)?;
            return Link::login(&mut conn, opts).map(|()| Link::new(conn, opts));
        }
        let mut conn = Conn::open(stream, transcript)?;
        if conn.caps().is_empty() {
            conn.send("CAPABILITY", None)?;
            Link::expect_ok(&mut conn, "CAPABILITY")?;
        }
        if conn.has("STARTTLS") {
            // Offered TLS is always taken, and a failure to verify it is an error: falling
            // back to plain text is what a STARTTLS-stripping attacker would want.
            let config = tls?;
            conn.send("STARTTLS", None)?;
            Link::expect_ok(&mut conn, "STARTTLS")?;
            conn.upgrade(&config, &t.host)?;
            // RFC 3501 6.2.1: capabilities from before TLS must be forgotten.
            conn.forget_caps();
        } else if !opts.allow_plaintext && !t.is_loopback() {
            return Err(Error::Server(format!(
                "{} offers no STARTTLS; refusing to send the password in plain text \
                 (use imaps://, or --allow-plaintext)",
                t.host
            )));
        }
        Link::login(&mut conn, opts)?;
        Ok(Link::new(conn, opts))
    }

    fn new(conn: Conn, opts: &SyncOptions) -> Link {
        Link {
            interrupt: Arc::clone(&opts.interrupt),
            conn,
            session: Session::new(),
            qresync_enabled: false,
        }
    }

    fn login(conn: &mut Conn, opts: &SyncOptions) -> Result<()> {
        if conn.caps().is_empty() {
            conn.send("CAPABILITY", None)?;
            Link::expect_ok(conn, "CAPABILITY")?;
        }
        crate::auth::login(conn, &opts.target, &opts.password, &opts.login)?;
        // RFC 3501 6.2.3: capabilities may change after login; ask unless the OK told us.
        if !conn.has("IMAP4REV1") && !conn.has("IMAP4REV2") {
            conn.send("CAPABILITY", None)?;
            Link::expect_ok(conn, "CAPABILITY")?;
        }
        Ok(())
    }

    /// Waits for the completion of the command just sent (before a mailbox is selected:
    /// nothing untagged matters to the cache yet).
    fn expect_ok(conn: &mut Conn, what: &str) -> Result<()> {
        loop {
            let r = conn
                .read(None)?
                .ok_or_else(|| Error::Closed(format!(" during {what}")))?;
            match r.kind {
                Kind::Tagged { ok: true, .. } => return Ok(()),
                Kind::Tagged { ok: false, .. } => {
                    return Err(Error::Command {
                        command: what.to_string(),
                        response: printable(&r.raw),
                    })
                }
                Kind::Bye => return Err(Error::Closed(format!(": {}", printable(&r.raw)))),
                Kind::Continuation | Kind::Untagged => {}
            }
        }
    }

    /// `ENABLE QRESYNC` (RFC 7162 3.2.3); before any SELECT.
    pub(crate) fn enable_qresync(&mut self, cache: &mut Cache) -> Result<()> {
        if !self.qresync_enabled {
            self.run(
                cache,
                vec!["ENABLE QRESYNC".to_string()],
                1,
                false,
                &mut |_| {},
            )?;
            self.qresync_enabled = true;
        }
        Ok(())
    }

    /// Sends `commands`, at most `window` outstanding, applying every response and
    /// committing at each completion. `after_commit` sees the cache after each commit.
    /// When `interruptible`, stops sending new commands once interrupted (what was sent
    /// completes and is committed), then returns [`Error::Interrupted`].
    pub(crate) fn run(
        &mut self,
        cache: &mut Cache,
        commands: Vec<String>,
        window: usize,
        interruptible: bool,
        after_commit: &mut dyn FnMut(&Cache),
    ) -> Result<()> {
        let interrupt = Arc::clone(&self.interrupt);
        let mut queue: VecDeque<String> = commands.into();
        let mut pending: Vec<(String, String)> = Vec::new();
        let mut failure = None;
        let mut tx = cache.transaction()?;
        loop {
            while pending.len() < window.max(1)
                && !(interruptible && interrupt.load(Ordering::Relaxed))
            {
                let Some(text) = queue.pop_front() else { break };
                let tag = self.conn.send(&text, None)?;
                let line = format!("{tag} {text}");
                self.session.command(&mut tx, line.as_bytes())?;
                pending.push((tag, text));
            }
            if pending.is_empty() {
                break;
            }
            let r = self
                .conn
                .read(None)?
                .ok_or_else(|| Error::Closed(String::new()))?;
            let step = self.apply(&mut tx, &r)?;
            if let Kind::Tagged { tag, ok } = &r.kind {
                if let Some(i) = pending.iter().position(|(t, _)| t == tag) {
                    let (_, text) = pending.remove(i);
                    if !ok && failure.is_none() {
                        failure = Some(Error::Command {
                            command: text,
                            response: printable(&r.raw),
                        });
                    }
                }
            }
            if step == Step::Commit {
                self.commit(tx)?;
                after_commit(cache);
                tx = cache.transaction()?;
            }
        }
        self.commit(tx)?;
        if let Some(e) = failure {
            return Err(e);
        }
        if !queue.is_empty() {
            return Err(Error::Interrupted);
        }
        Ok(())
    }

    /// Feeds one server message to the session. A `* BYE` ends the link (after the
    /// caller's commit of what came before, which the error path leaves to the next start).
    pub(crate) fn apply(&mut self, tx: &mut Transaction<'_>, r: &Received) -> Result<Step> {
        if r.kind == Kind::Bye {
            return Err(Error::Closed(format!(": {}", printable(&r.raw))));
        }
        if r.kind == Kind::Continuation {
            return Ok(Step::Continue);
        }
        Ok(self.session.response(tx, self.conn.line, &r.raw)?)
    }

    /// Commits, and flushes the transcript.
    pub(crate) fn commit(&mut self, tx: Transaction<'_>) -> Result<()> {
        tx.commit()?;
        if let Some(t) = self.conn.transcript.as_mut() {
            t.flush()?;
        }
        Ok(())
    }

    /// LOGOUT, then close.
    pub(crate) fn logout(&mut self, cache: &mut Cache) {
        let _ = self.run(cache, vec!["LOGOUT".to_string()], 1, false, &mut |_| {});
        self.conn.close();
    }
}
