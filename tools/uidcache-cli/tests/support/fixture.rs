//! What the Dovecot and Cyrus fixtures share: the script directories, running a script and
//! reporting its failure, port pairs, and skipping (or failing) when a server cannot run here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The exit code with which a `start` script says this machine cannot run the fixture.
pub const UNAVAILABLE: i32 = 77;
/// The exit code with which a `start` script says a port is taken (try another).
pub const PORT_IN_USE: i32 = 3;
/// Port pairs are drawn from [PORT_LOW, PORT_LOW + 2 * PORT_PAIRS), below Linux's ephemeral
/// range (32768 and up), so that no client socket of a concurrent test takes one by chance.
const PORT_LOW: u32 = 20_000;
const PORT_PAIRS: u32 = 6_000;
/// Port pairs handed out by this process so far, to either server (each start tries a
/// different pair).
static NEXT_PAIR: AtomicU32 = AtomicU32::new(0);

/// The user name and password of each fixture's test account.
pub const USER: &str = "test";
pub const PASSWORD: &str = "test";

/// Why a server could not be started.
#[derive(Debug)]
pub enum StartError {
    /// The machine cannot run it (not root, no package, no network): a reason to skip.
    Unavailable(String),
    /// It should have started but did not: a fixture or environment bug.
    Failed(String),
}

/// `tests/fixtures/NAME` at the repository root.
pub fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// The IMAP-client scripts both servers share (populate, truth, mutate).
pub fn client_script(name: &str) -> PathBuf {
    fixtures("imap-client").join(name)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a fixture command; panics with its output (and the server log) unless it exits 0.
pub fn run_ok(mut cmd: Command, what: &str, log: Option<&Path>) -> String {
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

/// `imap-client/SCRIPT DIR --mailbox MAILBOX ARGS...` for the server in `dir`.
pub fn client(name: &str, dir: &Path, mailbox: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(client_script(name));
    cmd.arg(dir).arg("--mailbox").arg(mailbox).args(args);
    cmd
}

/// Starts `mutate` with loop arguments, stdout piped (its first line is
/// `mutate: loop started`, its last the summary).
pub fn spawn_client(name: &str, dir: &Path, mailbox: &str, args: &[&str]) -> Child {
    client(name, dir, mailbox, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{name} {args:?}: cannot run: {e}"))
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

/// Up to 40 free-looking port pairs (P, P+1), P even: a start that finds P taken after all
/// (exit 3) tries the next.
pub fn candidate_ports() -> impl Iterator<Item = u16> {
    let seed = pair_seed();
    (0..40).filter_map(move |_| {
        let pair = seed.wrapping_add(NEXT_PAIR.fetch_add(1, Ordering::Relaxed)) % PORT_PAIRS;
        let port = u16::try_from(PORT_LOW + 2 * pair).ok()?;
        pair_free(port).then_some(port)
    })
}

/// A start's outcome for a test: the server, or `None` after a loud `SKIPPED` banner when
/// this machine cannot run it, or a panic when `require_var=1` or the start failed.
pub fn or_skip<T>(started: Result<T, StartError>, name: &str, require_var: &str) -> Option<T> {
    match started {
        Ok(s) => Some(s),
        Err(StartError::Failed(why)) => panic!("the {name} fixture failed: {why}"),
        Err(StartError::Unavailable(why)) => {
            if std::env::var(require_var).is_ok_and(|v| v == "1") {
                panic!("{require_var}=1 but the {name} fixture cannot run: {why}");
            }
            // Straight to the process's stderr: libtest captures eprintln! of a passing
            // test, and a skip must not go unseen.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!(
                    "\n***** SKIPPED: the {name} fixture cannot run here: {why} *****\n\
                     ***** (set {require_var}=1 to make this a failure) *****\n\n"
                )
                .as_bytes(),
            );
            None
        }
    }
}

/// Runs `START DIR PORT [--no-qresync]` on free-looking ports until one is not taken;
/// returns (port, the pid the script printed).
pub fn run_start(start: &Path, dir: &Path, qresync: bool) -> Result<(u16, u32), StartError> {
    run_start_with(start, dir, qresync, &[])
}

/// [`run_start`] with extra environment variables for the script (e.g. Dovecot's
/// `DOVECOT_OAUTH2_INTROSPECTION_URL`).
pub fn run_start_with(
    start: &Path,
    dir: &Path,
    qresync: bool,
    env: &[(&str, &str)],
) -> Result<(u16, u32), StartError> {
    let mut last = String::new();
    for port in candidate_ports() {
        let mut cmd = Command::new(start);
        cmd.arg(dir).arg(port.to_string());
        cmd.envs(env.iter().copied());
        if !qresync {
            cmd.arg("--no-qresync");
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| StartError::Unavailable(format!("cannot run {}: {e}", start.display())))?;
        let why = || {
            format!(
                "{} {} {port} exited with {}: {}",
                start.display(),
                dir.display(),
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
                return Ok((port, pid));
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
