//! Syncing the mailboxes that are behind over several connections at once: `jobs`
//! threads take mailboxes from one queue, each running [`crate::sync`] on its cache. A
//! mailbox that fails is reported and the thread takes the next one.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Instant;

use uidcache_engine::{Cache, OpenOptions};

use crate::error::{Error, Result};
use crate::options::SyncOptions;
use crate::url::Target;
use crate::utf7;

use super::batch;
use super::check::{check_open, counters_of, logout};
use super::file::{self, Counters};
use super::reuse::{since, sync_on};
use super::{Account, AccountOptions, AccountSummary, MailboxReport, Outcome, Plan, MAILBOXES};
use crate::conn::Traffic;
use crate::link::Link;

/// One mailbox to sync: its index in the plan, decoded name, wire name and cache.
pub(super) struct Job {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) raw: Vec<u8>,
    pub(super) dir: PathBuf,
    /// The server's UIDNEXT from the listing, when STATUS gave it.
    pub(super) uidnext: Option<u32>,
}

/// What a job sends back: the report, and the counters to record (a completed sync).
pub(super) type Done = (usize, MailboxReport, Option<Counters>);

/// What the jobs tell the collecting thread.
enum Msg {
    /// A mailbox is done.
    Done(Done),
    /// A job ended: its LOGOUT's traffic, and the round trips of all its mailboxes and
    /// its LOGOUT (its part of the critical path).
    Closed(Traffic, u64),
}

pub(super) fn sync(account: &mut Account, opts: &mut AccountOptions) -> Result<AccountSummary> {
    let started = Instant::now();
    let (plan, listing) = check_open(account, opts)?;
    sync_plan(account, opts, plan, started, Some(listing))
}

/// Syncs what `plan` says is behind; records completed syncs in the account file. With
/// `listing` (the connection that listed, still logged in), a few changed mailboxes are
/// caught up on it in one pipelined batch ([`batch`]) before it logs out, and only the
/// rest needs job connections; the plan's traffic is then that connection's.
pub(super) fn sync_plan(
    account: &mut Account,
    opts: &mut AccountOptions,
    plan: Plan,
    started: Instant,
    listing: Option<Link>,
) -> Result<AccountSummary> {
    let boxes = account.dir.join(MAILBOXES);
    let mut reports: Vec<Option<MailboxReport>> = Vec::new();
    let mut queue = VecDeque::new();
    for (index, p) in plan.mailboxes.iter().enumerate() {
        let dir = boxes.join(&p.entry.dir);
        if p.behind.is_some() {
            queue.push_back(Job {
                index,
                name: p.entry.name.clone(),
                raw: p.entry.raw.clone(),
                dir,
                uidnext: p.status.map(|s| s.uidnext),
            });
            reports.push(None);
        } else {
            reports.push(Some(MailboxReport {
                name: p.entry.name.clone(),
                dir,
                messages: p.status.map_or(0, |s| u64::from(s.messages)),
                outcome: Outcome::Unchanged,
            }));
        }
    }
    let total = queue.len();
    let mut finished = 0;
    let mut recorded: Vec<(usize, Option<Counters>)> = Vec::new();
    let mut traffic = plan.traffic;
    if let Some(mut link) = listing {
        if queue.len() <= batch::MAX_BATCH {
            let b = batch::run(&mut link, &opts.sync, queue.drain(..).collect(), opts.jobs);
            queue.extend(b.left);
            for (index, report, counters) in b.done {
                // Its traffic is the listing connection's, counted below.
                finished += 1;
                if let Some(f) = opts.on_mailbox.as_mut() {
                    f(&report, finished, total);
                }
                recorded.push((index, counters));
                if let Some(slot) = reports.get_mut(index) {
                    *slot = Some(report);
                }
            }
        }
        logout(&mut link.conn);
        traffic = link.conn.traffic;
    }
    // The listing connection ends before the jobs start: the critical path is its round
    // trips plus the longest job's.
    let listing_trips = traffic.round_trips;
    let mut longest_job = 0;
    let jobs = opts.jobs.clamp(1, queue.len().max(1));
    let idle = queue.is_empty();
    let queue = Mutex::new(queue);
    let (tx, rx) = mpsc::channel::<Msg>();
    let base = &opts.sync;
    let on_mailbox = &mut opts.on_mailbox;
    std::thread::scope(|scope| {
        for n in 1..=if idle { 0 } else { jobs } {
            let tx = tx.clone();
            let queue = &queue;
            // Each thread its own copy: the callbacks in the caller's options are not Sync.
            let mut base = options_for(base, String::new());
            base.transcript = base.transcript.map(|path| numbered(path, n));
            scope.spawn(move || {
                let mut link: Option<Link> = None;
                let mut mine = 0;
                while !base.interrupt.load(Ordering::Relaxed) {
                    let job = match queue.lock() {
                        Ok(mut q) => q.pop_front(),
                        Err(_) => None,
                    };
                    let Some(job) = job else { break };
                    let done = sync_one(&base, &mut link, job);
                    if let Outcome::Synced(s) = &done.1.outcome {
                        mine += s.traffic.round_trips;
                    }
                    if tx.send(Msg::Done(done)).is_err() {
                        break;
                    }
                }
                let mut last = Traffic::default();
                if let Some(mut l) = link {
                    let before = l.conn.traffic;
                    logout(&mut l.conn);
                    last = since(l.conn.traffic, before);
                }
                let _ = tx.send(Msg::Closed(last, mine + last.round_trips));
            });
        }
        drop(tx);
        for msg in rx {
            let (index, report, counters) = match msg {
                Msg::Done(d) => d,
                Msg::Closed(t, trips) => {
                    traffic.add(t);
                    longest_job = longest_job.max(trips);
                    continue;
                }
            };
            finished += 1;
            if let Outcome::Synced(s) = &report.outcome {
                traffic.add(s.traffic);
            }
            if let Some(f) = on_mailbox.as_mut() {
                f(&report, finished, total);
            }
            recorded.push((index, counters));
            if let Some(slot) = reports.get_mut(index) {
                *slot = Some(report);
            }
        }
    });
    let interrupted = opts.sync.interrupt.load(Ordering::Relaxed);
    // Record what completed; a failed or unfinished mailbox loses its counters, so that
    // nothing claims it current until a sync of it completes.
    for (index, counters) in recorded {
        if let Some(p) = plan.mailboxes.get(index) {
            set_synced(account, &p.entry.raw, counters);
        }
    }
    for (p, r) in plan.mailboxes.iter().zip(&reports) {
        if r.is_none() {
            set_synced(account, &p.entry.raw, None);
        }
    }
    file::write(&account.dir, &account.entries)?;
    let mailboxes = reports
        .into_iter()
        .zip(&plan.mailboxes)
        .map(|(r, p)| {
            r.unwrap_or_else(|| MailboxReport {
                name: p.entry.name.clone(),
                dir: boxes.join(&p.entry.dir),
                messages: 0,
                outcome: Outcome::Failed(Error::Interrupted),
            })
        })
        .collect();
    Ok(AccountSummary {
        mailboxes,
        renamed: plan.renamed,
        removed: plan.removed,
        traffic,
        login_round_trips: plan.login_round_trips,
        critical_round_trips: listing_trips + longest_job,
        interrupted,
        elapsed: started.elapsed(),
    })
}

fn set_synced(account: &mut Account, raw: &[u8], counters: Option<Counters>) {
    if let Some(e) = account.entries.iter_mut().find(|e| e.raw == raw) {
        e.synced = counters;
    }
}

/// The options of one mailbox's sync: `base`'s, for this mailbox, without callbacks.
pub(super) fn options_for(base: &SyncOptions, name: String) -> SyncOptions {
    let target = Target {
        mailbox: name,
        ..base.target.clone()
    };
    let mut o = SyncOptions::new(target, base.password.clone());
    o.login = base.login.clone();
    o.ca_file.clone_from(&base.ca_file);
    o.allow_plaintext = base.allow_plaintext;
    o.uids_only = base.uids_only;
    o.resync = base.resync;
    o.block = base.block;
    o.pipeline = base.pipeline;
    o.durability = base.durability;
    o.poll = base.poll;
    o.interrupt = std::sync::Arc::clone(&base.interrupt);
    o.transcript.clone_from(&base.transcript);
    o
}

/// `path.n`: job connection `n`'s transcript.
fn numbered(path: PathBuf, n: usize) -> PathBuf {
    let mut name = path.into_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn sync_one(base: &SyncOptions, link: &mut Option<Link>, job: Job) -> Done {
    let failed = |e: Error| {
        (
            job.index,
            MailboxReport {
                name: job.name.clone(),
                dir: job.dir.clone(),
                messages: 0,
                outcome: Outcome::Failed(e),
            },
            None,
        )
    };
    // `sync` names the mailbox in UTF-8 and encodes it again: only a wire name that comes
    // back the same can be reached that way.
    let reachable = std::str::from_utf8(&job.raw)
        .ok()
        .and_then(utf7::decode)
        .filter(|n| crate::mailbox::modified_utf7(n).as_bytes() == job.raw.as_slice());
    let Some(name) = reachable else {
        return failed(Error::Server(format!(
            "the mailbox name {:?} is not in canonical modified UTF-7",
            String::from_utf8_lossy(&job.raw)
        )));
    };
    let mut opts = options_for(base, name);
    let mut cache = match Cache::open_with(&job.dir, OpenOptions::new().durability(base.durability))
    {
        Ok(c) => c,
        Err(e) => return failed(e.into()),
    };
    match sync_on(link, &mut cache, &mut opts) {
        Ok(summary) => {
            let counters = counters_of(&cache);
            let messages = summary.messages.into();
            if let Err(e) = cache.close() {
                return failed(e.into());
            }
            (
                job.index,
                MailboxReport {
                    name: job.name,
                    dir: job.dir,
                    messages,
                    outcome: Outcome::Synced(Box::new(summary)),
                },
                counters,
            )
        }
        Err(e) => failed(e),
    }
}
