//! Bringing the cache up to date on a fresh connection: SELECT the best way the server
//! allows, then learn whatever is still unknown, in blocks.

use std::sync::atomic::Ordering;

use uidcache_engine::Cache;
use uidcache_imap::qresync_param;

use crate::error::{Error, Result};
use crate::link::Link;
use crate::mailbox;
use crate::options::{Progress, Resync, SyncOptions};
use crate::plan;

/// How the mailbox was caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The cache held nothing of this mailbox: everything was learned.
    First,
    /// `SELECT ... (QRESYNC ...)`: the server sent what changed (RFC 7162 3.2.5).
    Qresync,
    /// `SELECT ... (CONDSTORE)`, positions by SEARCH, then `FETCH ... (CHANGEDSINCE m)`.
    Condstore,
    /// Everything refetched (no CONDSTORE, or no known HIGHESTMODSEQ).
    Full,
}

impl Method {
    /// A short name for summaries.
    pub fn name(self) -> &'static str {
        match self {
            Method::First => "first sync",
            Method::Qresync => "QRESYNC",
            Method::Condstore => "CONDSTORE",
            Method::Full => "full refetch",
        }
    }
}

/// Selects the mailbox and learns what is missing. When `interruptible`, a Ctrl-C stops
/// after the commands in flight (everything learned is committed).
pub(crate) fn catch_up(
    link: &mut Link,
    cache: &mut Cache,
    opts: &mut SyncOptions,
    interruptible: bool,
) -> Result<Method> {
    let view = cache.view();
    let old_validity = view.uidvalidity();
    let old_modseq = view.highestmodseq();
    let layout = cache.layout();
    let had_records = layout.placed_records + layout.unplaced_records > 0;
    let qresync = link.conn.has("QRESYNC") && opts.resync == Resync::Auto;
    let condstore = (link.conn.has("CONDSTORE") || qresync) && opts.resync != Resync::Full;
    if qresync {
        link.enable_qresync(cache)?;
    }
    let name = mailbox::quoted(&opts.target.mailbox);
    let param = if qresync {
        qresync_param(&cache.view()).map_err(|e| Error::Server(e.to_string()))?
    } else {
        None
    };
    let (select, mut method) = match param {
        Some(p) => (format!("SELECT {name} {p}"), Method::Qresync),
        None if condstore => (
            format!("SELECT {name} (CONDSTORE)"),
            match (had_records, old_modseq) {
                (false, _) => Method::First,
                (true, Some(_)) => Method::Condstore,
                // Nothing to resync from: every message is fetched again.
                (true, None) => Method::Full,
            },
        ),
        None => (
            format!("SELECT {name}"),
            if had_records {
                Method::Full
            } else {
                Method::First
            },
        ),
    };
    // A plain SELECT of a cache with records reports a newer HIGHESTMODSEQ before the kept
    // records' flags are refetched: the session holds the old value until they are (the
    // CHANGEDSINCE FETCH below, or `flags_caught_up` after a full refetch; format-spec 9.1).
    link.run(cache, vec![select], 1, false, &mut |_| {})?;
    if old_validity.is_some() && cache.view().uidvalidity() != old_validity {
        // A new UIDVALIDITY: the session cleared the cache (and the hold ended).
        method = Method::First;
    } else if let (Some(old), Some(now)) = (old_modseq, link.session.selected_modseq()) {
        // HIGHESTMODSEQ never decreases for one UIDVALIDITY (RFC 7162 3.1.2.1): a cache
        // ahead of the server claims changes it never saw.
        if now < old {
            return Err(Error::Contradiction(format!(
                "its HIGHESTMODSEQ {now} is below the cache's {old}"
            )));
        }
    }
    let flags = !opts.uids_only;
    // Whether every kept record's flags will have been fetched since the SELECT without the
    // session seeing it (a full refetch in blocks, or an empty mailbox).
    let mut refetched_all = method == Method::Full;
    if method == Method::Condstore && flags {
        if let Some(m) = old_modseq {
            // Positions are cheap to relearn (ESEARCH ranges); flags only where changed.
            fill(link, cache, opts, false, interruptible)?;
            if cache.view().exists().unwrap_or(0) > 0 {
                // Its OK ends the session's hold: `m` is the value held (format-spec 9.1).
                link.run(
                    cache,
                    vec![format!("FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE {m})")],
                    1,
                    false,
                    &mut |_| {},
                )?;
            } else {
                refetched_all = true;
            }
        }
    }
    fill(link, cache, opts, flags, interruptible)?;
    let modseqs = link.conn.has("CONDSTORE") || link.qresync_enabled;
    if let (true, true, Some(m)) = (flags && method == Method::Full, modseqs, old_modseq) {
        if link.session.holding_modseq() && cache.view().exists().unwrap_or(0) > 0 {
            // Every flag was just refetched; this ends the hold where a replay of the
            // transcript sees it too (only what changed since `m` comes again).
            link.run(
                cache,
                vec![format!("FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE {m})")],
                1,
                false,
                &mut |_| {},
            )?;
        }
    }
    if flags && refetched_all && link.session.holding_modseq() {
        // Without flags (`uids_only`) the hold stays: the value from before the catch-up.
        let mut tx = cache.transaction()?;
        link.session.flags_caught_up(&mut tx).map_err(|e| {
            Error::Apply(uidcache_imap::LineError {
                line: link.conn.line,
                source: e,
            })
        })?;
        link.commit(tx)?;
    }
    settle(link, cache, opts, flags, interruptible)?;
    Ok(method)
}

/// Ends a catch-up with the stored HIGHESTMODSEQ as current as is safe. MODSEQs that the
/// server reported during FETCH or SEARCH wait until it has had the chance to report the
/// expunges it held back (format-spec 9.1); a NOOP is that chance. What the NOOP announces
/// (new mail, more changes) is learned too; a mailbox that keeps changing is left after
/// three rounds with the lower, safe value.
fn settle(
    link: &mut Link,
    cache: &mut Cache,
    opts: &mut SyncOptions,
    flags: bool,
    interruptible: bool,
) -> Result<()> {
    for _ in 0..3 {
        if link.session.pending_modseq().is_none() {
            break;
        }
        link.run(cache, vec!["NOOP".to_string()], 1, false, &mut |_| {})?;
        fill(link, cache, opts, flags, interruptible)?;
    }
    Ok(())
}

/// Learns, in blocks, every position still unknown and (with `flags`) every placed
/// message's flags still unknown: `FETCH a:b (UID FLAGS [MODSEQ])` with flags, else
/// `UID SEARCH [RETURN (ALL)] a:b`. Repeats until nothing is missing, since expunges
/// during a `UID SEARCH` make its answer unusable.
pub(crate) fn fill(
    link: &mut Link,
    cache: &mut Cache,
    opts: &mut SyncOptions,
    flags: bool,
    interruptible: bool,
) -> Result<()> {
    let items = if link.conn.has("CONDSTORE") || link.qresync_enabled {
        "(UID FLAGS MODSEQ)"
    } else {
        "(UID FLAGS)"
    };
    let esearch = link.conn.has("ESEARCH");
    let mut stalled = 0;
    let mut before: Option<u64> = None;
    loop {
        let mut wanted = plan::wanted(&cache.view(), flags)?;
        if before.is_some() && !wanted.is_empty() {
            // What the last round left unknown was voided by an expunge, reported or held
            // back (RFC 3501 7.4.1): a NOOP lets the server report it before we ask again,
            // and what to ask is worked out after it (the count may have changed).
            link.run(cache, vec!["NOOP".to_string()], 1, false, &mut |_| {})?;
            wanted = plan::wanted(&cache.view(), flags)?;
        }
        let view = cache.view();
        let known = plan::known(&view, &wanted);
        let total = u64::from(view.exists().unwrap_or(0));
        if let Some(report) = opts.on_progress.as_mut() {
            report(Progress { known, total });
        }
        if wanted.is_empty() {
            return Ok(());
        }
        if before.is_some_and(|b| known <= b) {
            stalled += 1;
            if stalled >= 3 {
                return Err(Error::NoProgress(format!(
                    "{} messages still unknown after three rounds of {}",
                    total.saturating_sub(known),
                    if flags { "FETCH" } else { "UID SEARCH" }
                )));
            }
        } else {
            stalled = 0;
        }
        before = Some(known);
        if interruptible && link.interrupt.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let blocks = plan::blocks(&wanted, opts.block);
        let sizes: Vec<u64> = blocks.iter().map(|(a, b)| u64::from(b - a) + 1).collect();
        let commands = blocks
            .iter()
            .map(|(a, b)| {
                if flags {
                    format!("FETCH {a}:{b} {items}")
                } else if esearch {
                    format!("UID SEARCH RETURN (ALL) {a}:{b}")
                } else {
                    format!("UID SEARCH {a}:{b}")
                }
            })
            .collect();
        let mut done = 0usize;
        let mut report = opts.on_progress.take();
        let result = link.run(cache, commands, opts.pipeline, interruptible, &mut |_| {
            let learned: u64 = sizes.iter().take(done + 1).sum();
            done += 1;
            if let Some(r) = report.as_mut() {
                r(Progress {
                    known: (known + learned).min(total),
                    total,
                });
            }
        });
        opts.on_progress = report;
        result?;
    }
}
