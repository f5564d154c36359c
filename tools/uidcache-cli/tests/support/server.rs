//! One interface to both throwaway servers, so that a sync test is written once and run
//! against Dovecot and Cyrus ([`Kind`], [`start_or_skip`], [`Server`]).
//!
//! ```ignore
//! fn body(server: &dyn Server) { server.populate("INBOX", 100); /* ... */ }
//! #[test]
//! fn body_cyrus() {
//!     if let Some(s) = server::start_or_skip(Kind::Cyrus, true) { body(&*s) }
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Child;

use super::cyrus::Cyrus;
use super::dovecot::Dovecot;
use super::fixture::{client, run_ok, spawn_client, USER};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dovecot,
    Cyrus,
}

/// Starts a fresh server of `kind` (CONDSTORE and QRESYNC advertised unless `qresync` is
/// false), or prints `SKIPPED` and returns `None` where that server cannot run here (a panic
/// instead with `UIDCACHE_REQUIRE_DOVECOT=1` / `UIDCACHE_REQUIRE_CYRUS=1`).
pub fn start_or_skip(kind: Kind, qresync: bool) -> Option<Box<dyn Server>> {
    match kind {
        Kind::Dovecot => Dovecot::start_or_skip(qresync).map(|s| Box::new(s) as Box<dyn Server>),
        Kind::Cyrus => Cyrus::start_or_skip(qresync).map(|s| Box::new(s) as Box<dyn Server>),
    }
}

/// A running throwaway server with the account test/test. The Python helpers (populate,
/// truth, mutate) find it through `dir()/port`, so they are provided here once.
pub trait Server {
    /// "dovecot" or "cyrus", for messages.
    fn name(&self) -> &'static str;
    /// The server's directory (configs, mail, logs, `port`).
    fn dir(&self) -> &Path;
    /// The plain IMAP port on 127.0.0.1.
    fn port(&self) -> u16;
    /// The log to show when a helper fails.
    fn log(&self) -> PathBuf;
    /// Whether CONDSTORE and QRESYNC are advertised.
    fn qresync(&self) -> bool;
    /// The CA that signed the server's certificate, when it speaks TLS at all.
    fn ca_file(&self) -> Option<PathBuf>;
    /// An implicit-TLS URL for `mailbox`, when the server has imaps.
    fn tls_url(&self, mailbox: &str) -> Option<String>;
    /// Drops every client connection (the server stays up), as an idle-timeout or an admin
    /// would.
    fn kick(&self);

    /// `imap://test@127.0.0.1:PORT/mailbox`: STARTTLS where the server offers it (Dovecot;
    /// pass [`Server::ca_args`]), plain text on loopback otherwise (Cyrus).
    fn url(&self, mailbox: &str) -> String {
        format!("imap://{USER}@127.0.0.1:{}/{mailbox}", self.port())
    }

    /// `["--ca-file", CA]` for a server with TLS, nothing otherwise: what every
    /// `uidcache sync` against it needs.
    fn ca_args(&self) -> Vec<String> {
        self.ca_file()
            .map(|ca| vec!["--ca-file".to_string(), ca.to_string_lossy().into_owned()])
            .unwrap_or_default()
    }

    /// Appends `n` messages to `mailbox` (created when missing) with MULTIAPPEND; panics
    /// unless EXISTS grows by exactly `n`. Message i has the subject `fixture message i`.
    fn populate(&self, mailbox: &str, n: u32) {
        let cmd = client("populate", self.dir(), mailbox, &[&n.to_string()]);
        run_ok(cmd, "populate", Some(&self.log()));
    }

    /// What the server holds in `mailbox`, in the `uidcache dump` format, read by a fresh
    /// session with SELECT (CONDSTORE) and FETCH 1:* (UID FLAGS MODSEQ): the oracle.
    fn truth(&self, mailbox: &str) -> String {
        let cmd = client("truth", self.dir(), mailbox, &[]);
        run_ok(cmd, "truth", Some(&self.log()))
    }

    /// Changes `mailbox` from a second session: `args` are the `mutate` steps, e.g.
    /// `["append", "5", "add", "\\Seen $Work", "1:10", "expunge", "10%", "recreate"]`, and
    /// options such as `--seed N`. Returns its one-line summary; panics when it fails.
    fn mutate(&self, mailbox: &str, args: &[&str]) -> String {
        let cmd = client("mutate", self.dir(), mailbox, args);
        run_ok(cmd, "mutate", Some(&self.log()))
    }

    /// Starts `mutate --loop seconds --seed seed` on `mailbox`: random small changes (about
    /// four a second) for that long. Its stdout is piped (`mutate: loop started`, then the
    /// summary); SIGTERM ends it early.
    fn spawn_mutate_loop(&self, mailbox: &str, seconds: u32, seed: u64) -> Child {
        self.spawn_mutate(
            mailbox,
            &["--loop", &seconds.to_string(), "--seed", &seed.to_string()],
        )
    }

    /// Starts `mutate ARGS` on `mailbox` (a loop mode), stdout piped.
    fn spawn_mutate(&self, mailbox: &str, args: &[&str]) -> Child {
        spawn_client("mutate", self.dir(), mailbox, args)
    }
}
