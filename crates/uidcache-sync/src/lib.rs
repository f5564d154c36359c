//! Keeps a uidcache mailbox cache in step with a real IMAP server.
//!
//! [`sync`] connects (TLS with rustls: `imaps://`, or STARTTLS on `imap://`), logs in
//! (`AUTHENTICATE PLAIN`, `OAUTHBEARER` or `XOAUTH2`, or `LOGIN`: see [`LoginOptions`]),
//! selects the mailbox the best way the server allows — `SELECT (QRESYNC ...)` built from
//! the cache, else `SELECT (CONDSTORE)` and `FETCH (CHANGEDSINCE m)`, else a full refetch —
//! and learns whatever is still unknown in blocks (`FETCH a:b (UID FLAGS MODSEQ)`, or
//! `UID SEARCH RETURN (ALL) a:b` with [`SyncOptions::uids_only`]). Every tagged completion
//! is a commit, so a sync killed half-way resumes where it stopped. [`watch`] then stays
//! connected with IDLE (or NOOP polling) and reconnects with backoff.
//!
//! Every server response goes through [`uidcache_imap::Session`], the same code that
//! `uidcache replay` uses, and the transcript option writes the session in that format:
//! replaying it gives the same cache.
//!
//! The wire layer is imap-codec's: its `Fragmentizer` frames responses (lines and
//! literals), its codecs read the greeting and encode LOGIN. imap-next (the same project's
//! client state machine) was not used: its command type cannot express `UID SEARCH RETURN
//! (ALL)` (imap-types has no ESEARCH), it sends no raw commands, and it hands out parsed
//! responses only, while the cache keeps flag bytes as received and the transcript must be
//! the bytes on the wire. async-imap would add an async runtime and a second IMAP parser
//! (imap-proto), and has neither QRESYNC SELECT parameters nor ESEARCH.
//!
//! # Example
//! ```no_run
//! use uidcache_engine::Cache;
//! use uidcache_sync::{sync, SyncOptions, Target};
//!
//! let target = Target::parse("imaps://alice@mail.example.org/INBOX")?;
//! let mut options = SyncOptions::new(target, std::env::var("UIDCACHE_PASSWORD")?);
//! let mut cache = Cache::open("/tmp/alice-inbox")?;
//! let summary = sync(&mut cache, &mut options)?;
//! println!("{summary}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod account;
mod auth;
mod catchup;
mod conn;
mod error;
mod heal;
mod link;
mod mailbox;
mod net;
mod options;
mod plan;
mod summary;
mod transcript;
mod url;
mod utf7;
mod watch;

use std::time::Instant;

use uidcache_engine::Cache;

pub use auth::{LoginOptions, Mechanism, TokenFn};
pub use catchup::Method;
pub use conn::Traffic;
pub use error::{Error, Result};
pub use options::{EventFn, Progress, ProgressFn, Resync, SyncOptions};
pub use summary::{Changes, Summary};
pub use url::{Security, Target};

use link::Link;

/// Brings `cache` up to date with the mailbox once, then logs out.
///
/// On [`Error::Interrupted`] (Ctrl-C through [`SyncOptions::interrupt`]) or any other error,
/// everything applied up to the last completed command is committed; running the sync
/// again continues from there.
pub fn sync(cache: &mut Cache, opts: &mut SyncOptions) -> Result<Summary> {
    // What changed is counted as it happens, in work proportional to it (not by comparing
    // every record before and after).
    tracked(cache, |cache| sync_tracked(cache, opts))
}

/// Runs `f` with the cache counting its changes, and stops counting however `f` ends.
pub(crate) fn tracked<T>(cache: &mut Cache, f: impl FnOnce(&mut Cache) -> Result<T>) -> Result<T> {
    cache.track_changes();
    let result = f(cache);
    cache.stop_tracking();
    result
}

fn sync_tracked(cache: &mut Cache, opts: &mut SyncOptions) -> Result<Summary> {
    let started = Instant::now();
    let before = cache.view().uidvalidity();
    let mut traffic = Traffic::default();
    // Only knowledge from before this sync can be wrong in a way a resync cures; a
    // contradiction over what this sync itself learned is the server contradicting itself.
    let knew = cache.view().highestmodseq().is_some() || cache.view().record_count() > 0;
    let mut healed = None;
    let method = loop {
        let mut link = Link::connect(opts)?;
        let result = catchup::catch_up(&mut link, cache, opts, true);
        match &result {
            Ok(_) | Err(Error::Interrupted) => link.logout(cache),
            Err(_) => link.conn.close(),
        }
        traffic.add(link.conn.traffic);
        match result {
            Err(e) if knew && healed.is_none() && heal::contradicts_cache(&e) => {
                healed = Some(heal::heal(cache, opts, &e)?);
            }
            other => break other?,
        }
    };
    let mut summary = summarize(cache, opts, before, method, traffic, 0, started)?;
    summary.healed = healed;
    Ok(summary)
}

/// Tells the caller's event callback (the command prints it on stderr).
fn event(opts: &mut SyncOptions, text: &str) {
    if let Some(f) = opts.on_event.as_mut() {
        f(text);
    }
}

/// Syncs, then stays connected and applies changes as they happen until
/// [`SyncOptions::interrupt`] is set; lost connections are re-made with backoff (1 s
/// doubling to 60 s). On the way out it commits and selects once more, so that the cache
/// ends exactly current.
pub fn watch(cache: &mut Cache, opts: &mut SyncOptions) -> Result<Summary> {
    tracked(cache, |cache| {
        let started = Instant::now();
        let before = cache.view().uidvalidity();
        let mut totals = watch::Totals::default();
        watch::watch(cache, opts, &mut totals)?;
        let mut summary = summarize(
            cache,
            opts,
            before,
            totals.method.unwrap_or(Method::First),
            totals.traffic,
            totals.reconnects,
            started,
        )?;
        summary.healed = totals.healed;
        Ok(summary)
    })
}

pub(crate) fn summarize(
    cache: &Cache,
    opts: &SyncOptions,
    before: Option<u32>,
    method: Method,
    traffic: Traffic,
    reconnects: u32,
    started: Instant,
) -> Result<Summary> {
    let tracked = cache.tracked_changes()?.unwrap_or_default();
    let view = cache.view();
    Ok(Summary {
        mailbox: opts.target.mailbox.clone(),
        method,
        messages: view.exists().unwrap_or(0),
        uidvalidity: view.uidvalidity(),
        highestmodseq: view.highestmodseq(),
        changes: Changes::from_tracked(tracked, before, view.uidvalidity()),
        traffic,
        reconnects,
        healed: None,
        elapsed: started.elapsed(),
    })
}
