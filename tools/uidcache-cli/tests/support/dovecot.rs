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
//! use support::server::Server; // populate, truth, mutate, url, kick, ...
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
use std::process::{Command, Stdio};

use super::fixture::{fixtures, or_skip, run_ok, run_start_with, text, StartError, PASSWORD, USER};
use super::server::Server;

/// A running throwaway Dovecot server; stopped and deleted on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    imaps_port: u16,
    pid: u32,
    qresync: bool,
}

/// The directory holding the Dovecot fixture's scripts (`tests/fixtures/dovecot`).
pub fn fixture_dir() -> PathBuf {
    fixtures("dovecot")
}

fn script(name: &str) -> PathBuf {
    fixture_dir().join(name)
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
        or_skip(
            Self::try_start(qresync),
            "Dovecot",
            "UIDCACHE_REQUIRE_DOVECOT",
        )
    }

    /// Like [`Dovecot::start_or_skip`] (with QRESYNC), and OAUTHBEARER and XOAUTH2 offered
    /// too: Dovecot's oauth2 passdb checks each token by POSTing `token=...` to
    /// `introspection_url` (RFC 7662) and accepts it when the JSON answer has
    /// `"active": true` and `"username"` names the user.
    pub fn start_with_oauth2_or_skip(introspection_url: &str) -> Option<Dovecot> {
        let env = [("DOVECOT_OAUTH2_INTROSPECTION_URL", introspection_url)];
        or_skip(
            Self::try_start_with(true, &env),
            "Dovecot",
            "UIDCACHE_REQUIRE_DOVECOT",
        )
    }

    fn try_start(qresync: bool) -> Result<Dovecot, StartError> {
        Self::try_start_with(qresync, &[])
    }

    fn try_start_with(qresync: bool, env: &[(&str, &str)]) -> Result<Dovecot, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("uidcache-dovecot-")
            .tempdir()
            .map_err(|e| StartError::Failed(format!("cannot make a temp dir: {e}")))?;
        let (port, pid) = run_start_with(&script("start"), dir.path(), qresync, env)?;
        Ok(Dovecot {
            dir,
            port,
            imaps_port: port + 1,
            pid,
            qresync,
        })
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

    /// The Dovecot master's pid.
    pub fn pid(&self) -> u32 {
        self.pid
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

impl Server for Dovecot {
    fn name(&self) -> &'static str {
        "dovecot"
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The plain IMAP port (STARTTLS available; plaintext LOGIN allowed too).
    fn port(&self) -> u16 {
        self.port
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log/dovecot.log")
    }

    /// Whether CONDSTORE and QRESYNC are advertised (Dovecot still implements them).
    fn qresync(&self) -> bool {
        self.qresync
    }

    fn ca_file(&self) -> Option<PathBuf> {
        Some(Dovecot::ca_file(self))
    }

    fn tls_url(&self, mailbox: &str) -> Option<String> {
        Some(self.imaps_url(mailbox))
    }

    /// `doveadm kick test`: Dovecot says BYE and closes each of test's connections.
    fn kick(&self) {
        self.doveadm(&["kick", USER]);
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}
