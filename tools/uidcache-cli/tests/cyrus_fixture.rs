//! Self-test of the Cyrus fixture (`tests/fixtures/cyrus/`, `support::cyrus`) and of the
//! shared IMAP-client helpers on it: two instances at once, CAPABILITY with and without
//! QRESYNC, populate, the `truth` oracle against a SELECT of its own, `mutate` (append, flags
//! and keywords, expunge, percentages, recreate of a top-level folder, both loops), kick, a
//! restart keeping the state, and that drop stops the server.
//!
//! Skips (loudly) where Cyrus cannot run, unless `UIDCACHE_REQUIRE_CYRUS=1`.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::cyrus::Cyrus;
use support::server::Server;

/// A minimal IMAP session over plain TCP, independent of the fixture's Python.
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    n: u32,
}

impl Imap {
    fn connect(port: u16) -> Imap {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut imap = Imap {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            n: 0,
        };
        let greeting = imap.line().unwrap();
        assert!(greeting.starts_with("* OK"), "greeting: {greeting}");
        imap
    }

    /// The next line, or `None` once the server has closed the connection.
    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).ok()?;
        (n > 0).then(|| line.trim_end().to_string())
    }

    /// Sends a command; returns its untagged lines and the tagged line.
    fn try_cmd(&mut self, command: &str) -> (Vec<String>, String) {
        self.n += 1;
        let tag = format!("t{}", self.n);
        write!(self.writer, "{tag} {command}\r\n").unwrap();
        let mut untagged = Vec::new();
        loop {
            let line = self.line().expect("the server closed the connection");
            if line.starts_with(&format!("{tag} ")) {
                return (untagged, line);
            }
            untagged.push(line);
        }
    }

    /// Sends a command; returns its untagged lines, panicking unless it completes OK.
    fn cmd(&mut self, command: &str) -> Vec<String> {
        let (untagged, tagged) = self.try_cmd(command);
        assert!(
            tagged.split(' ').nth(1) == Some("OK"),
            "{command} -> {tagged}"
        );
        untagged
    }

    fn capabilities(&mut self) -> Vec<String> {
        let lines = self.cmd("CAPABILITY");
        let line = lines
            .iter()
            .find(|l| l.starts_with("* CAPABILITY "))
            .unwrap();
        line.split(' ').skip(2).map(str::to_string).collect()
    }

    fn login(port: u16) -> Imap {
        let mut imap = Imap::connect(port);
        imap.cmd("LOGIN test test");
        imap
    }
}

/// The `uidcache dump` header and message lines of a `truth()` text.
fn header(truth: &str) -> Vec<(String, String)> {
    truth
        .lines()
        .take(4)
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn value(truth: &str, name: &str) -> u64 {
    header(truth)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
        .parse()
        .unwrap()
}

/// (uid, flags, modseq) of each message line, checking the dump's invariants on the way:
/// sequence numbers 1..=exists in order, UIDs ascending below UIDNEXT, MODSEQs at most
/// HIGHESTMODSEQ, flags sorted and unique, no `\Recent`.
fn messages(truth: &str) -> Vec<(u64, String, u64)> {
    let (uidnext, highest, exists) = (
        value(truth, "uidnext"),
        value(truth, "highestmodseq"),
        value(truth, "exists"),
    );
    let mut last = 0;
    let out: Vec<_> = truth
        .lines()
        .skip(4)
        .enumerate()
        .map(|(i, l)| {
            let (seq, rest) = l.split_once(' ').unwrap();
            let (uid, rest) = rest.split_once(' ').unwrap();
            let (flags, modseq) = rest.rsplit_once(' ').unwrap();
            assert_eq!(seq.parse::<usize>().unwrap(), i + 1, "{l}");
            let (uid, modseq): (u64, u64) = (uid.parse().unwrap(), modseq.parse().unwrap());
            assert!(uid > last && uid < uidnext, "{l}");
            assert!(modseq <= highest, "{l}");
            assert!(!flags.contains("\\Recent"), "{l}");
            let names: Vec<&str> = flags
                .strip_prefix('(')
                .and_then(|f| f.strip_suffix(')'))
                .unwrap()
                .split_whitespace()
                .collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(names, sorted, "{l}");
            last = uid;
            (uid, flags.to_string(), modseq)
        })
        .collect();
    assert_eq!(out.len() as u64, exists);
    out
}

fn flags_of(truth: &str, uid: u64) -> String {
    messages(truth).into_iter().find(|m| m.0 == uid).unwrap().1
}

fn alive_for(pid: u32, dir: &Path) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(") ").next().unwrap_or("").starts_with('Z'))
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*dir.to_string_lossy()))
}

/// Two instances at once; CAPABILITY with and without CONDSTORE/QRESYNC; plaintext LOGIN
/// without TLS; `start` is idempotent and exits 3 on a taken port; drop stops both.
#[test]
fn two_instances_capabilities_and_drop() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Cyrus::start_or_skip(true));
        let b = s.spawn(|| Cyrus::start_or_skip(false));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (Some(a), Some(b)) = (a, b) else { return };
    assert_ne!(a.port(), b.port());
    for (c, qresync) in [(&a, true), (&b, false)] {
        assert!(alive_for(c.pid(), c.dir()), "pid {} runs", c.pid());
        let recorded = std::fs::read_to_string(c.dir().join("port")).unwrap();
        assert_eq!(recorded.trim(), c.port().to_string());
        assert_eq!(
            c.url("INBOX"),
            format!("imap://test@127.0.0.1:{}/INBOX", c.port())
        );
        assert!(c.ca_file().is_none() && c.ca_args().is_empty());
        let mut imap = Imap::connect(c.port());
        let pre = imap.capabilities();
        assert!(!pre.iter().any(|x| x == "STARTTLS"), "no TLS: {pre:?}");
        imap.cmd("LOGIN test test");
        let caps = imap.capabilities();
        for x in ["CONDSTORE", "QRESYNC"] {
            assert_eq!(caps.iter().any(|c| c == x), qresync, "{x} in {caps:?}");
        }
        for x in [
            "ESEARCH",
            "IDLE",
            "UIDPLUS",
            "MULTIAPPEND",
            "LITERAL+",
            "ENABLE",
        ] {
            assert!(caps.iter().any(|c| c == x), "{x} in {caps:?}");
        }
        // Suppressed or not, ENABLE QRESYNC still works (as on Dovecot).
        let enabled = imap.cmd("ENABLE QRESYNC");
        assert!(enabled.iter().any(|l| l.contains("QRESYNC")), "{enabled:?}");
        imap.cmd("LOGOUT");
    }

    // start again: the same pid; another fixture's port: exit 3.
    let start = support::cyrus::fixture_dir().join("start");
    let again = Command::new(&start)
        .arg(a.dir())
        .arg(a.port().to_string())
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        a.pid().to_string()
    );
    let other = tempfile::tempdir().unwrap();
    let taken = Command::new(&start)
        .arg(other.path().join("srv"))
        .arg(a.port().to_string())
        .output()
        .unwrap();
    assert_eq!(taken.status.code(), Some(3), "{taken:?}");
    let usage = Command::new(&start).arg(other.path()).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));

    for c in [a, b] {
        let (pid, dir, port) = (c.pid(), c.dir().to_path_buf(), c.port());
        drop(c);
        assert!(!alive_for(pid, &dir), "pid {pid} is gone after drop");
        assert!(!dir.exists(), "{} removed", dir.display());
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}

/// populate, truth (against a SELECT of its own), mutate steps, recreate, the loops, kick,
/// and a restart that keeps UIDVALIDITY and MODSEQs.
#[test]
fn populate_truth_mutate_kick_restart() {
    let Some(c) = Cyrus::start_or_skip(true) else {
        return;
    };
    c.populate("INBOX", 2000);
    let t0 = c.truth("INBOX");
    let m0 = messages(&t0);
    assert_eq!(value(&t0, "exists"), 2000);
    assert_eq!(value(&t0, "uidnext"), 2001);
    assert_eq!(
        m0.iter().map(|m| m.0).collect::<Vec<_>>(),
        (1..=2000).collect::<Vec<_>>()
    );
    assert!(m0.iter().all(|m| m.1 == "()"));

    // The header is what a SELECT (CONDSTORE) in another session says.
    let mut imap = Imap::login(c.port());
    let lines = imap.cmd("SELECT INBOX (CONDSTORE)");
    for (name, v) in header(&t0) {
        let want = if name == "exists" {
            format!("* {v} EXISTS")
        } else {
            format!("* OK [{} {v}]", name.to_uppercase())
        };
        assert!(
            lines.iter().any(|l| l.starts_with(&want)),
            "{want} in {lines:?}"
        );
    }

    // Flags and keywords, added and removed; MODSEQs move only where changed.
    c.mutate("INBOX", &["add", "\\Seen $Work Project1", "1:10"]);
    let t1 = c.truth("INBOX");
    assert_eq!(flags_of(&t1, 3), "($Work Project1 \\Seen)");
    assert_eq!(flags_of(&t1, 11), "()");
    assert!(value(&t1, "highestmodseq") > value(&t0, "highestmodseq"));
    c.mutate("INBOX", &["remove", "\\Seen", "1:5"]);
    assert_eq!(flags_of(&c.truth("INBOX"), 3), "($Work Project1)");

    // The selected session hears of another session's flag change (an unsolicited FETCH with
    // the new MODSEQ) at its next NOOP.
    c.mutate("INBOX", &["add", "\\Flagged", "20"]);
    let noop = imap.cmd("NOOP");
    assert!(
        noop.iter()
            .any(|l| l.contains("FETCH") && l.contains("\\Flagged") && l.contains("MODSEQ")),
        "{noop:?}"
    );

    // Expunge and append; percentages reproducible by seed.
    let out = c.mutate("INBOX", &["expunge", "2:4", "append", "5"]);
    assert!(
        out.contains("expunged 3") && out.contains("UID 2001:2005"),
        "{out}"
    );
    let t2 = c.truth("INBOX");
    assert_eq!(value(&t2, "exists"), 2002);
    let out = c.mutate("INBOX", &["--seed", "9", "add", "$Label2", "10%"]);
    assert!(out.contains("on 200 "), "{out}");
    c.mutate("INBOX", &["--seed", "9", "remove", "$Label2", "10%"]);
    assert!(!c.truth("INBOX").contains("$Label2"));

    // \Recent: the first session to see a new message gets it; truth() never shows it.
    let t3 = c.truth("INBOX");
    assert!(!t3.contains("\\Recent"));

    // A top-level folder beside INBOX (altnamespace), recreated by test itself: empty, with
    // a new UIDVALIDITY at once.
    c.populate("Archive", 10);
    let w0 = c.truth("Archive");
    assert_eq!(value(&w0, "exists"), 10);
    let out = c.mutate("Archive", &["recreate"]);
    assert!(out.contains("recreated"), "{out}");
    let w1 = c.truth("Archive");
    assert_ne!(value(&w1, "uidvalidity"), value(&w0, "uidvalidity"));
    assert_eq!((value(&w1, "exists"), value(&w1, "uidnext")), (0, 1));

    // Both loops say when they run, end by themselves and change the mailbox.
    for args in [
        &["--loop", "1", "--seed", "5"][..],
        &["--loop-expunge-first", "1", "--seed", "6"],
    ] {
        let before = c.truth("INBOX");
        let out = c.spawn_mutate("INBOX", args).wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("mutate: loop started\n"), "{text}");
        assert!(text.contains("loop"), "{text}");
        let after = c.truth("INBOX");
        assert!(value(&after, "highestmodseq") > value(&before, "highestmodseq"));
        if args[0] == "--loop-expunge-first" {
            assert!(value(&after, "exists") < value(&before, "exists"), "{text}");
            assert!(after.contains("$Loop"), "{text}");
        }
    }

    // kick drops the selected session; the server stays up for the next.
    c.kick();
    assert!(imap.line().is_none(), "the kicked session is closed");
    let mut again = Imap::login(c.port());
    again.cmd("SELECT INBOX");
    again.cmd("LOGOUT");

    // stop + start on the same DIR keeps the mailbox: UIDVALIDITY, MODSEQs, flags.
    let before = c.truth("INBOX");
    c.stop();
    let start = support::cyrus::fixture_dir().join("start");
    let out = Command::new(start)
        .arg(c.dir())
        .arg(c.port().to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(c.truth("INBOX"), before);
}
