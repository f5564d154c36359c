//! `uidcache sync`: the password, Ctrl-C, the progress bar and the summary around
//! `uidcache_sync::sync` / `watch`.

use crate::stdout::outln;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use uidcache_engine::{Cache, Durability, OpenOptions};
use uidcache_sync::{Error, Resync, SyncOptions, Target};

use crate::failure::Failure;

/// The command line of `uidcache sync`.
#[derive(clap::Args)]
pub struct Args {
    /// Stay connected and apply changes as they happen (IDLE, or NOOP polling), until
    /// Ctrl-C; reconnects with backoff when the connection drops.
    #[arg(long)]
    pub watch: bool,
    /// PEM file of CA certificates to trust instead of the system's (self-signed servers).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Allow sending the password without TLS to a host that is not loopback.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// --auth and the OAuth token source.
    #[command(flatten)]
    pub login: crate::auth_args::AuthArgs,
    /// Read the password from the first line of this file.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Append the session to FILE in the `uidcache replay` format (secrets as ***). In
    /// account mode one file per connection: FILE for the listing connection, FILE.N for
    /// job connection N.
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    /// Learn UIDs and positions only (UID SEARCH / ESEARCH), not flags and MODSEQs.
    #[arg(long)]
    pub uids_only: bool,
    /// How an existing cache catches up: auto (QRESYNC, else CONDSTORE, else full),
    /// condstore (never QRESYNC), full (refetch everything).
    #[arg(long, value_enum, default_value_t = ResyncArg::Auto)]
    pub resync: ResyncArg,
    /// Messages per FETCH or SEARCH command while learning the mailbox.
    #[arg(long, default_value_t = 5_000)]
    pub block: u32,
    /// Commit without fsync (survives a crash of this program, not a power loss).
    #[arg(long)]
    pub no_fsync: bool,
    /// Seconds between NOOPs in --watch when the server has no IDLE.
    #[arg(long, default_value_t = 30)]
    pub poll: u64,
    /// No progress bar, no summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the summary as one JSON object (mailboxes, round trips, bytes, seconds).
    #[arg(long)]
    pub json: bool,
    /// Account mode: only mailboxes matching PATTERN (LIST wildcards `*` and `%`);
    /// repeatable. Default: every mailbox.
    #[arg(long, value_name = "PATTERN")]
    pub mailbox: Vec<String>,
    /// Account mode: mailboxes synced at once, each over its own connection.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// imaps://user@host[:port]/mailbox or imap://user@host[:port]/mailbox; without a
    /// mailbox (imaps://user@host/), every mailbox of the account, one cache each under DIR.
    pub url: String,
    /// The cache directory (created if missing).
    pub dir: PathBuf,
}

/// `--resync`, as clap parses it.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ResyncArg {
    /// QRESYNC, else CONDSTORE, else a full refetch.
    Auto,
    /// Never QRESYNC.
    Condstore,
    /// Refetch everything.
    Full,
}

impl From<ResyncArg> for Resync {
    fn from(r: ResyncArg) -> Resync {
        match r {
            ResyncArg::Auto => Resync::Auto,
            ResyncArg::Condstore => Resync::Condstore,
            ResyncArg::Full => Resync::Full,
        }
    }
}

/// Where the password comes from: `UIDCACHE_PASSWORD`, `--password-file` (its first line),
/// or a prompt on the terminal. Never the command line, where other users can read it.
fn password(file: Option<&Path>, user: &str) -> Result<String, Failure> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Io(format!("--password-file {}: {e}", path.display())))?;
        return Ok(text.lines().next().unwrap_or("").to_string());
    }
    if let Ok(p) = std::env::var("UIDCACHE_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Io(
            "no password: set UIDCACHE_PASSWORD or pass --password-file (stdin is not a \
             terminal to prompt on)"
                .into(),
        ));
    }
    rpassword::prompt_password(format!("password for {user}: "))
        .map_err(|e| Failure::Io(format!("reading the password: {e}")))
}

/// Ctrl-C once: finish the command in flight, commit, exit. Twice: exit at once (what was
/// committed stays committed).
fn interrupt_flag(quiet: bool) -> Result<Arc<AtomicBool>, Failure> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        if !quiet {
            eprintln!(
                "\nuidcache: stopping after the command in flight (Ctrl-C again to quit now)"
            );
        }
    })
    .map_err(|e| Failure::Io(format!("installing the Ctrl-C handler: {e}")))?;
    Ok(flag)
}

pub(crate) fn failure(e: Error) -> Failure {
    match e {
        Error::Interrupted => Failure::Interrupted(
            "interrupted; what was received is committed: run the same command to continue".into(),
        ),
        Error::Engine(e) => Failure::engine("cache", e),
        Error::Apply(e) => Failure::Input(format!("the server's responses: {e}")),
        Error::Protocol { .. } | Error::NoProgress(_) => Failure::Input(e.to_string()),
        other => Failure::Io(other.to_string()),
    }
}

/// `uidcache sync`: one mailbox, or (no mailbox in the URL) the whole account.
pub fn run(args: Args) -> Result<(), Failure> {
    let account = crate::account::is_account_url(&args.url);
    if !account && !args.mailbox.is_empty() {
        return Err(Failure::Io(
            "--mailbox chooses mailboxes of an account: give the URL without a mailbox \
             (imaps://user@host/)"
                .into(),
        ));
    }
    let (opts, durability) = options(&args)?;
    if account {
        return crate::account::run(&args, opts);
    }
    mailbox(&args, opts, durability)
}

/// The options every sync shares, from the command line (asks for the password).
fn options(args: &Args) -> Result<(SyncOptions, Durability), Failure> {
    let target = Target::parse(&args.url).map_err(|e| Failure::Io(e.to_string()))?;
    let password = if args.login.needs_password() {
        password(args.password_file.as_deref(), &target.user)?
    } else {
        String::new()
    };
    let durability = if args.no_fsync {
        Durability::NoSync
    } else {
        Durability::Durable
    };
    let mut opts = SyncOptions::new(target, password);
    opts.login = args.login.login_options();
    opts.ca_file.clone_from(&args.ca_file);
    opts.allow_plaintext = args.allow_plaintext;
    opts.transcript.clone_from(&args.transcript);
    opts.uids_only = args.uids_only;
    opts.resync = args.resync.into();
    opts.block = args.block.max(1);
    opts.durability = durability;
    opts.poll = Duration::from_secs(args.poll.max(1));
    opts.interrupt = interrupt_flag(args.quiet)?;
    Ok((opts, durability))
}

/// Prints events on stderr (above the bar when there is one), unless quiet.
pub(crate) fn events(quiet: bool, bar: Option<ProgressBar>) -> Option<uidcache_sync::EventFn> {
    if quiet {
        return None;
    }
    Some(Box::new(move |line| match &bar {
        Some(b) => b.println(format!("uidcache: {line}")),
        None => eprintln!("uidcache: {line}"),
    }))
}

/// One mailbox into the cache in DIR.
fn mailbox(args: &Args, mut opts: SyncOptions, durability: Durability) -> Result<(), Failure> {
    let mut cache = Cache::open_with(
        &args.dir,
        OpenOptions::new()
            .durability(durability)
            .lock_wait(Some(Duration::from_secs(5))),
    )
    .map_err(|e| Failure::engine(&args.dir.display().to_string(), e))?;
    let bar = progress_bar(args.quiet || args.json);
    if let Some(bar) = bar.clone() {
        opts.on_progress = Some(Box::new(move |p| {
            bar.set_length(p.total);
            bar.set_position(p.known);
        }));
    }
    opts.on_event = events(args.quiet, bar.clone());
    let result = if args.watch {
        uidcache_sync::watch(&mut cache, &mut opts)
    } else {
        uidcache_sync::sync(&mut cache, &mut opts)
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = result.map_err(failure)?;
    cache
        .close()
        .map_err(|e| Failure::engine(&args.dir.display().to_string(), e))?;
    if args.json {
        outln!("{}", crate::json::mailbox(&summary, &args.dir));
    } else if !args.quiet {
        outln!("{summary}");
    }
    Ok(())
}

/// A bar with the learning rate, on stderr, only when it is a terminal.
fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{spinner} {pos}/{len} messages [{bar:30}] {rate} messages/s, {eta} left",
    )
    .map(|s| {
        s.progress_chars("=> ").with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}", state.per_sec());
            },
        )
    })
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}
