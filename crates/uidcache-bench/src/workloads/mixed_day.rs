//! `mixed_day` and `mixed_day_durable` (issue 12): a day of a large mailbox in one seeded
//! sequence, the same for every peer: appends in small batches, flag changes (single and
//! ranges), expunges (single and ranges), a reopen (drop + open), the reconnect's
//! VANISHED (EARLIER) of ~1% with the flag catch-up, then more of the day. Each step is one
//! commit, so the latency of each commit is what a client's UI would wait for; the slowest
//! is the headline figure.

use super::timing::{each, Entry};
use super::Bench;
use crate::peers::Peer;
use crate::BenchError;

/// Steps of the day's ordinary traffic per message of the mailbox: 500 at 1M, 5,000 at 10M.
const MESSAGES_PER_STEP: u32 = 2_000;
/// Fewest and most ordinary steps, whatever the mailbox size.
const STEPS: (u32, u32) = (100, 5_000);
/// Flag changes of the catch-up per commit, as FETCH responses are applied in batches.
const CATCH_UP_BATCH: usize = 1_000;

/// One commit's worth of the day (or the reopen between two commits).
enum Step {
    /// New messages at `seq..`, announced by one EXISTS.
    Append { seq: u32, uids: Vec<u32> },
    /// The same flags on `len` messages from `seq` (a STORE on a range, or one message).
    Flags { seq: u32, len: u32, flags: u32 },
    /// `len` messages from `seq` expunged (the server's `* seq EXPUNGE` repeated).
    Expunge { seq: u32, len: u32 },
    /// The handle dropped and opened again (the app restarted).
    Reopen,
    /// `* VANISHED (EARLIER)` of these UIDs, one response, one commit.
    Vanished(Vec<u32>),
    /// The flag changes a reconnect fetches, by sequence number.
    CatchUp(Vec<u32>),
}

impl Step {
    /// The label of the commit, as the report names the slowest one.
    fn label(&self) -> &'static str {
        match self {
            Step::Append { .. } => "append",
            Step::Flags { len: 1, .. } => "flags",
            Step::Flags { .. } => "flag range",
            Step::Expunge { len: 1, .. } => "expunge",
            Step::Expunge { .. } => "expunge range",
            Step::Reopen => "reopen",
            Step::Vanished(_) => "vanished",
            Step::CatchUp(_) => "flag catch-up",
        }
    }
}

/// `mixed_day` with no-sync commits, then `mixed_day_durable` (fsync per commit) on the
/// mailbox the first left.
pub(super) fn mixed_days(b: &mut Bench) -> Result<(), BenchError> {
    for (workload, durable) in [("mixed_day", false), ("mixed_day_durable", true)] {
        let (steps, modseq) = plan(b);
        each(
            &mut b.entries,
            &mut b.report,
            (workload, Some(durable)),
            |e| play(e, &steps, modseq, durable),
        )?;
    }
    Ok(())
}

/// The day, drawn from the bench's generator; `b.uids` follows it, so it ends as every
/// peer's mailbox should. Returns the steps and the first MODSEQ they use.
fn plan(b: &mut Bench) -> (Vec<Step>, u64) {
    let modseq = b.modseq;
    let ordinary = (b.exists() / MESSAGES_PER_STEP).clamp(STEPS.0, STEPS.1);
    let mut steps = Vec::new();
    for i in 0..ordinary {
        if i == ordinary / 2 {
            steps.push(Step::Reopen);
            steps.push(vanished(b));
            steps.extend(catch_up(b));
        }
        steps.push(ordinary_step(b));
    }
    (steps, modseq)
}

/// One step of the day's ordinary traffic.
fn ordinary_step(b: &mut Bench) -> Step {
    let exists = b.exists();
    let last_uid = b.uids.last().copied().unwrap_or(0);
    let at = |b: &mut Bench| 1 + b.rng.below(u64::from(exists)) as u32;
    match b.rng.below(100) {
        0..40 => {
            let count = 1 + b.rng.below(5) as u32;
            let mut uid = last_uid;
            let uids: Vec<u32> = (0..count)
                .map(|_| {
                    uid += 1 + b.rng.below(2) as u32;
                    uid
                })
                .collect();
            b.uids.extend_from_slice(&uids);
            b.next = b.next.max(uid);
            Step::Append {
                seq: exists + 1,
                uids,
            }
        }
        roll @ 40..75 => {
            let seq = at(b);
            let len = if roll < 65 {
                1
            } else {
                (2 + b.rng.below(199) as u32).min(exists - seq + 1)
            };
            let flags = b.rng.below(4) as u32;
            b.modseq += u64::from(len);
            Step::Flags { seq, len, flags }
        }
        roll => {
            let seq = at(b);
            let len = if roll < 90 {
                1
            } else {
                (2 + b.rng.below(49) as u32).min(exists - seq + 1)
            };
            b.uids.drain(seq as usize - 1..(seq + len) as usize - 1);
            Step::Expunge { seq, len }
        }
    }
}

/// ~1% of the UIDs, sorted, as a VANISHED (EARLIER) set names them.
fn vanished(b: &mut Bench) -> Step {
    let uids = b.vanishing((b.exists() / 100).max(1) as usize);
    b.uids.retain(|u| uids.binary_search(u).is_err());
    Step::Vanished(uids)
}

/// Flag changes on ~1% of the messages, in commits of [`CATCH_UP_BATCH`].
fn catch_up(b: &mut Bench) -> Vec<Step> {
    let exists = b.exists();
    let seqs: Vec<u32> = (0..(exists / 100).max(1))
        .map(|_| 1 + b.rng.below(u64::from(exists)) as u32)
        .collect();
    b.modseq += seqs.len() as u64;
    seqs.chunks(CATCH_UP_BATCH)
        .map(|c| Step::CatchUp(c.to_vec()))
        .collect()
}

/// The day on one peer, a commit per step; `durable` is the reopen's durability.
fn play(e: &mut Entry, steps: &[Step], first_modseq: u64, durable: bool) -> Result<(), BenchError> {
    let mut modseq = first_modseq;
    for step in steps {
        if let Step::Reopen = step {
            e.reopen(durable)?;
            continue;
        }
        let p = e.peer()?;
        p.label(step.label());
        match step {
            Step::Append { seq, uids } => {
                p.set_exists(seq + uids.len() as u32 - 1)?;
                p.learn_range(*seq, uids)?;
            }
            Step::Flags { seq, len, flags } => {
                for s in *seq..seq + len {
                    p.set_flags(s, *flags, modseq)?;
                    modseq += 1;
                }
            }
            Step::Expunge { seq, len } => {
                for _ in 0..*len {
                    p.expunge(*seq)?;
                }
            }
            Step::Vanished(uids) => {
                for uid in uids {
                    p.remove_uid(*uid)?;
                }
            }
            Step::CatchUp(seqs) => {
                for s in seqs {
                    p.set_flags(*s, 1, modseq)?;
                    modseq += 1;
                }
            }
            Step::Reopen => {}
        }
        p.commit()?;
    }
    Ok(())
}
