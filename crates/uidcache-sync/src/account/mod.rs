//! A whole account: every selectable mailbox kept current, one cache per mailbox.
//!
//! [`Account`] is the directory `DIR`: the account file `DIR/account` (the mailbox list
//! with names, delimiters, attributes, MAILBOXIDs and the counters of each mailbox's last
//! completed sync; format-spec/ACCOUNT.md) and one cache per mailbox under
//! `DIR/mailboxes/`, named by [`dir_name`]. [`Account::check`] lists the account in one
//! round trip where the server has LIST-STATUS (RFC 5819), else two pipelined batches,
//! follows renames by MAILBOXID (RFC 8474), drops the caches of mailboxes the server
//! confirms are gone, and says which caches are behind. [`Account::sync`] does that and
//! then runs [`crate::sync`] on each mailbox that is behind, over [`AccountOptions::jobs`]
//! connections at once.
//!
//! A mailbox is current only when the server's STATUS (MESSAGES, UIDNEXT, UIDVALIDITY,
//! HIGHESTMODSEQ) equals both the counters recorded after its last completed sync and the
//! cache's own, and the cache has no unknown positions. Anything short of that proof
//! (no CONDSTORE, so no HIGHESTMODSEQ; a sync that failed or was killed) makes it behind.
//!
//! # Example
//! ```no_run
//! use uidcache_sync::account::{Account, AccountOptions};
//! use uidcache_sync::{SyncOptions, Target};
//!
//! let target = Target::parse("imaps://alice@mail.example.org/")?;
//! let sync = SyncOptions::new(target, std::env::var("UIDCACHE_PASSWORD")?);
//! let mut options = AccountOptions::new(sync);
//! options.patterns = vec!["INBOX".into(), "Lists/*".into()];
//! let mut account = Account::open("/tmp/alice")?;
//! let summary = account.sync(&mut options)?;
//! for m in &summary.mailboxes {
//!     println!("{} in {}: {}", m.name, m.dir.display(), m.outcome.method_name());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod check;
mod dirname;
mod file;
mod listing;
mod pattern;
mod reuse;
mod run;
mod value;
mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use dirname::{decode as dir_name_decode, encode as dir_name, MAX_LEN as MAX_DIR_NAME};
pub use file::{Counters, Entry};
pub use listing::Listed;

use crate::conn::Traffic;
use crate::error::{Error, Result};
use crate::options::SyncOptions;
use crate::summary::Summary;

/// The subdirectory of the account directory that holds the caches.
pub const MAILBOXES: &str = "mailboxes";

/// A callback told of each mailbox as it is done: the report, how many are done, how many
/// are to be done.
pub type MailboxFn = Box<dyn FnMut(&MailboxReport, usize, usize) + Send>;

/// Options of [`Account::sync`] and [`Account::watch`].
pub struct AccountOptions {
    /// The server, login, TLS and how each mailbox syncs. Its mailbox is ignored. A
    /// transcript is one file per connection: the listing connection (which also catches
    /// up a few changed mailboxes) appends to `FILE`, job connection `N` (from 1) to
    /// `FILE.N`. Each holds every mailbox that connection selected, so only one that
    /// selected a single mailbox replays into that mailbox's cache.
    pub sync: SyncOptions,
    /// LIST patterns (UTF-8, `*` and `%` wildcards) of the mailboxes to keep; `["*"]`.
    pub patterns: Vec<String>,
    /// Connections syncing mailboxes at once (at least 1); 4.
    pub jobs: usize,
    /// Told of each mailbox as it is done.
    pub on_mailbox: Option<MailboxFn>,
}

impl AccountOptions {
    /// Every mailbox, 4 connections.
    pub fn new(sync: SyncOptions) -> AccountOptions {
        AccountOptions {
            sync,
            patterns: vec!["*".to_string()],
            jobs: 4,
            on_mailbox: None,
        }
    }
}

/// Why a mailbox is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// It has no cache yet.
    New,
    /// The server's STATUS differs from the cache.
    Changed,
    /// Nothing proves the cache current (no HIGHESTMODSEQ, no STATUS, a sync that did not
    /// complete).
    Unproven,
}

/// One mailbox of [`Plan`].
#[derive(Debug, Clone)]
pub struct Planned {
    /// Its account file entry (updated from the listing).
    pub entry: Entry,
    /// The server's counters, when STATUS gave them.
    pub status: Option<Counters>,
    /// `None` when the cache is current; else why it must be synced.
    pub behind: Option<Reason>,
}

/// What [`Account::check`] found.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The selectable mailboxes matching the patterns, in LIST order.
    pub mailboxes: Vec<Planned>,
    /// Names of caches moved after a rename (old, new).
    pub renamed: Vec<(String, String)>,
    /// Names of mailboxes the server confirmed gone; their caches were removed.
    pub removed: Vec<String>,
    /// The listing connection's traffic.
    pub traffic: Traffic,
    /// Its round trips up to and including the login (greeting, CAPABILITY, STARTTLS, LOGIN).
    pub login_round_trips: u64,
}

/// How one mailbox ended.
#[derive(Debug)]
pub enum Outcome {
    /// The cache was current: not selected.
    Unchanged,
    /// Synced (the single-mailbox summary).
    Synced(Box<Summary>),
    /// The sync failed (the cache keeps what was committed); the other mailboxes went on.
    Failed(Error),
}

impl Outcome {
    /// `unchanged`, `first`, `qresync`, `condstore`, `full` or `error`.
    pub fn method_name(&self) -> &'static str {
        match self {
            Outcome::Unchanged => "unchanged",
            Outcome::Synced(s) => method_key(s.method),
            Outcome::Failed(_) => "error",
        }
    }
}

/// One mailbox of an [`AccountSummary`].
#[derive(Debug)]
pub struct MailboxReport {
    /// The decoded name.
    pub name: String,
    /// Its cache directory.
    pub dir: PathBuf,
    /// Messages in the cache afterwards.
    pub messages: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// What an account sync did.
#[derive(Debug)]
pub struct AccountSummary {
    /// Every mailbox in scope, in LIST order.
    pub mailboxes: Vec<MailboxReport>,
    /// Mailboxes whose caches were moved after a rename (old, new).
    pub renamed: Vec<(String, String)>,
    /// Mailboxes confirmed gone (caches removed).
    pub removed: Vec<String>,
    /// All connections' traffic, greetings and logins included. Its `round_trips` is the
    /// sum over the connections (what the `--json` output reports); a few changed
    /// mailboxes are caught up on the listing connection, so then there is only one.
    pub traffic: Traffic,
    /// Round trips of the listing connection up to its login.
    pub login_round_trips: u64,
    /// Round trips on the critical path: the listing connection's (login included), then
    /// the longest of the job connections' that followed it (they run at once). The wait
    /// the network imposes is this, not the sum; the two are equal when no job connection
    /// was needed.
    pub critical_round_trips: u64,
    /// Stopped by [`SyncOptions::interrupt`]: some mailboxes were not synced.
    pub interrupted: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl AccountSummary {
    /// How many mailboxes failed.
    pub fn failures(&self) -> usize {
        self.mailboxes
            .iter()
            .filter(|m| matches!(m.outcome, Outcome::Failed(_)))
            .count()
    }
}

/// The JSON name of a sync method (`first`, `qresync`, `condstore`, `full`).
pub fn method_key(method: crate::Method) -> &'static str {
    match method {
        crate::Method::First => "first",
        crate::Method::Qresync => "qresync",
        crate::Method::Condstore => "condstore",
        crate::Method::Full => "full",
    }
}

/// The account directory: the account file and the caches.
#[derive(Debug)]
pub struct Account {
    dir: PathBuf,
    entries: Vec<Entry>,
}

impl Account {
    /// Opens (creating when missing) the account directory `dir` and reads its account
    /// file (absent: an account never synced).
    pub fn open(dir: impl AsRef<Path>) -> Result<Account> {
        let dir = dir.as_ref().to_path_buf();
        let boxes = dir.join(MAILBOXES);
        std::fs::create_dir_all(&boxes).map_err(|source| Error::Io {
            what: format!("creating {}", boxes.display()),
            source,
        })?;
        let entries = file::read(&dir)?;
        Ok(Account { dir, entries })
    }

    /// The mailboxes as the account file last recorded them.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The cache directory of `entry`.
    pub fn cache_dir(&self, entry: &Entry) -> PathBuf {
        self.dir.join(MAILBOXES).join(&entry.dir)
    }

    /// The account file's path.
    pub fn file_path(&self) -> PathBuf {
        file::path(&self.dir)
    }

    /// Lists the account, follows renames, drops caches of mailboxes confirmed gone, writes
    /// the account file and says which caches are behind. One connection.
    pub fn check(&mut self, opts: &AccountOptions) -> Result<Plan> {
        check::check(self, opts)
    }

    /// [`Account::check`], then syncs every mailbox that is behind over up to
    /// [`AccountOptions::jobs`] connections. A mailbox that fails is reported and the
    /// others go on; the account file records each completed sync.
    pub fn sync(&mut self, opts: &mut AccountOptions) -> Result<AccountSummary> {
        run::sync(self, opts)
    }

    /// Syncs, then keeps the account current until [`SyncOptions::interrupt`] is set:
    /// NOTIFY (RFC 5465) where offered, else IDLE on INBOX, and a LIST-STATUS round every
    /// [`SyncOptions::poll`]. After the interrupt, one last round leaves every cache
    /// exactly current.
    pub fn watch(&mut self, opts: &mut AccountOptions) -> Result<AccountSummary> {
        watch::watch(self, opts)
    }
}
