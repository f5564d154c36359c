//! Listing the account and reconciling the account file with it: renames followed by
//! MAILBOXID, caches of mailboxes confirmed gone removed, and for each mailbox whether its
//! cache is behind.

use std::path::Path;

use uidcache_engine::{Cache, Segment};

use crate::conn::{Conn, Kind};
use crate::error::{Error, Result};
use crate::link::Link;
use crate::options::Resync;
use crate::utf7;

use super::file::{self, Counters, Entry};
use super::listing::{self, Listed};
use super::{dirname, pattern, Account, AccountOptions, Plan, Planned, Reason, MAILBOXES};

/// One connection: list, reconcile, log out.
pub(super) fn check(account: &mut Account, opts: &AccountOptions) -> Result<Plan> {
    let (mut plan, mut link) = check_open(account, opts)?;
    logout(&mut link.conn);
    plan.traffic = link.conn.traffic;
    Ok(plan)
}

/// Logs in, lists and reconciles, and hands back the connection still logged in (with
/// QRESYNC enabled when the server has it), for the changed mailboxes to be caught up on
/// it. The plan's traffic is left for the caller to fill in when the connection closes.
pub(super) fn check_open(account: &mut Account, opts: &AccountOptions) -> Result<(Plan, Link)> {
    let mut link = connect(opts)?;
    let login_round_trips = link.conn.traffic.round_trips;
    let enable = link.conn.has("QRESYNC") && opts.sync.resync == Resync::Auto;
    match check_on(account, opts, &mut link.conn, enable) {
        Ok((mut plan, enabled)) => {
            link.qresync_enabled = enabled;
            plan.login_round_trips = login_round_trips;
            Ok((plan, link))
        }
        Err(e) => {
            link.conn.close();
            Err(e)
        }
    }
}

/// Logs in for listing; its transcript, if any, is the options' file itself (the job
/// connections write theirs to `FILE.N`: [`super::run`]).
pub(super) fn connect(opts: &AccountOptions) -> Result<Link> {
    Link::connect(&opts.sync)
}

/// LOGOUT and close; the answer is not needed.
pub(super) fn logout(conn: &mut Conn) {
    if conn.send("LOGOUT", None).is_ok() {
        while let Ok(Some(r)) = conn.read(None) {
            if matches!(r.kind, Kind::Tagged { .. }) {
                break;
            }
        }
    }
    conn.close();
}

/// The decoded name of a wire name (the wire name itself when it is not modified UTF-7).
fn decoded(raw: &[u8]) -> String {
    std::str::from_utf8(raw)
        .ok()
        .and_then(utf7::decode)
        .unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned())
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

/// Lists and reconciles on a logged-in connection; writes the account file. With `enable`
/// (no mailbox ever selected on `conn`), `ENABLE QRESYNC` rides along with the LIST; the
/// flag returned says whether the server enabled it.
pub(super) fn check_on(
    account: &mut Account,
    opts: &AccountOptions,
    conn: &mut Conn,
    enable: bool,
) -> Result<(Plan, bool)> {
    let (listed, enabled) = listing::list(conn, &opts.patterns, enable)?;
    let boxes = account.dir.join(MAILBOXES);
    // Each old entry with whether a listed mailbox took it over.
    let mut old: Vec<(Entry, bool)> = std::mem::take(&mut account.entries)
        .into_iter()
        .map(|e| (e, false))
        .collect();
    let mut entries = Vec::with_capacity(listed.len());
    let mut plan = Plan {
        mailboxes: Vec::new(),
        renamed: Vec::new(),
        removed: Vec::new(),
        traffic: Default::default(),
        login_round_trips: 0,
    };
    for l in &listed {
        let dir = dirname::encode(&l.raw);
        let mut synced = None;
        if let Some((e, used)) = old.iter_mut().find(|(e, _)| e.raw == l.raw) {
            *used = true;
            if matches!((&e.mailbox_id, &l.mailbox_id), (Some(a), Some(b)) if a != b) {
                // Same name, another mailbox (deleted and recreated, or names swapped):
                // the cache describes something else, and is started afresh.
                remove_cache(&boxes.join(&e.dir))?;
            } else {
                synced = e.synced;
            }
        } else if let Some(id) = &l.mailbox_id {
            let moved = old.iter_mut().find(|(e, used)| {
                !*used
                    && e.mailbox_id.as_ref() == Some(id)
                    && !listed.iter().any(|m| m.raw == e.raw)
            });
            if let Some((e, used)) = moved {
                *used = true;
                move_cache(&boxes, &e.dir, &dir)?;
                plan.renamed.push((e.name.clone(), decoded(&l.raw)));
                synced = e.synced;
            }
        }
        let mut entry = Entry {
            raw: l.raw.clone(),
            name: decoded(&l.raw),
            delimiter: l.delimiter,
            attributes: l.attributes.clone(),
            mailbox_id: l.mailbox_id.clone(),
            dir,
            synced,
        };
        if entry.is_selectable() {
            let behind = behind(&boxes.join(&entry.dir), &entry, l);
            if behind.is_some() {
                // Until its sync completes, nothing may claim this cache current (a kill
                // during the sync leaves the file saying so).
                entry.synced = None;
            }
            plan.mailboxes.push(Planned {
                behind,
                status: l.status,
                entry: entry.clone(),
            });
        }
        entries.push(entry);
    }
    let in_scope = |e: &Entry| {
        opts.patterns
            .iter()
            .any(|p| pattern::matches(p, &e.name, e.delimiter))
    };
    let missing: Vec<&Entry> = old
        .iter()
        .filter(|(e, used)| !*used && in_scope(e))
        .map(|(e, _)| e)
        .collect();
    let gone = if missing.is_empty() {
        Vec::new()
    } else {
        let raws: Vec<Vec<u8>> = missing.iter().map(|e| e.raw.clone()).collect();
        listing::confirm_gone(conn, &raws)?
    };
    for (e, gone) in missing
        .iter()
        .zip(gone.iter().chain(std::iter::repeat(&false)))
    {
        if *gone {
            remove_cache(&boxes.join(&e.dir))?;
            plan.removed.push(e.name.clone());
        } else {
            // Not listed but not confirmed gone either: the cache stays, unsynced.
            entries.push((*e).clone());
        }
    }
    entries.extend(
        old.iter()
            .filter(|(e, used)| !*used && !in_scope(e))
            .map(|(e, _)| e.clone()),
    );
    file::write(&account.dir, &entries)?;
    account.entries = entries;
    Ok((plan, enabled))
}

/// Whether the cache in `dir` is behind the server's `l.status`, and why.
fn behind(dir: &Path, entry: &Entry, l: &Listed) -> Option<Reason> {
    let Some(status) = l.status else {
        return Some(Reason::Unproven);
    };
    if !dir.exists() {
        return Some(Reason::New);
    }
    let Some(synced) = entry.synced else {
        return Some(Reason::Unproven);
    };
    if synced != status {
        return Some(Reason::Changed);
    }
    if status.highestmodseq.is_none() {
        return Some(Reason::Unproven);
    }
    match cache_counters(dir) {
        Some(c) if c == status => None,
        Some(_) => Some(Reason::Changed),
        None => Some(Reason::Unproven),
    }
}

/// What the cache in `dir` holds, when it is complete (every position known).
pub(super) fn cache_counters(dir: &Path) -> Option<Counters> {
    let cache = Cache::open_read_only(dir).ok()?;
    counters_of(&cache)
}

/// The counters of a complete cache; `None` while positions are unknown.
pub(super) fn counters_of(cache: &Cache) -> Option<Counters> {
    let view = cache.view();
    if view
        .segments()
        .iter()
        .any(|s| matches!(s, Segment::Hole(..)))
    {
        return None;
    }
    Some(Counters {
        uidvalidity: view.uidvalidity()?,
        uidnext: view.uidnext()?,
        messages: view.exists()?,
        highestmodseq: view.highestmodseq(),
    })
}

/// Renames the cache directory `from` to `to` (a server-side rename). When `to` exists
/// already (a crash after the rename and before the account file was written), it is the
/// moved cache.
fn move_cache(boxes: &Path, from: &str, to: &str) -> Result<()> {
    let (src, dst) = (boxes.join(from), boxes.join(to));
    if src == dst || dst.exists() || !src.exists() {
        return Ok(());
    }
    std::fs::rename(&src, &dst).map_err(io(format!(
        "moving {} to {}",
        src.display(),
        dst.display()
    )))?;
    file::sync_dir(boxes)
}

/// Removes a cache directory (nothing when it is not there).
fn remove_cache(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io(format!("removing {}", dir.display()))(e))
        }
        _ => {
            if let Some(parent) = dir.parent() {
                file::sync_dir(parent)?;
            }
            Ok(())
        }
    }
}
