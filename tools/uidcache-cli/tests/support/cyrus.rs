//! A throwaway Cyrus IMAP server on 127.0.0.1 for integration tests, driven through the
//! scripts in `tests/fixtures/cyrus/` at the repository root (see its README.md).
//!
//! Each [`Cyrus`] is a fresh server in its own temporary directory (under `/dev/shm` where
//! there is one: Cyrus fsyncs every appended message), user `test`, password `test`, plain
//! IMAP only (no TLS: `uidcache sync` allows plaintext LOGIN to a loopback host). Dropping it
//! stops the server (by pid) and deletes the directory. populate, truth, mutate and the rest
//! come from [`Server`].
//!
//! Starting needs root (and, the first time on a machine, apt). Where that cannot happen,
//! [`Cyrus::start_or_skip`] prints `SKIPPED: <reason>` and returns `None`, unless
//! `UIDCACHE_REQUIRE_CYRUS=1`, where it panics instead (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::fixture::{fixtures, or_skip, run_ok, run_start, text, StartError};
use super::server::Server;

/// A running throwaway Cyrus server; stopped and deleted on drop.
pub struct Cyrus {
    dir: tempfile::TempDir,
    port: u16,
    pid: u32,
    qresync: bool,
}

/// The directory holding the Cyrus fixture's scripts (`tests/fixtures/cyrus`).
pub fn fixture_dir() -> PathBuf {
    fixtures("cyrus")
}

fn script(name: &str) -> PathBuf {
    fixture_dir().join(name)
}

impl Cyrus {
    /// Starts a fresh server (CONDSTORE and QRESYNC advertised unless `qresync` is false;
    /// Cyrus still answers ENABLE QRESYNC, see the fixture README).
    pub fn start(qresync: bool) -> Result<Cyrus, String> {
        match Self::try_start(qresync) {
            Ok(c) => Ok(c),
            Err(StartError::Unavailable(why) | StartError::Failed(why)) => Err(why),
        }
    }

    /// Like [`Cyrus::start`], but when this machine cannot run the fixture it prints a loud
    /// `SKIPPED: <reason>` to stderr and returns `None`, except with
    /// `UIDCACHE_REQUIRE_CYRUS=1`, where it panics. A failed start always panics.
    pub fn start_or_skip(qresync: bool) -> Option<Cyrus> {
        or_skip(Self::try_start(qresync), "Cyrus", "UIDCACHE_REQUIRE_CYRUS")
    }

    fn try_start(qresync: bool) -> Result<Cyrus, StartError> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("uidcache-cyrus-");
        // tmpfs: appends cost no fsync there (about 7x faster on ext4, see the README).
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            builder.tempdir_in(shm)
        } else {
            builder.tempdir()
        }
        .map_err(|e| StartError::Failed(format!("cannot make a temp dir: {e}")))?;
        let (port, pid) = run_start(&script("start"), dir.path(), qresync)?;
        Ok(Cyrus {
            dir,
            port,
            pid,
            qresync,
        })
    }

    /// The Cyrus master's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the server now (what drop does); safe to repeat.
    pub fn stop(&self) {
        let out = Command::new(script("stop"))
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output();
        if let Ok(out) = out {
            if !out.status.success() {
                eprintln!("cyrus fixture: stop failed: {}", text(&out.stderr));
            }
        }
    }
}

impl Server for Cyrus {
    fn name(&self) -> &'static str {
        "cyrus"
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn port(&self) -> u16 {
        self.port
    }

    /// The master's own output; imapd logs to syslog only (see the README).
    fn log(&self) -> PathBuf {
        self.dir.path().join("log/master.log")
    }

    fn qresync(&self) -> bool {
        self.qresync
    }

    fn ca_file(&self) -> Option<PathBuf> {
        None
    }

    fn tls_url(&self, _mailbox: &str) -> Option<String> {
        None
    }

    /// `kick DIR`: SIGTERM to each imapd child of the master; each closes its connection.
    fn kick(&self) {
        let mut cmd = Command::new(script("kick"));
        cmd.arg(self.dir.path());
        run_ok(cmd, "kick", Some(&self.log()));
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        self.stop();
    }
}
