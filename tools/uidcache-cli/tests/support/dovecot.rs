//! A throwaway Dovecot IMAP server on 127.0.0.1 for integration tests, driven through the
//! scripts in `tests/fixtures/dovecot/` at the repository root (see its README.md).
//!
//! Each [`Dovecot`] is a fresh server in its own temporary directory: user `test`, password
//! `test`, mail in mdbox, plain IMAP with STARTTLS on [`Dovecot::port`], implicit TLS on
//! [`Dovecot::imaps_port`] (always `port + 1`), with a certificate for `127.0.0.1` and
//! `localhost` signed by the throwaway CA in [`Dovecot::ca_file`]. Dropping it stops the
//! server (by pid) and deletes the directory.
//!
//! ```ignore
//! mod support;
//! use support::dovecot::Dovecot;
//!
//! let Some(server) = Dovecot::start_or_skip(true) else { return };
//! server.populate("INBOX", 10_000);
//! let expected = server.truth("INBOX"); // `uidcache dump` format
//! ```
//!
//! Starting needs root (and, the first time on a machine, `apt-get install dovecot-imapd`).
//! Where that cannot happen, [`Dovecot::start_or_skip`] prints `SKIPPED: <reason>` and
//! returns `None`, unless `UIDCACHE_REQUIRE_DOVECOT=1`, where it panics instead (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The exit code with which `start` says this machine cannot run the fixture.
const UNAVAILABLE: i32 = 77;
/// The exit code with which `start` says a port is taken (try another pair).
const PORT_IN_USE: i32 = 3;
/// Port pairs are drawn from [PORT_LOW, PORT_LOW + 2 * PORT_PAIRS), below Linux's ephemeral
/// range (32768 and up), so that no client socket of a concurrent test takes one by chance.
const PORT_LOW: u32 = 20_000;
const PORT_PAIRS: u32 = 6_000;
/// Port pairs handed out by this process so far (each start tries a different pair).
static NEXT_PAIR: AtomicU32 = AtomicU32::new(0);

/// The user name and password of the server's only account.
pub const USER: &str = "test";
const PASSWORD: &str = "test";

/// Why a server could not be started.
#[derive(Debug)]
enum StartError {
    /// The machine cannot run it (not root, no package, no network): a reason to skip.
    Unavailable(String),
    /// It should have started but did not: a fixture or environment bug.
    Failed(String),
}

/// A running throwaway Dovecot server; stopped and deleted on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    imaps_port: u16,
    pid: u32,
    qresync: bool,
}

/// The directory holding the fixture scripts (`tests/fixtures/dovecot` at the repo root).
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dovecot")
}

fn script(name: &str) -> PathBuf {
    fixture_dir().join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a fixture command; panics with its output (and the server log) unless it exits 0.
fn run_ok(mut cmd: Command, what: &str, log: Option<&Path>) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    if !out.status.success() {
        let tail = log.map_or_else(String::new, |l| {
            let log = std::fs::read_to_string(l).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let start = lines.len().saturating_sub(20);
            format!(
                "\n--- {} (last lines)\n{}",
                l.display(),
                lines.get(start..).unwrap_or_default().join("\n")
            )
        });
        panic!(
            "{what}: {}\n--- stdout\n{}\n--- stderr\n{}{tail}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    text(&out.stdout)
}

/// A first port pair to try: differs between processes and between calls in one process.
fn pair_seed() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(nanos)
}

/// Whether both ports can be bound on 127.0.0.1 right now.
fn pair_free(port: u16) -> bool {
    let a = std::net::TcpListener::bind(("127.0.0.1", port));
    let b = std::net::TcpListener::bind(("127.0.0.1", port.wrapping_add(1)));
    a.is_ok() && b.is_ok()
}

impl Dovecot {
    /// Starts a fresh server (CONDSTORE and QRESYNC advertised unless `qresync` is false;
    /// Dovecot still implements them, see the fixture README). `Err(reason)` when Dovecot
    /// cannot be installed or started here.
    pub fn start(qresync: bool) -> Result<Dovecot, String> {
        match Self::try_start(qresync) {
            Ok(d) => Ok(d),
            Err(StartError::Unavailable(why) | StartError::Failed(why)) => Err(why),
        }
    }

    /// Like [`Dovecot::start`], but when this machine cannot run the fixture (not root,
    /// no package, no network) it prints a loud `SKIPPED: <reason>` to stderr and returns
    /// `None`, except with `UIDCACHE_REQUIRE_DOVECOT=1`, where it panics with the reason.
    /// A server that should have started but did not always panics.
    pub fn start_or_skip(qresync: bool) -> Option<Dovecot> {
        match Self::try_start(qresync) {
            Ok(d) => Some(d),
            Err(StartError::Failed(why)) => panic!("the Dovecot fixture failed: {why}"),
            Err(StartError::Unavailable(why)) => {
                if std::env::var("UIDCACHE_REQUIRE_DOVECOT").is_ok_and(|v| v == "1") {
                    panic!("UIDCACHE_REQUIRE_DOVECOT=1 but the Dovecot fixture cannot run: {why}");
                }
                // Straight to the process's stderr: libtest captures eprintln! of a passing
                // test, and a skip must not go unseen.
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!(
                        "\n***** SKIPPED: the Dovecot fixture cannot run here: {why} *****\n\
                         ***** (set UIDCACHE_REQUIRE_DOVECOT=1 to make this a failure) *****\n\n"
                    )
                    .as_bytes(),
                );
                None
            }
        }
    }

    fn try_start(qresync: bool) -> Result<Dovecot, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("uidcache-dovecot-")
            .tempdir()
            .map_err(|e| StartError::Failed(format!("cannot make a temp dir: {e}")))?;
        let seed = pair_seed();
        let mut last = String::new();
        for _ in 0..40 {
            let pair = seed.wrapping_add(NEXT_PAIR.fetch_add(1, Ordering::Relaxed)) % PORT_PAIRS;
            let Ok(port) = u16::try_from(PORT_LOW + 2 * pair) else {
                continue;
            };
            if !pair_free(port) {
                continue;
            }
            let mut cmd = Command::new(script("start"));
            cmd.arg(dir.path()).arg(port.to_string());
            if !qresync {
                cmd.arg("--no-qresync");
            }
            let out: Output = cmd.stdin(Stdio::null()).output().map_err(|e| {
                StartError::Unavailable(format!("cannot run the start script: {e}"))
            })?;
            let why = || {
                format!(
                    "start {} {port} exited with {}: {}",
                    dir.path().display(),
                    out.status,
                    text(&out.stderr).trim()
                )
            };
            match out.status.code() {
                Some(0) => {
                    let pid = text(&out.stdout)
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| StartError::Failed(why()))?;
                    let imaps_port = port + 1;
                    return Ok(Dovecot {
                        dir,
                        port,
                        imaps_port,
                        pid,
                        qresync,
                    });
                }
                Some(PORT_IN_USE) => last = why(),
                Some(UNAVAILABLE) => return Err(StartError::Unavailable(why())),
                _ => return Err(StartError::Failed(why())),
            }
        }
        Err(StartError::Failed(format!(
            "no free port pair after 40 tries; last: {last}"
        )))
    }

    /// The plain IMAP port (STARTTLS available; plaintext LOGIN allowed too).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The implicit-TLS (imaps) port, `port() + 1`.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
    }

    /// The throwaway CA certificate (PEM) that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// `ca_file` as a command-line argument.
    pub fn ca_arg(&self) -> String {
        self.ca_file().to_string_lossy().into_owned()
    }

    /// `imap://test@127.0.0.1:PORT/mailbox`
    pub fn url(&self, mailbox: &str) -> String {
        format!("imap://{USER}@127.0.0.1:{}/{mailbox}", self.port)
    }

    /// `imaps://test@127.0.0.1:IMAPS_PORT/mailbox`
    pub fn imaps_url(&self, mailbox: &str) -> String {
        format!("imaps://{USER}@127.0.0.1:{}/{mailbox}", self.imaps_port)
    }

    /// The user name, `test`.
    pub fn user(&self) -> &str {
        USER
    }

    /// The password of [`USER`], `test`.
    pub fn password(&self) -> &str {
        PASSWORD
    }

    /// The server's directory (config, mail, logs, `tls/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The Dovecot master's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether CONDSTORE and QRESYNC are advertised.
    pub fn qresync(&self) -> bool {
        self.qresync
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log/dovecot.log")
    }

    fn fixture(&self, name: &str, mailbox: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(script(name));
        cmd.arg(self.dir.path())
            .arg("--mailbox")
            .arg(mailbox)
            .args(args);
        cmd
    }

    /// Appends `n` messages to `mailbox` (created when missing) with MULTIAPPEND; panics
    /// unless EXISTS grows by exactly `n`. Message i has the subject `fixture message i`.
    pub fn populate(&self, mailbox: &str, n: u32) {
        let cmd = self.fixture("populate", mailbox, &[&n.to_string()]);
        run_ok(cmd, "populate", Some(&self.log()));
    }

    /// What the server holds in `mailbox`, in the `uidcache dump` format, read by a fresh
    /// session with SELECT (CONDSTORE) and FETCH 1:* (UID FLAGS MODSEQ): the oracle.
    pub fn truth(&self, mailbox: &str) -> String {
        run_ok(
            self.fixture("truth", mailbox, &[]),
            "truth",
            Some(&self.log()),
        )
    }

    /// Changes `mailbox` from a second session: `args` are the `mutate` steps, e.g.
    /// `["append", "5", "add", "\\Seen $Work", "1:10", "expunge", "10%", "recreate"]`, and
    /// options such as `--seed N`. Returns its one-line summary; panics when it fails.
    pub fn mutate(&self, mailbox: &str, args: &[&str]) -> String {
        run_ok(
            self.fixture("mutate", mailbox, args),
            "mutate",
            Some(&self.log()),
        )
    }

    /// Starts `mutate --loop seconds --seed seed` on `mailbox`: random small changes (about
    /// four a second) for that long. Its stdout (the summary line) is piped; `wait_with_output`
    /// collects it, and SIGTERM ends it early (it still prints the summary).
    pub fn spawn_mutate_loop(&self, mailbox: &str, seconds: u32, seed: u64) -> Child {
        self.fixture(
            "mutate",
            mailbox,
            &["--loop", &seconds.to_string(), "--seed", &seed.to_string()],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("mutate --loop: cannot run: {e}"))
    }

    /// Runs `doveadm -c DIR/dovecot.conf ARGS` (e.g. `["expunge", "-u", "test", "mailbox",
    /// "INBOX", "uid", "10:12"]`); returns its stdout, panics when it fails.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("doveadm");
        cmd.arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .args(args);
        run_ok(cmd, "doveadm", Some(&self.log()))
    }

    /// Stops the server now (what drop does); safe to repeat.
    pub fn stop(&self) {
        let out = Command::new(script("stop"))
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output();
        if let Ok(out) = out {
            if !out.status.success() {
                eprintln!("dovecot fixture: stop failed: {}", text(&out.stderr));
            }
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}
