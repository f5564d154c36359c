//! Keeping a whole account current: after a first round, one connection waits for news —
//! NOTIFY (RFC 5465) where offered, else IDLE on INBOX, else nothing but the clock — and
//! every change it hears of, and every `poll` interval, brings a LIST-STATUS round that
//! syncs what is behind. Ctrl-C ends with one last round that is not interruptible, so every
//! cache is exactly current when it returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Kind};
use crate::error::{Error, Result};
use crate::link::Link;

use super::check::{check_on, connect, logout};
use super::listing::exchange;
use super::run::sync_plan;
use super::{Account, AccountOptions, AccountSummary};

/// How long the wait reads before checking the clock and Ctrl-C.
const TICK: Duration = Duration::from_millis(300);
/// RFC 2177: IDLE is renewed well within 29 minutes.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How the waiting connection hears of changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ear {
    Notify,
    Idle,
    Clock,
}

pub(super) fn watch(account: &mut Account, opts: &mut AccountOptions) -> Result<AccountSummary> {
    let started = Instant::now();
    let mut last = account.sync(opts)?;
    if last.interrupted {
        // Stopped during the first round (a long first sync): what was learned is
        // committed, and the user asked to stop, not to finish it.
        return Ok(last);
    }
    let mut traffic = last.traffic;
    let mut backoff = Duration::from_secs(1);
    while !opts.sync.interrupt.load(Ordering::Relaxed) {
        match rounds(account, opts, &mut traffic, &mut last) {
            Ok(()) => break,
            Err(e) if e.is_transient() => {
                say(
                    opts,
                    &format!(
                        "connection lost ({e}); reconnecting in {} s",
                        backoff.as_secs()
                    ),
                );
                if sleep(&opts.sync.interrupt, backoff) {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
    // The last round runs to the end whatever the user presses next (a second Ctrl-C in
    // the command exits at once; what was committed stays).
    let user = std::mem::replace(&mut opts.sync.interrupt, Arc::new(AtomicBool::new(false)));
    let result = account.sync(opts);
    opts.sync.interrupt = user;
    let mut summary = result?;
    traffic.add(summary.traffic);
    summary.traffic = traffic;
    summary.elapsed = started.elapsed();
    summary.interrupted = false;
    Ok(summary)
}

fn say(opts: &mut AccountOptions, text: &str) {
    if let Some(f) = opts.sync.on_event.as_mut() {
        f(text);
    }
}

/// Sleeps `d`, waking early on Ctrl-C (then returns true).
fn sleep(flag: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if flag.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(TICK.min(end - Instant::now()));
    }
    flag.load(Ordering::Relaxed)
}

/// On one connection: wait, then a round, until Ctrl-C.
fn rounds(
    account: &mut Account,
    opts: &mut AccountOptions,
    traffic: &mut crate::Traffic,
    last: &mut AccountSummary,
) -> Result<()> {
    let mut link = connect(opts)?;
    let result = listen(account, opts, traffic, last, &mut link);
    match &result {
        Ok(()) => logout(&mut link.conn),
        Err(_) => link.conn.close(),
    }
    traffic.add(link.conn.traffic);
    result
}

fn listen(
    account: &mut Account,
    opts: &mut AccountOptions,
    traffic: &mut crate::Traffic,
    last: &mut AccountSummary,
    link: &mut Link,
) -> Result<()> {
    let conn = &mut link.conn;
    let mut ear = Ear::Clock;
    if conn.has("NOTIFY") {
        let set = "NOTIFY SET (personal (MessageNew MessageExpunge FlagChange MailboxName))";
        if exchange(conn, vec![set.to_string()], true).is_ok() {
            ear = Ear::Notify;
        }
    }
    if ear == Ear::Clock && conn.has("IDLE") {
        exchange(conn, vec!["EXAMINE INBOX".to_string()], true)?;
        ear = Ear::Idle;
    }
    let how = match ear {
        Ear::Notify => "NOTIFY",
        Ear::Idle => "IDLE on INBOX",
        Ear::Clock => "polling",
    };
    say(
        opts,
        &format!(
            "watching the account ({how}, a LIST-STATUS round every {} s)",
            opts.sync.poll.as_secs()
        ),
    );
    loop {
        let heard = wait(conn, ear, opts.sync.poll, &opts.sync.interrupt)?;
        if opts.sync.interrupt.load(Ordering::Relaxed) {
            return Ok(());
        }
        let started = Instant::now();
        let (plan, _) = check_on(account, opts, conn, false)?;
        let behind = plan.mailboxes.iter().filter(|p| p.behind.is_some()).count();
        let summary = sync_plan(account, opts, plan, started, None)?;
        // The mailboxes' connections; this one's is counted when it closes.
        traffic.add(summary.traffic);
        if behind > 0 || heard {
            say(
                opts,
                &format!(
                    "{behind} mailboxes behind; synced ({} failed)",
                    summary.failures()
                ),
            );
        }
        *last = summary;
    }
}

/// Waits until the server tells of a change (true), `poll` passes or Ctrl-C (false).
fn wait(conn: &mut Conn, ear: Ear, poll: Duration, interrupt: &AtomicBool) -> Result<bool> {
    let started = Instant::now();
    let limit = if ear == Ear::Idle {
        poll.min(IDLE_RENEW)
    } else {
        poll
    };
    let mut tag = None;
    if ear == Ear::Idle {
        let t = conn.send("IDLE", None)?;
        loop {
            let r = conn
                .read(None)?
                .ok_or_else(|| Error::Closed(String::new()))?;
            match r.kind {
                Kind::Continuation => break,
                Kind::Tagged { ok: false, .. } => {
                    return Err(Error::Command {
                        command: "IDLE".into(),
                        response: crate::error::printable(&r.raw),
                    })
                }
                _ => {}
            }
        }
        tag = Some(t);
    }
    let mut heard = false;
    while !heard && started.elapsed() < limit && !interrupt.load(Ordering::Relaxed) {
        match conn.read(Some(TICK))? {
            Some(r) if r.kind == Kind::Bye => {
                return Err(Error::Closed(format!(
                    ": {}",
                    crate::error::printable(&r.raw)
                )))
            }
            Some(r) if r.kind == Kind::Untagged => heard = true,
            _ => {}
        }
    }
    if heard {
        // Changes come in bursts: let the burst end before the round.
        while conn.read(Some(TICK))?.is_some() {}
    }
    if let Some(t) = tag {
        conn.send_raw("DONE")?;
        loop {
            let r = conn
                .read(None)?
                .ok_or_else(|| Error::Closed(String::new()))?;
            if matches!(&r.kind, Kind::Tagged { tag, .. } if *tag == t) {
                break;
            }
        }
    }
    Ok(heard)
}
