//! Benchmarks of uidcache against the seed's rename-based layout, SQLite and an in-memory
//! floor, behind one trait so that every workload makes the same calls on every peer.
//!
//! [`run`] runs every workload for every peer in one process, alternating peers within each
//! workload, and reports seconds per workload and ratios against uidcache (the machine is
//! noisy; ratios measured side by side are what BENCHMARKS.md quotes).
//!
//! [`demo`] is the session `uidcache demo` plays and the scale test checks.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod demo;
mod disk;
mod latency;
pub mod peers;
mod report;
mod rng;
mod rss;
mod workloads;

pub use latency::{Latencies, Latency, Summary};
pub use report::{FsyncFigure, Report, HEADLINE, HEADLINE_DURABLE};
pub use workloads::{probe_rss, run, Options, WORKLOADS};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The engine failed.
    #[error("uidcache: {0}")]
    Engine(#[from] uidcache_engine::Error),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A sequence number outside the mailbox.
    #[error("sequence number {0} out of range")]
    Range(u32),
    /// A peer's own file was not what it wrote.
    #[error("bad file: {0}")]
    Format(&'static str),
    /// A workload failed on a peer.
    #[error("{workload} on {peer}: {source}")]
    InPeer {
        /// The workload.
        workload: &'static str,
        /// The peer.
        peer: &'static str,
        /// What failed.
        source: Box<BenchError>,
    },
    /// A peer answered differently from the floor: the benchmark would compare apples with pears.
    #[error("{peer} disagrees with the floor: {what}")]
    Mismatch {
        /// The peer.
        peer: &'static str,
        /// What differed.
        what: String,
    },
}
