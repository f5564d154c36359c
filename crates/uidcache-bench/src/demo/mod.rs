//! The demo session: a simulated IMAP server plays a mail client's session against a fresh
//! cache (random-order block fill, live changes, a compaction, offline changes and a QRESYNC
//! reconnect, a fetch of what is still unknown), then the cache is reopened and every
//! record is checked against the server's truth.
//!
//! `uidcache demo` runs it with progress bars and prints its rows; the scale test
//! (`tests/million.rs`) runs it at 1,000,000 messages and checks the reopened cache again on
//! its own. One implementation, so the program users run is the one the test covers.

mod check;
mod feed;

use std::path::Path;
use std::time::{Duration, Instant};

use uidcache_engine::{Cache, Durability, LayoutInfo, Segment, Stats};
use uidcache_imap::sim::{Rng, SimServer};
use uidcache_imap::Session;

pub use check::Summary;
use feed::Feeder;

/// Sequence numbers per `UID SEARCH RETURN (ALL) a:b` while filling the cache.
pub const BLOCK: u32 = 2048;
/// NOOPs while another client changes the mailbox, and the changes reported in each.
const NOOPS: u64 = 200;
const CHANGES_PER_NOOP: u32 = 20;
/// Offline flag changes and new messages before the reconnect.
const OFFLINE_FLAG_CHANGES: u32 = 500;
const OFFLINE_APPENDS: u32 = 100;
/// Largest `FETCH` asked for while filling the holes left by new mail.
const FETCH_MAX: u32 = 500;

/// What to play.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Messages in the mailbox at the start.
    pub messages: u32,
    /// Seed of the server and of the fill order.
    pub seed: u64,
    /// How every commit is made. Default: durable, as a mail client commits.
    pub durability: Durability,
}

impl Plan {
    /// `messages` messages, seed `seed`, durable commits.
    pub fn new(messages: u32, seed: u64) -> Plan {
        Plan {
            messages,
            seed,
            durability: Durability::Durable,
        }
    }

    /// Messages expunged while the client is offline, learned from `VANISHED (EARLIER)` on
    /// the reconnect: 1% of the mailbox, between 300 and 10,000.
    pub fn offline_expunges(&self) -> u32 {
        (self.messages / 100).clamp(300, 10_000)
    }
}

/// One finished step of the session, as the demo prints it.
#[derive(Debug, Clone)]
pub struct Row {
    /// The step.
    pub step: &'static str,
    /// What it did.
    pub detail: String,
    /// How long it took.
    pub time: Duration,
}

/// Told about the session as it goes: a progress bar for the long steps, each row when
/// its step ends. Every method does nothing by default.
pub trait Progress {
    /// A step of `steps` units begins.
    fn start(&mut self, _step: &str, _steps: u64) {}
    /// One unit of the current step is done.
    fn advance(&mut self) {}
    /// A step ended.
    fn row(&mut self, _row: &Row) {}
}

/// Progress that nobody watches (tests).
pub struct Quiet;

impl Progress for Quiet {}

/// What the session did and what the check of the reopened cache found.
pub struct Outcome {
    /// The server at the end: its `messages` are the truth the cache was checked against.
    pub server: SimServer,
    /// Every step, in order.
    pub rows: Vec<Row>,
    /// Server lines applied.
    pub responses: u64,
    /// The writer handle's counters before it was closed.
    pub stats: Stats,
    /// The layout of the reopened cache.
    pub layout: LayoutInfo,
    /// The deep check of the reopened cache: a summary, or every disagreement found.
    pub verdict: Result<Summary, Vec<String>>,
}

/// Why the session could not be played (a wrong record is not this: see
/// [`Outcome::verdict`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The engine failed.
    #[error("{context}: {source}")]
    Engine {
        /// What the demo was doing.
        context: &'static str,
        /// The engine's error (boxed: it is large, and every step returns this type).
        source: Box<uidcache_engine::Error>,
    },
    /// The session refused a line the simulated server sent.
    #[error("session: {0}")]
    Session(String),
    /// The cache could not give a QRESYNC parameter for the reconnect.
    #[error("no QRESYNC parameter: {0}")]
    Qresync(String),
}

fn engine(context: &'static str) -> impl Fn(uidcache_engine::Error) -> DemoError {
    move |source| DemoError::Engine {
        context,
        source: Box::new(source),
    }
}

/// The session under way: the server, the cache, the client's session, the rows so far.
struct Play<'a> {
    server: SimServer,
    cache: Cache,
    session: Session,
    feeder: Feeder,
    rows: Vec<Row>,
    progress: &'a mut dyn Progress,
}

impl Play<'_> {
    fn feed(&mut self, lines: &[String]) -> Result<(), DemoError> {
        self.feeder.feed(&mut self.cache, &mut self.session, lines)
    }

    fn row(&mut self, step: &'static str, detail: String, since: Instant) {
        let row = Row {
            step,
            detail,
            time: since.elapsed(),
        };
        self.progress.row(&row);
        self.rows.push(row);
    }
}

/// Plays the session in `dir` (a new or empty directory) and checks the reopened cache.
/// The cache is closed when this returns, so the files can be checked (uidcache-fsck).
pub fn run(dir: &Path, plan: &Plan, progress: &mut dyn Progress) -> Result<Outcome, DemoError> {
    let mut rng = Rng::new(plan.seed ^ 0x5eed);
    let mut play = Play {
        server: SimServer::new(plan.seed, plan.messages),
        cache: Cache::open(dir).map_err(engine("open"))?,
        session: Session::new(),
        feeder: Feeder {
            responses: 0,
            durability: plan.durability,
        },
        rows: Vec::new(),
        progress,
    };
    select(&mut play)?;
    fill(&mut play, &mut rng)?;
    live_changes(&mut play)?;
    compact(&mut play)?;
    reconnect(&mut play, plan)?;
    fetch_unknown(&mut play)?;

    let Play {
        server,
        cache,
        feeder,
        mut rows,
        progress,
        ..
    } = play;
    let stats = cache.stats();
    let t = Instant::now();
    cache.close().map_err(engine("close"))?;
    let cache = Cache::open(dir).map_err(engine("reopen"))?;
    let layout = cache.layout();
    let verdict = check::deep_check(&cache, &server);
    cache.close().map_err(engine("close"))?;
    let row = Row {
        step: "reopen and deep check",
        detail: format!("{} records", layout.placed_records),
        time: t.elapsed(),
    };
    progress.row(&row);
    rows.push(row);
    Ok(Outcome {
        server,
        rows,
        responses: feeder.responses,
        stats,
        layout,
        verdict,
    })
}

/// Connect and select.
fn select(play: &mut Play<'_>) -> Result<(), DemoError> {
    let t = Instant::now();
    let mut lines = Vec::new();
    play.server.connect(&mut lines, "a", false);
    play.server.select(&mut lines, "a3", None);
    play.feed(&lines)?;
    let detail = format!("{} EXISTS", play.server.messages.len());
    play.row("select", detail, t);
    Ok(())
}

/// Fill positions with `UID SEARCH RETURN (ALL)` over blocks in random order.
fn fill(play: &mut Play<'_>, rng: &mut Rng) -> Result<(), DemoError> {
    let t = Instant::now();
    let blocks = play.server.messages.len().div_ceil(BLOCK as usize) as u32;
    let mut order: Vec<u32> = (0..blocks).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    play.progress
        .start("fill (random-order blocks)", u64::from(blocks));
    for (k, b) in order.iter().enumerate() {
        let mut lines = Vec::new();
        let a = b * BLOCK + 1;
        play.server.uid_search(
            &mut lines,
            &format!("f{k}"),
            a,
            Some(a + BLOCK - 1),
            true,
            false,
        );
        play.feed(&lines)?;
        play.progress.advance();
    }
    let messages = play.server.messages.len() as f64;
    let rate = messages / t.elapsed().as_secs_f64().max(1e-9);
    play.row(
        "fill",
        format!("{blocks} searches of {BLOCK} ({rate:.0} messages/s)"),
        t,
    );
    Ok(())
}

/// Another client changes flags, expunges and delivers while this one idles with NOOPs.
fn live_changes(play: &mut Play<'_>) -> Result<(), DemoError> {
    let t = Instant::now();
    play.progress.start("flag changes and expunges", NOOPS);
    for k in 0..NOOPS {
        let mut lines = Vec::new();
        play.server
            .noop(&mut lines, &format!("n{k}"), CHANGES_PER_NOOP);
        play.feed(&lines)?;
        play.progress.advance();
    }
    let mut lines = Vec::new();
    play.server.logout(&mut lines, "a9");
    play.feed(&lines)?;
    play.row(
        "live changes",
        format!("{NOOPS} NOOPs with {CHANGES_PER_NOOP} unsolicited changes each"),
        t,
    );
    Ok(())
}

/// Folds the fill's many small blocks, so that the reconnect's changes land on folded ones.
fn compact(play: &mut Play<'_>) -> Result<(), DemoError> {
    let t = Instant::now();
    let done = play.cache.compact().map_err(engine("compact"))?;
    play.row(
        "compact",
        format!(
            "{} blocks written, {} records rewritten",
            done.blocks_written, done.records_rewritten
        ),
        t,
    );
    Ok(())
}

/// Offline changes, then a reconnect with QRESYNC.
fn reconnect(play: &mut Play<'_>, plan: &Plan) -> Result<(), DemoError> {
    for _ in 0..OFFLINE_FLAG_CHANGES {
        play.server.change_flags_one(None);
    }
    expunge_offline(&mut play.server, plan.offline_expunges());
    play.server.append(OFFLINE_APPENDS);
    let t = Instant::now();
    let view = play.cache.view();
    let param = uidcache_imap::qresync_param(&view)
        .map_err(|e| DemoError::Qresync(e.to_string()))?
        .ok_or_else(|| DemoError::Qresync("UIDVALIDITY or HIGHESTMODSEQ unknown".into()))?;
    let (uidvalidity, modseq) = (
        view.uidvalidity().unwrap_or(0),
        view.highestmodseq().unwrap_or(0),
    );
    play.session = Session::new();
    let mut lines = Vec::new();
    play.server.connect(&mut lines, "b", true);
    play.server
        .select(&mut lines, "b3", Some((&param, uidvalidity, modseq)));
    play.feed(&lines)?;
    play.row(
        "reconnect with QRESYNC",
        format!(
            "{} response lines ({OFFLINE_FLAG_CHANGES} flag changes, {} expunges, {OFFLINE_APPENDS} new offline)",
            lines.len(),
            plan.offline_expunges()
        ),
        t,
    );
    Ok(())
}

/// Another client expunges `n` random messages while this one is offline: what `n` calls
/// of `SimServer::expunge_silently` do, in one pass over the mailbox (a `Vec::remove` each
/// moves gigabytes at a million messages and took a minute).
fn expunge_offline(server: &mut SimServer, n: u32) {
    let len = server.messages.len();
    let mut gone = vec![false; len];
    let mut left = (n as usize).min(len.saturating_sub(server.held.len()));
    while left > 0 {
        let i = server.rng.below(len as u64) as usize;
        let Some(m) = server.messages.get(i) else {
            break;
        };
        let held = server.held.iter().any(|(uid, _)| *uid == m.uid);
        if let Some(slot) = gone.get_mut(i).filter(|g| !**g && !held) {
            *slot = true;
            left -= 1;
        }
    }
    let mut k = 0;
    server.messages.retain(|m| {
        let keep = !gone.get(k).copied().unwrap_or(false);
        k += 1;
        if !keep {
            server.modseq += 1;
            server.expunged.push((m.uid, server.modseq));
        }
        keep
    });
}

/// Fetch what is still unknown (the new tail), as a client would.
fn fetch_unknown(play: &mut Play<'_>) -> Result<(), DemoError> {
    let t = Instant::now();
    let mut fetched = 0;
    loop {
        let view = play.cache.view();
        let hole = view.segments().into_iter().find_map(|s| match s {
            Segment::Hole(a, _) => Some(a),
            Segment::Known(..) => None,
        });
        let Some(range) = hole.and_then(|a| view.fetch_plan(a, FETCH_MAX)) else {
            break;
        };
        let mut lines = Vec::new();
        play.server.fetch(
            &mut lines,
            &format!("t{fetched}"),
            *range.start(),
            *range.end(),
        );
        fetched += 1;
        play.feed(&lines)?;
    }
    play.row(
        "fetch unknown positions",
        format!("{fetched} FETCH commands"),
        t,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "a test: a panic is a failure report"
    )]

    use super::*;

    fn small(dir: &Path) -> Outcome {
        let plan = Plan {
            durability: Durability::NoSync,
            ..Plan::new(5_000, 3)
        };
        run(dir, &plan, &mut Quiet).unwrap()
    }

    #[test]
    fn a_small_session_ends_with_every_position_known_and_right() {
        let dir = tempfile::tempdir().unwrap();
        let outcome = small(dir.path());
        let summary = outcome.verdict.unwrap();
        assert_eq!(summary.count as usize, outcome.server.messages.len());
        assert_eq!(
            (summary.placed, summary.unplaced),
            (u64::from(summary.count), 0)
        );
        assert_eq!(outcome.layout.placed_records, summary.placed);
        assert!(outcome.stats.compactions >= 1);
    }

    #[test]
    fn the_deep_check_reports_a_wrong_record() {
        let dir = tempfile::tempdir().unwrap();
        let outcome = small(dir.path());
        let mut cache = Cache::open(dir.path()).unwrap();
        let truth = outcome.server.messages.first().unwrap().modseq;
        let mut tx = cache.transaction().unwrap();
        let update = uidcache_engine::Update {
            flags: None,
            modseq: Some(truth + 1),
        };
        tx.update_seq(1, update).unwrap();
        tx.commit().unwrap();
        let problems = check::deep_check(&cache, &outcome.server).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("MODSEQ"), "{problems:?}");
    }
}
