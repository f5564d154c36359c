//! Self-test of the real-server fixture (`tests/fixtures/dovecot/`, `support::dovecot`):
//! two instances at once, CAPABILITY with and without QRESYNC, populate, the `truth`
//! oracle against a SELECT and doveadm, `mutate` (append, flags and keywords, expunge,
//! percentages, recreate, loop), TLS (implicit and STARTTLS) verified against the fixture's
//! CA, and that drop stops the server.
//!
//! Skips (loudly) where Dovecot cannot run, unless `UIDCACHE_REQUIRE_DOVECOT=1`.
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
use std::time::{Duration, Instant};

use support::dovecot::Dovecot;
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
        let greeting = imap.line();
        assert!(greeting.starts_with("* OK"), "greeting: {greeting}");
        imap
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).unwrap();
        assert!(n > 0, "the server closed the connection");
        line.trim_end().to_string()
    }

    /// Sends a command; returns its untagged lines, panicking unless it completes OK.
    fn cmd(&mut self, command: &str) -> Vec<String> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        write!(self.writer, "{tag} {command}\r\n").unwrap();
        let mut untagged = Vec::new();
        loop {
            let line = self.line();
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{command} -> {line}");
                return untagged;
            }
            untagged.push(line);
        }
    }

    fn capabilities(&mut self) -> Vec<String> {
        let lines = self.cmd("CAPABILITY");
        let line = lines
            .iter()
            .find(|l| l.starts_with("* CAPABILITY "))
            .unwrap();
        line.split(' ').skip(2).map(str::to_string).collect()
    }

    /// The `uidcache dump` header a SELECT (CONDSTORE) gives, as truth() prints it.
    fn select_header(&mut self, mailbox: &str) -> String {
        let lines = self.cmd(&format!("SELECT \"{mailbox}\" (CONDSTORE)"));
        let code = |name: &str| {
            lines
                .iter()
                .find_map(|l| {
                    let rest = l.strip_prefix(&format!("* OK [{name} "))?;
                    Some(rest.split(']').next()?.to_string())
                })
                .unwrap_or_else(|| panic!("no [{name}] in {lines:?}"))
        };
        let exists = lines
            .iter()
            .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS"))
            .unwrap();
        format!(
            "uidvalidity {}\nuidnext {}\nhighestmodseq {}\nexists {exists}\n",
            code("UIDVALIDITY"),
            code("UIDNEXT"),
            code("HIGHESTMODSEQ")
        )
    }
}

/// A parsed `truth()`: the header values and the message lines.
#[derive(Debug, Clone, PartialEq)]
struct Truth {
    uidvalidity: u64,
    uidnext: u64,
    highestmodseq: u64,
    exists: u64,
    /// (seq, uid, flags text with parentheses, modseq)
    messages: Vec<(u64, u64, String, u64)>,
}

impl Truth {
    fn parse(text: &str) -> Truth {
        let mut lines = text.lines();
        let mut header = |name: &str| -> u64 {
            let line = lines.next().unwrap();
            let value = line
                .strip_prefix(&format!("{name} "))
                .unwrap_or_else(|| panic!("expected {name}: {line}"));
            value.parse().unwrap()
        };
        let (uidvalidity, uidnext, highestmodseq, exists) = (
            header("uidvalidity"),
            header("uidnext"),
            header("highestmodseq"),
            header("exists"),
        );
        let messages: Vec<_> = lines
            .map(|l| {
                let (seq, rest) = l.split_once(' ').unwrap();
                let (uid, rest) = rest.split_once(' ').unwrap();
                let (flags, modseq) = rest.rsplit_once(' ').unwrap();
                assert!(flags.starts_with('(') && flags.ends_with(')'), "{l}");
                (
                    seq.parse().unwrap(),
                    uid.parse().unwrap(),
                    flags.to_string(),
                    modseq.parse().unwrap(),
                )
            })
            .collect();
        let truth = Truth {
            uidvalidity,
            uidnext,
            highestmodseq,
            exists,
            messages,
        };
        truth.check();
        truth
    }

    /// The invariants of any mailbox snapshot.
    fn check(&self) {
        assert_eq!(
            self.messages.len() as u64,
            self.exists,
            "one line per message"
        );
        let mut last_uid = 0;
        for (i, (seq, uid, flags, modseq)) in self.messages.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "sequence numbers 1..=exists in order");
            assert!(*uid > last_uid, "UIDs increase: {uid} after {last_uid}");
            assert!(
                *uid < self.uidnext,
                "UID {uid} below UIDNEXT {}",
                self.uidnext
            );
            assert!(
                *modseq <= self.highestmodseq,
                "MODSEQ {modseq} > HIGHESTMODSEQ"
            );
            assert!(!flags.contains("\\Recent"), "\\Recent is never in the dump");
            let names: Vec<&str> = flags[1..flags.len() - 1].split_whitespace().collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(names, sorted, "flags sorted and unique: {flags}");
            last_uid = *uid;
        }
    }

    fn uids(&self) -> Vec<u64> {
        self.messages.iter().map(|m| m.1).collect()
    }

    fn flags_of(&self, uid: u64) -> &str {
        &self.messages.iter().find(|m| m.1 == uid).unwrap().2
    }

    fn modseq_of(&self, uid: u64) -> u64 {
        self.messages.iter().find(|m| m.1 == uid).unwrap().3
    }

    fn count_with(&self, flag: &str) -> usize {
        self.messages
            .iter()
            .filter(|m| m.2[1..m.2.len() - 1].split(' ').any(|f| f == flag))
            .count()
    }
}

/// `openssl s_client` against 127.0.0.1:port (`starttls`: `-starttls imap`), verifying the
/// chain against `ca` and the address/name; returns (success, output).
fn s_client(port: u16, ca: &Path, starttls: bool) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(ca)
        .arg("-verify_return_error");
    if starttls {
        cmd.args(["-starttls", "imap", "-verify_hostname", "localhost"]);
    } else {
        cmd.args(["-verify_ip", "127.0.0.1"]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // "Q" makes s_client quit once the handshake is through.
    child.stdin.take().unwrap().write_all(b"Q\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = out.status.success() && text.contains("Verify return code: 0 (ok)");
    (ok, text)
}

fn pid_alive_for(pid: u32, dir: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*dir.to_string_lossy()))
}

/// Two instances at once; CAPABILITY with and without QRESYNC; TLS both ways against each
/// instance's own CA (and not against the other's); drop stops both.
#[test]
fn two_instances_capabilities_tls_and_drop() {
    let t0 = Instant::now();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Dovecot::start_or_skip(true));
        let b = s.spawn(|| Dovecot::start_or_skip(false));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (Some(a), Some(b)) = (a, b) else { return };
    eprintln!("two servers started in {:.2?}", t0.elapsed());
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    for d in [&a, &b] {
        assert_eq!(d.imaps_port(), d.port() + 1);
        let recorded = std::fs::read_to_string(d.dir().join("imaps_port")).unwrap();
        assert_eq!(recorded.trim(), d.imaps_port().to_string());
        assert!(pid_alive_for(d.pid(), d.dir()), "pid {} runs", d.pid());
        assert_eq!(
            d.url("INBOX"),
            format!("imap://test@127.0.0.1:{}/INBOX", d.port())
        );
        assert_eq!(
            d.imaps_url("Work"),
            format!("imaps://test@127.0.0.1:{}/Work", d.imaps_port())
        );
        assert_eq!(d.password(), "test");
    }

    // CAPABILITY: STARTTLS before login; CONDSTORE/QRESYNC after it only on `a`.
    for (d, qresync) in [(&a, true), (&b, false)] {
        let mut imap = Imap::connect(d.port());
        let pre = imap.capabilities();
        assert!(
            pre.iter().any(|c| c == "STARTTLS"),
            "STARTTLS offered: {pre:?}"
        );
        assert!(!pre.iter().any(|c| c == "LOGINDISABLED"), "{pre:?}");
        imap.cmd(&format!("LOGIN {} {}", d.user(), d.password()));
        let caps = imap.capabilities();
        for c in ["CONDSTORE", "QRESYNC"] {
            assert_eq!(caps.iter().any(|x| x == c), qresync, "{c} in {caps:?}");
        }
        assert!(caps.iter().any(|x| x == "ESEARCH"), "{caps:?}");
        // Even when not advertised, SELECT (CONDSTORE) works (Dovecot cannot turn it off).
        let header = imap.select_header("INBOX");
        assert!(header.starts_with("uidvalidity "), "{header}");
        imap.cmd("LOGOUT");
    }

    // TLS: each instance verifies against its own CA, implicit and STARTTLS, and not
    // against the other instance's CA.
    for (d, other) in [(&a, &b), (&b, &a)] {
        for starttls in [false, true] {
            let port = if starttls { d.port() } else { d.imaps_port() };
            let (ok, out) = s_client(port, &d.ca_file(), starttls);
            assert!(ok, "TLS (starttls {starttls}) on {port} verifies:\n{out}");
            assert!(out.contains("CN = localhost"), "{out}");
            let (ok, out) = s_client(port, &other.ca_file(), starttls);
            assert!(!ok, "a foreign CA must not verify:\n{out}");
        }
    }

    // The no-qresync instance takes mail in another mailbox too.
    b.populate("Archive", 300);
    let t = Truth::parse(&b.truth("Archive"));
    assert_eq!((t.exists, t.uidnext), (300, 301));

    // Drop stops each server by pid and removes its directory.
    let gone: Vec<_> = [a, b]
        .into_iter()
        .map(|d| {
            let (pid, dir, port) = (d.pid(), d.dir().to_path_buf(), d.port());
            let t = Instant::now();
            drop(d);
            eprintln!("stop (drop) took {:.2?}", t.elapsed());
            (pid, dir, port)
        })
        .collect();
    for (pid, dir, port) in gone {
        assert!(!pid_alive_for(pid, &dir), "pid {pid} is gone after drop");
        assert!(!dir.exists(), "{} removed", dir.display());
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} closed"
        );
    }
}

/// populate, truth (against SELECT and doveadm), mutate (append, store, expunge, random
/// percentages, recreate, loop) and doveadm changes, each seen in truth().
#[test]
fn populate_truth_mutate() {
    let Some(d) = Dovecot::start_or_skip(true) else {
        return;
    };
    let t = Instant::now();
    d.populate("INBOX", 2000);
    eprintln!("populate 2000: {:.2?}", t.elapsed());
    let t = Instant::now();
    let text = d.truth("INBOX");
    eprintln!("truth on 2000: {:.2?}", t.elapsed());
    let t0 = Truth::parse(&text);
    assert_eq!(t0.exists, 2000);
    assert_eq!(t0.messages.len(), 2000);
    assert_eq!(t0.uidnext, 2001);
    assert_eq!(t0.uids(), (1..=2000).collect::<Vec<_>>());
    assert!(t0.messages.iter().all(|m| m.2 == "()"), "no flags yet");

    // The header is what a SELECT (CONDSTORE) in another session says, and what doveadm says.
    let mut imap = Imap::connect(d.port());
    imap.cmd("LOGIN test test");
    let header: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    assert_eq!(imap.select_header("INBOX"), header);
    imap.cmd("LOGOUT");
    let status = d.doveadm(&[
        "mailbox",
        "status",
        "-u",
        "test",
        "messages uidnext uidvalidity highestmodseq",
        "INBOX",
    ]);
    assert_eq!(
        status.trim(),
        format!(
            "INBOX messages={} uidnext={} uidvalidity={} highestmodseq={}",
            t0.exists, t0.uidnext, t0.uidvalidity, t0.highestmodseq
        )
    );

    // Append.
    let out = d.mutate("INBOX", &["append", "5"]);
    assert!(out.contains("appended 5 (UID 2001:2005)"), "{out}");
    let t1 = Truth::parse(&d.truth("INBOX"));
    assert_eq!((t1.exists, t1.uidnext), (2005, 2006));
    assert_eq!(*t1.uids().last().unwrap(), 2005);
    assert_eq!(t1.uidvalidity, t0.uidvalidity);
    assert!(t1.highestmodseq > t0.highestmodseq);

    // Flags and keywords, added and removed.
    d.mutate("INBOX", &["add", "\\Seen $Work Project1", "1:10"]);
    let t2 = Truth::parse(&d.truth("INBOX"));
    for uid in 1..=10 {
        assert_eq!(t2.flags_of(uid), "($Work Project1 \\Seen)");
        assert!(t2.modseq_of(uid) > t1.highestmodseq);
    }
    assert_eq!(t2.flags_of(11), "()");
    assert_eq!(t2.modseq_of(11), t1.modseq_of(11));
    d.mutate("INBOX", &["remove", "\\Seen", "1:5"]);
    let t3 = Truth::parse(&d.truth("INBOX"));
    assert_eq!(t3.flags_of(3), "($Work Project1)");
    assert_eq!(t3.flags_of(6), "($Work Project1 \\Seen)");
    assert!(t3.highestmodseq > t2.highestmodseq);

    // Expunge given UIDs.
    d.mutate("INBOX", &["expunge", "2:4"]);
    let t4 = Truth::parse(&d.truth("INBOX"));
    assert_eq!(t4.exists, 2002);
    assert_eq!(&t4.uids()[..3], &[1, 5, 6]);
    assert_eq!(
        t4.messages[1],
        (2, 5, "($Work Project1)".to_string(), t3.modseq_of(5))
    );

    // Random percentages, reproducible by seed.
    let out = d.mutate("INBOX", &["--seed", "9", "add", "\\Flagged", "10%"]);
    assert!(out.contains("on 200 "), "{out}");
    let t5 = Truth::parse(&d.truth("INBOX"));
    assert_eq!(t5.count_with("\\Flagged"), 200);
    d.mutate("INBOX", &["--seed", "9", "remove", "\\Flagged", "10%"]);
    let t6 = Truth::parse(&d.truth("INBOX"));
    assert_eq!(
        t6.count_with("\\Flagged"),
        0,
        "the same seed picks the same UIDs"
    );
    d.mutate("INBOX", &["--seed", "4", "expunge", "1%"]);
    let t7 = Truth::parse(&d.truth("INBOX"));
    assert_eq!(t7.exists, 2002 - 20);

    // doveadm behind the server's back.
    d.doveadm(&["expunge", "-u", "test", "mailbox", "INBOX", "uid", "2005"]);
    d.doveadm(&[
        "flags", "add", "-u", "test", "$Label1", "mailbox", "INBOX", "uid", "2004",
    ]);
    let t8 = Truth::parse(&d.truth("INBOX"));
    assert!(!t8.uids().contains(&2005));
    assert!(
        t8.flags_of(2004).contains("$Label1"),
        "{}",
        t8.flags_of(2004)
    );

    // \Recent: a message APPENDed by a session with nothing selected is \Recent to the next
    // session that selects the mailbox (witnessed here once); truth() must leave it out.
    let append = |imap: &mut Imap, subject: &str| {
        let msg = format!("Subject: {subject}\r\n\r\nbody\r\n");
        imap.cmd(&format!("APPEND INBOX {{{}+}}\r\n{msg}", msg.len()));
    };
    let mut imap = Imap::connect(d.port());
    imap.cmd("LOGIN test test");
    append(&mut imap, "recent witness");
    let mut witness = Imap::connect(d.port());
    witness.cmd("LOGIN test test");
    let selected = witness.cmd("SELECT INBOX");
    assert!(selected.iter().any(|l| l == "* 1 RECENT"), "{selected:?}");
    let fetched = witness.cmd("FETCH * FLAGS");
    assert!(
        fetched.iter().any(|l| l.contains("\\Recent")),
        "{fetched:?}"
    );
    witness.cmd("LOGOUT");
    append(&mut imap, "recent for truth");
    imap.cmd("LOGOUT");
    let t9 = Truth::parse(&d.truth("INBOX")); // check() rejects \Recent
    assert_eq!(t9.exists, t8.exists + 2);
    assert_eq!(t9.messages.last().unwrap().2, "()");

    // recreate: a new UIDVALIDITY and an empty mailbox.
    d.populate("Work", 10);
    let w0 = Truth::parse(&d.truth("Work"));
    assert_eq!(w0.exists, 10);
    let out = d.mutate("Work", &["recreate"]);
    assert!(out.contains("recreated"), "{out}");
    let w1 = Truth::parse(&d.truth("Work"));
    assert_ne!(w1.uidvalidity, w0.uidvalidity);
    assert_eq!((w1.exists, w1.uidnext), (0, 1));

    // The loop keeps changing the mailbox, then ends by itself with a summary.
    let t = Instant::now();
    let child = d.spawn_mutate_loop("INBOX", 2, 5);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("loop: "), "{summary}");
    assert!(t.elapsed() >= Duration::from_secs(2));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let t10 = Truth::parse(&d.truth("INBOX"));
    assert!(t10.highestmodseq > t9.highestmodseq, "{summary}");
    assert_ne!(t10, t9);
}
