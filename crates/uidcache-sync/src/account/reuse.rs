//! One mailbox's sync on a connection that the job keeps from mailbox to mailbox: the
//! greeting, STARTTLS, login and ENABLE are paid once per job, not once per mailbox, so a
//! changed mailbox costs its SELECT and what follows. The catch-up is the single-mailbox
//! one ([`crate::catchup::catch_up`]); a contradiction between server and cache is left to
//! [`crate::sync`], which heals on a fresh connection.

use std::time::Instant;

use uidcache_engine::Cache;
use uidcache_imap::Session;

use crate::catchup;
use crate::conn::Traffic;
use crate::error::{Error, Result};
use crate::heal;
use crate::link::Link;
use crate::options::SyncOptions;
use crate::summary::Summary;

/// What `now` adds to `then` (the counters only grow).
pub(super) fn since(now: Traffic, then: Traffic) -> Traffic {
    Traffic {
        bytes_in: now.bytes_in.saturating_sub(then.bytes_in),
        bytes_out: now.bytes_out.saturating_sub(then.bytes_out),
        round_trips: now.round_trips.saturating_sub(then.round_trips),
        commands: now.commands.saturating_sub(then.commands),
    }
}

/// Brings `cache` up to date with `opts.target.mailbox` on the job's connection `slot`
/// (made when there is none; dropped after an error). The summary's traffic is what this
/// mailbox cost on the wire, the login included when the connection was made for it.
pub(super) fn sync_on(
    slot: &mut Option<Link>,
    cache: &mut Cache,
    opts: &mut SyncOptions,
) -> Result<Summary> {
    // Counted as the changes happen, as `crate::sync` does; when the catch-up falls back to
    // `crate::sync`, that one's own count (from its fresh connection on) is the summary.
    crate::tracked(cache, |cache| sync_tracked_on(slot, cache, opts))
}

fn sync_tracked_on(
    slot: &mut Option<Link>,
    cache: &mut Cache,
    opts: &mut SyncOptions,
) -> Result<Summary> {
    let started = Instant::now();
    let before = cache.view().uidvalidity();
    let (link, from) = match slot {
        Some(l) => {
            let from = l.conn.traffic;
            (l, from)
        }
        None => (slot.insert(Link::connect(opts)?), Traffic::default()),
    };
    // A fresh session: what it knows is about the mailbox selected before.
    link.session = Session::new();
    let result = catchup::catch_up(link, cache, opts, true);
    let traffic = since(link.conn.traffic, from);
    let method = match result {
        Ok(m) => m,
        Err(e) => {
            if let Some(mut l) = slot.take() {
                l.conn.close();
            }
            return match e {
                e if heal::contradicts_cache(&e) => crate::sync(cache, opts),
                Error::Interrupted => Err(Error::Interrupted),
                e => Err(e),
            };
        }
    };
    crate::summarize(cache, opts, before, method, traffic, 0, started)
}
