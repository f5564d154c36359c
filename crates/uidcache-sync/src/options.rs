//! What a sync is asked to do.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use uidcache_engine::Durability;

use crate::auth::LoginOptions;
use crate::url::Target;

/// How a cache that already holds the mailbox catches up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resync {
    /// QRESYNC when the server has it, else CONDSTORE `CHANGEDSINCE`, else a full refetch.
    #[default]
    Auto,
    /// Never QRESYNC: CONDSTORE when the server has it, else a full refetch.
    Condstore,
    /// Refetch every message's UID and flags (what a client without a cache pays).
    Full,
}

/// Progress of learning the mailbox: sequence numbers known out of the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Messages whose UID (and flags, unless UIDs only) are known.
    pub known: u64,
    /// Messages in the mailbox.
    pub total: u64,
}

/// A callback for progress reports.
pub type ProgressFn = Box<dyn FnMut(Progress) + Send>;
/// A callback for one-line event reports.
pub type EventFn = Box<dyn FnMut(&str) + Send>;

/// Options of [`crate::sync`] and [`crate::watch`].
pub struct SyncOptions {
    /// The server and mailbox.
    pub target: Target,
    /// The password (never logged; the transcript shows `***`).
    pub password: String,
    /// PEM CA certificates to trust instead of the system's (self-signed servers).
    pub ca_file: Option<PathBuf>,
    /// How to log in (mechanism, OAuth token source); the default picks from the
    /// capabilities and uses [`SyncOptions::password`].
    pub login: LoginOptions,
    /// Allow a plain-text LOGIN without TLS to a non-loopback host (off: refused).
    pub allow_plaintext: bool,
    /// Append the session to this file in the `uidcache replay` format.
    pub transcript: Option<PathBuf>,
    /// Learn only UIDs and positions, not flags and MODSEQs.
    pub uids_only: bool,
    /// How an existing cache catches up.
    pub resync: Resync,
    /// Sequence numbers per FETCH or SEARCH command while learning the mailbox.
    pub block: u32,
    /// Commands sent before waiting for the first answer.
    pub pipeline: usize,
    /// Durability of each commit.
    pub durability: Durability,
    /// Without IDLE, how often `--watch` polls with NOOP.
    pub poll: Duration,
    /// Set (by a Ctrl-C handler) to stop: the current command completes, is committed, and
    /// the sync returns.
    pub interrupt: Arc<AtomicBool>,
    /// Called as the mailbox is learned.
    pub on_progress: Option<ProgressFn>,
    /// Called with one line for each notable event in `--watch` (reconnects, changes).
    pub on_event: Option<EventFn>,
}

impl SyncOptions {
    /// Options with the defaults for `target`.
    pub fn new(target: Target, password: String) -> SyncOptions {
        SyncOptions {
            target,
            password,
            ca_file: None,
            login: LoginOptions::default(),
            allow_plaintext: false,
            transcript: None,
            uids_only: false,
            resync: Resync::Auto,
            block: 5_000,
            pipeline: 4,
            durability: Durability::Durable,
            poll: Duration::from_secs(30),
            interrupt: Arc::new(AtomicBool::new(false)),
            on_progress: None,
            on_event: None,
        }
    }
}
