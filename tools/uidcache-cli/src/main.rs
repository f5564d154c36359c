//! `uidcache`: replay IMAP transcripts into a cache, inspect it, and run the demo.
//!
//! Exit codes: 0 success; 1 an error in the input or the cache (the message names the
//! transcript line); 2 a usage error or an I/O error.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod account;
mod auth_args;
mod bench;
mod commands;
mod demo;
mod failure;
mod json;
mod stdout;
mod sync;

use failure::Failure;

const AFTER_HELP: &str = "Exit codes: 0 success; 1 an error in the input or in the cache \
(the message names the transcript line); 2 a usage or I/O error.";

/// Keeps an IMAP client's mailbox state on disk: replay, inspect, demo.
#[derive(Parser)]
#[command(name = "uidcache", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Apply what the server said in an IMAP transcript to the cache in DIR.
    ///
    /// Transcript lines are `C: <command>` and `S: <response>`; blank lines and lines starting
    /// with `#` are ignored; anything else is an error. Every tagged completion (and the end
    /// of the input) is a commit point; on an error the cache stays at the last one.
    #[command(after_help = AFTER_HELP)]
    Replay {
        /// Commit without fsync (survives a process crash, not a power loss).
        #[arg(long)]
        no_fsync: bool,
        /// The cache directory (created if missing).
        dir: PathBuf,
        /// The transcript file; stdin when absent or `-`.
        transcript: Option<PathBuf>,
    },
    /// Print the cache state in the exact dump format.
    ///
    /// Header lines `uidvalidity`, `uidnext`, `highestmodseq`, `exists` (a number or `-`),
    /// then `<seq> <uid> <flags> <modseq>` for placed records by sequence number and
    /// `- <uid> <flags> <modseq>` for unplaced ones by UID.
    #[command(after_help = AFTER_HELP)]
    Dump {
        /// The cache directory.
        dir: PathBuf,
    },
    /// Print a human summary: records, holes, unplaced, blocks, journal, disk use, last commit.
    #[command(after_help = AFTER_HELP)]
    Stat {
        /// The cache directory.
        dir: PathBuf,
    },
    /// Print the range to fetch next (`a:b`) to learn sequence number SEQ; nothing if known.
    #[command(after_help = AFTER_HELP)]
    Needed {
        /// The cache directory.
        dir: PathBuf,
        /// The sequence number the client needs.
        seq: u32,
        /// Largest range to ask for; ranges are aligned to multiples of it.
        #[arg(long, default_value_t = 500)]
        max: u32,
    },
    /// Print the QRESYNC parameter for `SELECT mailbox <param>` from this cache.
    #[command(after_help = AFTER_HELP)]
    Qresync {
        /// The cache directory.
        dir: PathBuf,
    },
    /// Benchmark uidcache against the rename-based layout, SQLite and an in-memory floor.
    ///
    /// Runs every workload for every peer in one process, peers alternating, and prints
    /// seconds and ratios against uidcache (ratios from one run are what to quote on a noisy
    /// machine). Peak memory is measured in a fresh child process per peer.
    #[command(after_help = AFTER_HELP)]
    Bench {
        /// Messages in the mailbox.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u32,
        /// Fewer operations per workload: a smoke test, not a measurement.
        #[arg(long)]
        quick: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Comma-separated peers to run (uidcache first); default all four.
        #[arg(long, default_value = "uidcache,rename,sqlite,floor")]
        peers: String,
    },
    /// Bring the cache in DIR up to date with a mailbox on an IMAP server.
    ///
    /// URL: imaps://user@host[:port]/mailbox (TLS), or imap://user@host[:port]/mailbox
    /// (STARTTLS; plain text only with --allow-plaintext or to a loopback host). The password
    /// comes from UIDCACHE_PASSWORD, --password-file, or a prompt. The first sync learns the
    /// mailbox in blocks, committing each; a killed sync continues where it stopped. Later
    /// syncs use QRESYNC when the server has it, else CONDSTORE, else refetch everything.
    /// Prints a summary: messages, changes, round trips, bytes, time.
    ///
    /// Without a mailbox in the URL (imaps://user@host/), every selectable mailbox of the
    /// account (or those matching --mailbox) is kept in its own cache under DIR/mailboxes/,
    /// with the account file DIR/account; one LIST-STATUS tells which caches are behind, and
    /// only those are synced, --jobs at a time.
    #[command(after_help = SYNC_AFTER_HELP)]
    Sync(sync::Args),
    /// (internal) Measure the peak memory of opening a peer's store and 1,000 lookups.
    #[command(hide = true)]
    BenchProbe {
        /// The peer.
        peer: String,
        /// Its store.
        dir: PathBuf,
        /// The last sequence number.
        last: u32,
    },
    /// Run a simulated IMAP server against a fresh 1,000,000-message cache and report.
    ///
    /// The server (in this process, no network) plays a session: random-order block fill by
    /// UID SEARCH, flag changes, expunges, new mail, a compaction, then a reconnect with
    /// QRESYNC. The cache is then reopened, checked record by record against the server's
    /// truth, and its files are checked by uidcache-fsck.
    #[command(after_help = AFTER_HELP)]
    Demo {
        /// Where to build the cache (a fresh temporary directory when absent).
        dir: Option<PathBuf>,
        /// Number of messages.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u32,
        /// Seed of the simulation.
        #[arg(long, default_value_t = 6)]
        seed: u64,
    },
}

const SYNC_AFTER_HELP: &str = "Exit codes: 0 success; 1 the server's responses or the cache \
are inconsistent; 2 a usage, network, TLS, login or I/O error; 3 (account mode) some \
mailboxes failed and the others were synced; 130 interrupted by Ctrl-C (everything received \
so far is committed).";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = try_main(cli);
    // Drops may have left closing checkpoints to background threads (the engine's
    // `close_in_background_above`): let them finish rather than cut them at exit.
    uidcache_engine::wait_for_closes();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("uidcache: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn try_main(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Cmd::Replay {
            no_fsync,
            dir,
            transcript,
        } => commands::replay(&dir, transcript.as_deref(), no_fsync),
        Cmd::Dump { dir } => commands::dump(&dir),
        Cmd::Stat { dir } => commands::stat(&dir),
        Cmd::Needed { dir, seq, max } => commands::needed(&dir, seq, max),
        Cmd::Qresync { dir } => commands::qresync(&dir),
        Cmd::Bench {
            messages,
            quick,
            json,
            peers,
        } => bench::bench(messages, quick, json, &peers),
        Cmd::Sync(args) => sync::run(args),
        Cmd::BenchProbe { peer, dir, last } => bench::probe(&peer, &dir, last),
        Cmd::Demo {
            dir,
            messages,
            seed,
        } => demo::run(dir.as_deref(), messages, seed),
    }
}
