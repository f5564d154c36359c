//! A few changed mailboxes caught up on the listing connection in one pipelined batch, so
//! that no job connection (and no second login) is needed. For each mailbox:
//!
//! - `SELECT name (QRESYNC (uidvalidity modseq known-uids))`: the server sends
//!   `VANISHED (EARLIER)` and the FETCH of every message changed since, before its tagged
//!   OK (RFC 7162 3.2.5);
//! - `UID FETCH old-uidnext:* (UID FLAGS MODSEQ)`: the messages added since, which Dovecot
//!   leaves out of the SELECT's answer (only an EXISTS says they are there).
//!
//! What the pipelining relies on (RFC 9051 5.5: commands may be sent without waiting unless
//! an ambiguity would result):
//!
//! - The server answers the commands in order. Each UID FETCH acts on the mailbox its
//!   SELECT opened; a SELECT that fails leaves no mailbox selected (RFC 9051 6.3.2), so its
//!   FETCH fails and touches nothing.
//! - `* OK [CLOSED]` (RFC 7162 3.2.11, RFC 9051 7.1) separates the responses of the mailbox a
//!   SELECT closes from those of the mailbox it opens. So a mailbox owns every response from
//!   the start of its SELECT's answer up to the `[CLOSED]` of the next SELECT (or, when its
//!   SELECT failed, up to its FETCH's completion, since nothing stays selected).
//! - A server that breaks this (a completion of another mailbox's command before any
//!   `[CLOSED]`) stops the batch: what came after the last certain point is dropped, the
//!   connection is closed, and the mailboxes not settled go to the job connections.
//!
//! Each mailbox's responses go through its own [`Session`] into its own cache as soon as
//! they are delimited, with a commit at each completion, as the single-mailbox path does.
//! Anything short of a complete result (a new UIDVALIDITY, a position or flag still
//! unknown, a contradiction) sends the mailbox on to the job connections, which run the
//! single-mailbox catch-up with its fallbacks.

use std::sync::{mpsc, Mutex};
use std::time::Instant;

use uidcache_engine::{Cache, OpenOptions};
use uidcache_imap::{qresync_param, Session, Step};

use crate::conn::{Conn, Kind, Received, Traffic};
use crate::error::{printable, Error, Result};
use crate::heal;
use crate::link::Link;
use crate::options::{Resync, SyncOptions};
use crate::plan;
use crate::Method;

use super::check::counters_of;
use super::run::{options_for, Done, Job};
use super::value;
use super::{MailboxReport, Outcome};

/// At most this many mailboxes are caught up on the listing connection; more is work for
/// the job connections (first syncs and many changes).
pub(super) const MAX_BATCH: usize = 50;

/// One mailbox of the batch.
struct Slot {
    job: Job,
    cache: Cache,
    select: String,
    fetch: String,
    tags: (String, String),
    /// The responses it owns so far, with their line numbers.
    lines: Vec<(u64, Received)>,
    /// How many of `lines` are certainly its own (up to its FETCH's completion).
    certain: usize,
    /// Its SELECT's completion, once it came.
    selected: Option<Received>,
    fetched: bool,
}

/// What the batch did: the mailboxes it settled, and those left for the job connections.
pub(super) struct Batch {
    pub(super) done: Vec<Done>,
    pub(super) left: Vec<Job>,
}

/// Catches up `jobs` on `link` when the batch applies (QRESYNC enabled on it, at most
/// [`MAX_BATCH`] mailboxes); every mailbox it does not settle is returned in
/// [`Batch::left`]. On a broken exchange the connection is closed. Up to `workers`
/// mailboxes are applied to their caches at once.
pub(super) fn run(link: &mut Link, base: &SyncOptions, jobs: Vec<Job>, workers: usize) -> Batch {
    let mut batch = Batch {
        done: Vec::new(),
        left: Vec::new(),
    };
    if jobs.len() > MAX_BATCH
        || !link.qresync_enabled
        || base.resync != Resync::Auto
        || base.uids_only
    {
        batch.left = jobs;
        return batch;
    }
    let mut slots = Vec::new();
    for job in jobs {
        match prepare(job, base) {
            Ok(slot) => slots.push(slot),
            Err(job) => batch.left.push(job),
        }
    }
    if slots.is_empty() {
        return batch;
    }
    let started = Instant::now();
    let commands: Vec<String> = slots
        .iter()
        .flat_map(|s| [s.select.clone(), s.fetch.clone()])
        .collect();
    let Ok(tags) = link.conn.send_all(&commands) else {
        link.conn.close();
        batch.left.extend(slots.into_iter().map(|s| s.job));
        return batch;
    };
    let mut sent = slots;
    for (s, pair) in sent.iter_mut().zip(tags.chunks(2)) {
        if let [select, fetch] = pair {
            s.tags = (select.clone(), fetch.clone());
        }
    }
    // Reading goes on while `workers` threads apply the mailboxes already delimited, each
    // to its own cache (commits and checkpoints wait for the disk, as a job's would).
    let settled = Mutex::new(Vec::new());
    let (tx, rx) = mpsc::channel::<Slot>();
    let rx = Mutex::new(rx);
    let unsettled = std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            // Each its own copy: the callbacks in the caller's options are not Sync.
            let opts = options_for(base, String::new());
            let (rx, settled) = (&rx, &settled);
            scope.spawn(move || loop {
                let next = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => break,
                };
                let Ok(slot) = next else { break };
                let result = settle(slot, &opts, started);
                if let Ok(mut v) = settled.lock() {
                    v.push(result);
                }
            });
        }
        let mut finish = |s: Slot| {
            // Only fails when every worker is gone (a panic): the mailbox is then
            // reported unfinished and recorded behind.
            let _ = tx.send(s);
        };
        let unsettled = route(&mut link.conn, sent, &mut finish);
        // The workers end once the queue is empty and closed.
        drop(tx);
        unsettled
    });
    for result in settled.into_inner().unwrap_or_default() {
        match result {
            Ok(done) => batch.done.push(done),
            Err(job) => batch.left.push(job),
        }
    }
    if !unsettled.is_empty() {
        link.conn.close();
    }
    batch.left.extend(unsettled.into_iter().map(|s| s.job));
    batch
}

/// Opens the cache and builds the two commands; a mailbox the batch cannot do (no
/// HIGHESTMODSEQ or UIDNEXT to resync from, something still unknown, more new messages
/// than one fetch block, a name not sendable quoted) is handed back.
fn prepare(job: Job, base: &SyncOptions) -> std::result::Result<Slot, Job> {
    let opened = Cache::open_with(&job.dir, OpenOptions::new().durability(base.durability));
    let Ok(cache) = opened else { return Err(job) };
    let view = cache.view();
    let param = qresync_param(&view).ok().flatten();
    let complete = plan::wanted(&view, true).is_ok_and(|w| w.is_empty());
    // Many new messages are big work: the job path fetches them in blocks, each
    // committed, so that a sync killed half-way resumes.
    let small = match (job.uidnext, view.uidnext()) {
        (Some(server), Some(cache)) => server.saturating_sub(cache) <= base.block,
        _ => false,
    };
    let (Some(param), Some(uidnext), true, true, Some(name)) = (
        param,
        view.uidnext(),
        complete,
        small,
        value::quote(&job.raw),
    ) else {
        drop(cache);
        return Err(job);
    };
    Ok(Slot {
        select: format!("SELECT {name} {param}"),
        fetch: format!("UID FETCH {}:* (UID FLAGS MODSEQ)", uidnext.max(1)),
        job,
        cache,
        tags: (String::new(), String::new()),
        lines: Vec::new(),
        certain: 0,
        selected: None,
        fetched: false,
    })
}

/// Reads the batch's answers and hands each mailbox to `finish` once its responses are
/// delimited. Returns the mailboxes not settled (the exchange broke or became ambiguous).
fn route(conn: &mut Conn, slots: Vec<Slot>, finish: &mut dyn FnMut(Slot)) -> Vec<Slot> {
    let mut slots = slots.into_iter();
    let Some(mut owner) = slots.next() else {
        return Vec::new();
    };
    while let Ok(Some(r)) = conn.read(None) {
        let pos = conn.line;
        let done = match &r.kind {
            Kind::Bye => break,
            Kind::Tagged { tag, .. } if *tag == owner.tags.0 => {
                owner.lines.push((pos, r));
                owner.selected = owner.lines.last().map(|(_, r)| Received {
                    raw: r.raw.clone(),
                    kind: r.kind.clone(),
                });
                false
            }
            Kind::Tagged { tag, .. } if *tag == owner.tags.1 => {
                owner.lines.push((pos, r));
                owner.certain = owner.lines.len();
                owner.fetched = true;
                // A failed SELECT leaves nothing selected: no [CLOSED] will follow.
                !selected_ok(&owner)
            }
            Kind::Tagged { .. } => {
                // Another mailbox's command completed while this one may still own the
                // connection: the server sent no [CLOSED] where one was due.
                if owner.fetched {
                    owner.lines.truncate(owner.certain);
                    finish(owner);
                    return slots.collect();
                }
                break;
            }
            Kind::Untagged if owner.fetched && selected_ok(&owner) && is_closed(&r.raw) => {
                // The next SELECT closed this mailbox: the rest is the next one's.
                let next = slots.next();
                finish(owner);
                match next {
                    Some(mut n) => {
                        n.lines.push((pos, r));
                        owner = n;
                        continue;
                    }
                    None => return Vec::new(),
                }
            }
            Kind::Untagged | Kind::Continuation => {
                if owner.selected.is_none() && is_closed(&r.raw) {
                    // Whatever came before belongs to the mailbox this closes (RFC 7162
                    // 3.2.11), not to this one: possible only from a server that kept a
                    // mailbox selected after a failed SELECT.
                    owner.lines.clear();
                }
                owner.lines.push((pos, r));
                false
            }
        };
        if done {
            finish(owner);
            match slots.next() {
                Some(n) => owner = n,
                None => return Vec::new(),
            }
        } else if owner.fetched && slots.len() == 0 {
            // The last mailbox: nothing more will be read for it.
            finish(owner);
            return Vec::new();
        }
    }
    // The connection broke or the answers became ambiguous: only what was certain stays.
    let mut left = Vec::new();
    if owner.fetched {
        owner.lines.truncate(owner.certain);
        finish(owner);
    } else {
        left.push(owner);
    }
    left.extend(slots);
    left
}

fn selected_ok(s: &Slot) -> bool {
    matches!(
        s.selected.as_ref().map(|r| &r.kind),
        Some(Kind::Tagged { ok: true, .. })
    )
}

/// `* OK [CLOSED]`.
fn is_closed(raw: &[u8]) -> bool {
    let upper = raw.to_ascii_uppercase();
    upper.starts_with(b"* OK [CLOSED]")
}

/// Applies a mailbox's responses to its cache and says whether it is now current (a
/// report to record) or still needs the single-mailbox catch-up (its job, handed back).
fn settle(mut s: Slot, base: &SyncOptions, started: Instant) -> std::result::Result<Done, Job> {
    let mut opts = options_for(base, s.job.name.clone());
    let view = s.cache.view();
    let (validity, modseq) = (view.uidvalidity(), view.highestmodseq());
    let traffic = Traffic {
        bytes_in: s.lines.iter().map(|(_, r)| r.raw.len() as u64 + 2).sum(),
        bytes_out: (s.select.len() + s.fetch.len() + 2 * s.tags.0.len() + 6) as u64,
        // The batch's one round trip is the listing connection's.
        round_trips: 0,
        commands: 2,
    };
    let failed = |job: Job, e: Error| {
        let report = MailboxReport {
            name: job.name,
            dir: job.dir,
            messages: 0,
            outcome: Outcome::Failed(e),
        };
        Ok((job.index, report, None))
    };
    if !selected_ok(&s) {
        // Nothing of a failed SELECT's answer is the cache's (RFC 9051 6.3.2: no mailbox
        // is selected after it); the other mailboxes go on.
        let response = s
            .selected
            .as_ref()
            .map_or_else(|| "no answer".to_string(), |r| printable(&r.raw));
        drop(s.cache);
        return failed(
            s.job,
            Error::Command {
                command: s.select,
                response,
            },
        );
    }
    let lines = std::mem::take(&mut s.lines);
    let select = format!("{} {}", s.tags.0, s.select);
    let fetch = format!("{} {}", s.tags.1, s.fetch);
    let applied = crate::tracked(&mut s.cache, |cache| {
        let Some(session) = apply(cache, &select, &fetch, lines, validity)? else {
            return Ok(None);
        };
        let view = cache.view();
        if let (Some(old), Some(now)) = (modseq, session.selected_modseq()) {
            if now < old {
                return Err(Error::Contradiction(format!(
                    "its HIGHESTMODSEQ {now} is below the cache's {old}"
                )));
            }
        }
        if !plan::wanted(&view, true)?.is_empty() {
            return Ok(None);
        }
        crate::summarize(cache, &opts, validity, Method::Qresync, traffic, 0, started).map(Some)
    });
    match applied {
        Ok(Some(summary)) => {
            let counters = counters_of(&s.cache);
            let messages = summary.messages.into();
            if let Err(e) = s.cache.close() {
                return failed(s.job, e.into());
            }
            let report = MailboxReport {
                name: s.job.name,
                dir: s.job.dir,
                messages,
                outcome: Outcome::Synced(Box::new(summary)),
            };
            Ok((s.job.index, report, counters))
        }
        Ok(None) => {
            drop(s.cache);
            Err(s.job)
        }
        Err(e @ Error::Contradiction(_)) => {
            // As the single-mailbox path does: what the cache knew is what cannot be
            // trusted. Its positions and HIGHESTMODSEQ go, and the job path resyncs.
            if let Err(e) = heal::heal(&mut s.cache, &mut opts, &e) {
                drop(s.cache);
                return failed(s.job, e);
            }
            drop(s.cache);
            Err(s.job)
        }
        // The transaction in progress was dropped: the job path tries again and, on the
        // same contradiction, heals.
        Err(e) if heal::contradicts_cache(&e) => {
            drop(s.cache);
            Err(s.job)
        }
        Err(e) => {
            drop(s.cache);
            failed(s.job, e)
        }
    }
}

/// Feeds the two commands and their responses to a fresh session over `cache` and commits
/// once; an unfinished SELECT's responses are dropped (`None`). A new UIDVALIDITY
/// (a mailbox recreated under the old name) commits nothing and returns `None`: the job
/// path then resets the cache and reports a first sync, as the single-mailbox path does.
fn apply(
    cache: &mut Cache,
    select: &str,
    fetch: &str,
    lines: Vec<(u64, Received)>,
    validity: Option<u32>,
) -> Result<Option<Session>> {
    let mut session = Session::new();
    let mut tx = cache.transaction()?;
    session.command(&mut tx, select.as_bytes())?;
    session.command(&mut tx, fetch.as_bytes())?;
    // One commit for the mailbox, not one per completion: both commands' answers are in,
    // and a crash before it leaves the cache as it was (one fsync instead of two).
    for (pos, r) in lines {
        if r.kind == Kind::Continuation {
            continue;
        }
        match session.response(&mut tx, pos, &r.raw)? {
            Step::Commit if tx.view().uidvalidity() != validity => return Ok(None),
            Step::Commit | Step::Continue => {}
            Step::Discard => return Ok(None),
        }
    }
    if session.finish() != Step::Commit || tx.view().uidvalidity() != validity {
        return Ok(None);
    }
    tx.commit()?;
    Ok(Some(session))
}
