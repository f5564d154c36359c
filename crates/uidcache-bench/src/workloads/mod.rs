//! The workloads of issue 5, run on every peer with the same operations: [`run`] is the
//! driver, each workload one function (`change.rs` for those that change the store,
//! `read.rs` for those that leave it as they found it).

mod change;
mod floors;
mod mixed_day;
mod read;
mod timing;

use std::path::PathBuf;

use crate::peers::PeerKind;
use crate::report::Report;
use crate::rng::Rng;
use crate::BenchError;
use timing::Entry;

pub use floors::probe_rss;

/// Every workload name, in the order they run.
pub const WORKLOADS: [&str; 15] = [
    "fill",
    "lookup_seq_first",
    "lookup_seq",
    "lookup_uid",
    "flag_storm",
    "flag_storm_nosync",
    "expunge_storm",
    "expunge_storm_nosync",
    "append",
    "resync",
    "mixed_day",
    "mixed_day_durable",
    "reopen",
    "close",
    "verify",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages in the mailbox.
    pub messages: u32,
    /// Fewer operations per workload (a smoke test).
    pub quick: bool,
    /// The peers, uidcache first (ratios are against it).
    pub peers: Vec<PeerKind>,
    /// Where the stores go (a temporary directory when `None`).
    pub dir: Option<PathBuf>,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            messages: 1_000_000,
            quick: false,
            peers: PeerKind::ALL.to_vec(),
            dir: None,
            seed: 42,
        }
    }
}

struct Counts {
    /// Rounds of the workloads that leave the store as they found it (lookups, reopen,
    /// verify): each is timed that many times, peers alternating, and the median is kept.
    rounds: usize,
    lookups: usize,
    flag_updates: usize,
    expunges: usize,
    appends: usize,
}

impl Options {
    fn counts(&self) -> Counts {
        if self.quick {
            Counts {
                rounds: 1,
                lookups: 20_000,
                flag_updates: 5_000,
                expunges: 300,
                appends: 300,
            }
        } else {
            Counts {
                rounds: 5,
                lookups: 1_000_000,
                flag_updates: 100_000,
                expunges: 10_000,
                appends: 10_000,
            }
        }
    }
}

/// The mailbox every peer holds, as the workloads change it, and what they all share.
struct Bench {
    /// The peers, uidcache first.
    entries: Vec<Entry>,
    report: Report,
    /// Every random choice, drawn in the same order on every run.
    rng: Rng,
    counts: Counts,
    /// Where the stores and the yardsticks' files go.
    root: PathBuf,
    /// Messages at the start.
    n: u32,
    /// The UIDs by sequence number, as every peer should hold them.
    uids: Vec<u32>,
    /// The highest UID handed out at the start (appends continue after it).
    next: u32,
    /// The next MODSEQ to give out.
    modseq: u64,
}

impl Bench {
    /// The mailbox: `n` increasing UIDs with gaps.
    fn new(options: &Options, root: PathBuf) -> Bench {
        let n = options.messages.max(2_000);
        let mut rng = Rng::new(options.seed);
        let mut uids: Vec<u32> = Vec::with_capacity(n as usize);
        let mut next = 0u32;
        for _ in 0..n {
            next += 1 + rng.below(3) as u32;
            uids.push(next);
        }
        let entries = options
            .peers
            .iter()
            .map(|k| Entry::new(*k, root.join(k.name())))
            .collect();
        Bench {
            entries,
            report: Report::new(n, options.quick),
            rng,
            counts: options.counts(),
            root,
            n,
            uids,
            next,
            modseq: 1,
        }
    }

    /// Messages now.
    fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    /// `count` random UIDs of the mailbox (fewer when the draws repeat), sorted, as a
    /// VANISHED response names them. `self.uids` is left as it is.
    fn vanishing(&mut self, count: usize) -> Vec<u32> {
        let mut uids: Vec<u32> = (0..count)
            .filter_map(|_| {
                self.uids
                    .get(self.rng.below(self.uids.len() as u64) as usize)
                    .copied()
            })
            .collect();
        uids.sort_unstable();
        uids.dedup();
        uids
    }
}

/// Runs every workload on every peer, in the order of [`WORKLOADS`], and returns the report.
pub fn run(options: &Options) -> Result<Report, BenchError> {
    let temp = tempfile::tempdir()?;
    let root = options
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let mut bench = Bench::new(options, root);
    change::fill(&mut bench)?;
    read::lookups(&mut bench)?;
    change::flag_storms(&mut bench)?;
    change::expunge_storms(&mut bench)?;
    change::append(&mut bench)?;
    change::resync(&mut bench)?;
    mixed_day::mixed_days(&mut bench)?;
    bench.report.final_messages = bench.exists();
    read::reopen(&mut bench)?;
    read::verify(&mut bench)?;
    read::close(&mut bench);
    read::memory(&mut bench)?;
    read::disk(&mut bench)?;
    Ok(bench.report)
}
