//! `--watch`: stay connected and apply changes as the server announces them (IDLE, or NOOP
//! polling), reconnecting with backoff when the connection is lost.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use uidcache_engine::{Cache, Segment};

use crate::catchup::{catch_up, fill, Method};
use crate::conn::{Kind, Traffic};
use crate::error::{printable, Error, Result};
use crate::event;
use crate::heal;
use crate::link::Link;
use crate::options::SyncOptions;

/// RFC 2177: re-issue IDLE at least every 29 minutes so that the server does not log us out.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// How long a quiet IDLE waits before committing what arrived and checking for Ctrl-C.
const QUIET: Duration = Duration::from_millis(300);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Totals carried across reconnects.
#[derive(Default)]
pub(crate) struct Totals {
    pub traffic: Traffic,
    pub reconnects: u32,
    pub method: Option<Method>,
    pub healed: Option<String>,
}

/// Runs until interrupted; returns the totals. Errors that reconnecting cannot cure (login
/// refused, the mailbox missing, a broken cache) end it.
pub(crate) fn watch(cache: &mut Cache, opts: &mut SyncOptions, totals: &mut Totals) -> Result<()> {
    let mut backoff = Duration::from_secs(1);
    let mut first = true;
    let mut healed_last = false;
    loop {
        if !first {
            totals.reconnects += 1;
        }
        first = false;
        let mut link = None;
        let result = connected(cache, opts, totals, &mut link, &mut backoff);
        if !matches!(&result, Err(e) if heal::contradicts_cache(e)) {
            healed_last = false;
        }
        if let Some(mut l) = link {
            if let (Err(e), Some(t)) = (&result, l.conn.transcript.as_mut()) {
                t.note(&format!("connection lost: {e}"))?;
            }
            l.conn.close();
            totals.traffic.add(l.conn.traffic);
        }
        let healing = matches!(&result, Err(e) if heal::contradicts_cache(e));
        match result {
            Ok(()) => return Ok(()),
            // Once per contradiction: right after a heal, the server contradicts itself.
            Err(e) if healing && !healed_last => {
                totals.healed = Some(heal::heal(cache, opts, &e)?);
                healed_last = true;
                continue;
            }
            Err(e) if e.is_transient() && !opts.interrupt.load(Ordering::Relaxed) => {
                event(
                    opts,
                    &format!(
                        "connection lost ({e}); reconnecting in {} s",
                        backoff.as_secs()
                    ),
                );
                if sleep(opts, backoff) {
                    return Ok(());
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(Error::Interrupted) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps `d`, waking early on Ctrl-C (then returns true).
fn sleep(opts: &SyncOptions, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if opts.interrupt.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100).min(end - Instant::now()));
    }
    opts.interrupt.load(Ordering::Relaxed)
}

fn connected(
    cache: &mut Cache,
    opts: &mut SyncOptions,
    totals: &mut Totals,
    slot: &mut Option<Link>,
    backoff: &mut Duration,
) -> Result<()> {
    let link = slot.insert(Link::connect(opts)?);
    totals.method = Some(catch_up(link, cache, opts, true)?);
    *backoff = Duration::from_secs(1);
    event(
        opts,
        &format!(
            "watching {} messages ({})",
            cache.view().exists().unwrap_or(0),
            if link.conn.has("IDLE") {
                "IDLE"
            } else {
                "NOOP polling"
            }
        ),
    );
    let flags = !opts.uids_only;
    loop {
        if opts.interrupt.load(Ordering::Relaxed) {
            // Leave with the cache exactly current: a last SELECT brings UIDNEXT and
            // HIGHESTMODSEQ. With QRESYNC or CONDSTORE that costs a round trip or three;
            // without either it would refetch every message's flags, so UIDNEXT is left
            // as the last SELECT reported it.
            if link.qresync_enabled || link.conn.has("CONDSTORE") {
                catch_up(link, cache, opts, false)?;
            }
            link.logout(cache);
            return Ok(());
        }
        if link.conn.has("IDLE") {
            idle(link, cache, opts)?;
        } else {
            if sleep(opts, opts.poll) {
                continue;
            }
            link.run(cache, vec!["NOOP".to_string()], 1, false, &mut |_| {})?;
        }
        fill(link, cache, opts, flags, false)?;
    }
}

/// One IDLE: until Ctrl-C, new messages to learn, or the renewal time. What arrives is
/// committed whenever the server goes quiet.
fn idle(link: &mut Link, cache: &mut Cache, opts: &mut SyncOptions) -> Result<()> {
    let mut tx = cache.transaction()?;
    let tag = link.conn.send("IDLE", None)?;
    link.session
        .command(&mut tx, format!("{tag} IDLE").as_bytes())?;
    loop {
        let r = link
            .conn
            .read(None)?
            .ok_or_else(|| Error::Closed(String::new()))?;
        match &r.kind {
            Kind::Continuation => break,
            Kind::Tagged { tag: t, ok } if *t == tag => {
                let _ = link.apply(&mut tx, &r)?;
                link.commit(tx)?;
                return if *ok {
                    Ok(())
                } else {
                    Err(Error::Command {
                        command: "IDLE".into(),
                        response: printable(&r.raw),
                    })
                };
            }
            _ => {
                let _ = link.apply(&mut tx, &r)?;
            }
        }
    }
    let started = Instant::now();
    let mut applied = 0u64;
    loop {
        match link.conn.read(Some(QUIET))? {
            Some(r) => {
                let _ = link.apply(&mut tx, &r)?;
                applied += 1;
            }
            None => {
                let missing = tx
                    .view()
                    .segments()
                    .iter()
                    .any(|s| matches!(s, Segment::Hole(..)));
                if applied > 0 {
                    link.commit(tx)?;
                    event(opts, &format!("applied {applied} responses"));
                    applied = 0;
                    tx = cache.transaction()?;
                }
                if missing
                    || opts.interrupt.load(Ordering::Relaxed)
                    || started.elapsed() > IDLE_RENEW
                {
                    break;
                }
            }
        }
    }
    link.conn.send_raw("DONE")?;
    loop {
        let r = link
            .conn
            .read(None)?
            .ok_or_else(|| Error::Closed(String::new()))?;
        let _ = link.apply(&mut tx, &r)?;
        if matches!(&r.kind, Kind::Tagged { tag: t, .. } if *t == tag) {
            break;
        }
    }
    link.commit(tx)
}
