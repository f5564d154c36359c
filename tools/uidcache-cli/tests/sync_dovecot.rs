//! `uidcache sync` against a real Dovecot (the fixture in tests/fixtures/dovecot): after
//! every step the cache's dump must equal the server's truth read by an independent client
//! (Python's imaplib on a fresh connection) — exactly.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a test"
)]

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::dovecot::Dovecot;
use uidcache_engine::Cache;
use uidcache_sync::{Resync, SyncOptions, Target};

fn uidcache(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_uidcache"));
    cmd.args(args).env("UIDCACHE_PASSWORD", "test");
    cmd
}

fn run(args: &[&str]) -> Output {
    uidcache(args).stdin(Stdio::null()).output().unwrap()
}

/// `uidcache sync EXTRA... URL DIR`; panics unless it succeeds; returns the summary.
fn sync(url: &str, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["sync"];
    args.extend_from_slice(extra);
    args.push(url);
    args.push(dir.to_str().unwrap());
    let out = run(&args);
    assert!(
        out.status.success(),
        "uidcache {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn dump(dir: &Path) -> String {
    let out = run(&["dump", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What a client that does not use CONDSTORE (not advertised) can know: no MODSEQs. The
/// HIGHESTMODSEQ line is dropped too: Dovecot cannot really turn CONDSTORE off, and once the
/// oracle's own `SELECT (CONDSTORE)` has enabled modseq tracking for the mailbox, Dovecot
/// reports `[HIGHESTMODSEQ]` to every SELECT (RFC 7162 3.1.2.1), so whether the cache has
/// one depends on when the oracle first looked.
fn without_modseq(dump: &str) -> String {
    dump.lines()
        .filter(|l| !l.starts_with("highestmodseq "))
        .map(|l| {
            if l.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                let cut = l.rfind(' ').map_or(l, |i| &l[..i]);
                format!("{cut} -\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// The dump equals the server's truth, line for line (the first difference is shown).
/// Against a server that hides CONDSTORE, MODSEQs are not part of the truth.
#[track_caller]
fn assert_current(server: &Dovecot, mailbox: &str, dir: &Path, step: &str) {
    let mut truth = server.truth(mailbox);
    let mut ours = dump(dir);
    if !server.qresync() {
        truth = without_modseq(&truth);
        ours = without_modseq(&ours);
    }
    if truth != ours {
        let (t, o): (Vec<_>, Vec<_>) = (truth.lines().collect(), ours.lines().collect());
        let at = t
            .iter()
            .zip(&o)
            .position(|(a, b)| a != b)
            .unwrap_or(t.len().min(o.len()));
        panic!(
            "{step}: the cache differs from the server at line {}: server {:?}, cache {:?} \
             ({} vs {} lines)",
            at + 1,
            t.get(at),
            o.get(at),
            t.len(),
            o.len()
        );
    }
}

fn field(summary: &str, name: &str) -> String {
    summary
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {summary}"))
        .trim()
        .to_string()
}

/// (round trips, bytes sent, bytes received) from a summary.
fn traffic(summary: &str) -> (u64, u64, u64) {
    let t = field(summary, "traffic");
    let n: Vec<u64> = t.split([' ', ',']).filter_map(|w| w.parse().ok()).collect();
    (n[0], n[2], n[3])
}

fn interrupt(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn watcher(url: &str, dir: &Path, extra: &[&str]) -> Child {
    let mut args = vec!["sync", "--watch"];
    args.extend_from_slice(extra);
    args.push(url);
    args.push(dir.to_str().unwrap());
    uidcache(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops a watcher with Ctrl-C and checks that it exits cleanly with a summary.
fn stop_watcher(child: Child) -> String {
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "watch exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until the watcher has caught up with the server (it applies changes as IDLE
/// reports them; nothing is decided by time except the give-up deadline).
fn wait_until_current(server: &Dovecot, mailbox: &str, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    // The watcher's UIDNEXT and HIGHESTMODSEQ lag until its final SELECT; compare the
    // count and the records.
    let records = |s: &str| {
        let s = if server.qresync() {
            s.to_string()
        } else {
            without_modseq(s)
        };
        s.lines()
            .filter(|l| !l.starts_with("uidnext ") && !l.starts_with("highestmodseq "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    loop {
        if records(&server.truth(mailbox)) == records(&dump(dir)) {
            return;
        }
        assert!(Instant::now() < deadline, "the watcher never caught up");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn first_sync_reconnects_watch_and_transcript() {
    let Some(server) = Dovecot::start_or_skip(true) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let transcript = tmp.path().join("session.txt");
    let ca = &server.ca_arg();
    let tr = transcript.to_str().unwrap();
    server.populate("INBOX", 12_000);

    // First sync over implicit TLS, verified against the fixture's CA.
    let s = sync(
        &server.imaps_url("INBOX"),
        &dir,
        &["--ca-file", ca, "--transcript", tr],
    );
    assert!(s.contains("first sync") && s.contains("12000 new"), "{s}");
    assert_current(&server, "INBOX", &dir, "first sync");

    // A second client changes flags, keywords, expunges and appends; reconnect over
    // STARTTLS with QRESYNC.
    server.mutate(
        "INBOX",
        &[
            "--seed",
            "7",
            "append",
            "40",
            "add",
            "\\Seen $Work",
            "5%",
            "remove",
            "\\Seen",
            "1%",
            "add",
            "Project1",
            "1:100",
            "expunge",
            "2%",
        ],
    );
    let s = sync(
        &server.url("INBOX"),
        &dir,
        &["--ca-file", ca, "--transcript", tr],
    );
    assert!(s.contains("(QRESYNC)"), "{s}");
    assert!(s.contains("40 new"), "{s}");
    let (round_trips, _, received) = traffic(&s);
    assert!(
        round_trips <= 10,
        "a QRESYNC reconnect took {round_trips} round trips: {s}"
    );
    assert!(
        received < 200_000,
        "a QRESYNC reconnect received {received} bytes: {s}"
    );
    assert_current(&server, "INBOX", &dir, "QRESYNC reconnect");

    // Stay connected while the second client keeps changing the mailbox; halfway, the
    // server drops the connection (doveadm kick) and the watcher must reconnect.
    let watch = watcher(
        &server.url("INBOX"),
        &dir,
        &["--ca-file", ca, "--transcript", tr],
    );
    let out = server
        .spawn_mutate_loop("INBOX", 3, 11)
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "mutate --loop failed");
    wait_until_current(&server, "INBOX", &dir);
    server.doveadm(&["kick", "test"]);
    let out = server
        .spawn_mutate_loop("INBOX", 3, 12)
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "mutate --loop failed");
    wait_until_current(&server, "INBOX", &dir);
    let s = stop_watcher(watch);
    assert!(s.contains("1 reconnects"), "{s}");
    assert_current(&server, "INBOX", &dir, "after --watch");

    // The other ways to catch up converge too.
    for (k, how) in ["condstore", "full"].iter().enumerate() {
        let seed = (20 + k).to_string();
        server.mutate(
            "INBOX",
            &[
                "--seed", &seed, "append", "5", "add", "$Label2", "1%", "expunge", "1%",
            ],
        );
        let s = sync(
            &server.url("INBOX"),
            &dir,
            &["--ca-file", ca, "--resync", how, "--transcript", tr],
        );
        assert!(
            s.contains(if *how == "full" {
                "full refetch"
            } else {
                "CONDSTORE"
            }),
            "{s}"
        );
        assert_current(&server, "INBOX", &dir, how);
    }

    // The transcript of all those sessions replays to the same cache.
    let replayed = tmp.path().join("replayed");
    let out = run(&["replay", replayed.to_str().unwrap(), tr]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        dump(&replayed),
        dump(&dir),
        "the transcript replays differently"
    );
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(
        text.contains("LOGIN \"test\" ***"),
        "the login is not masked"
    );
    assert!(!text.contains(" \"test\" \"test\""), "the password leaked");
    assert!(uidcache_fsck::check(&dir).unwrap().is_clean());
}

#[test]
fn a_killed_sync_resumes_to_the_same_state() {
    let Some(server) = Dovecot::start_or_skip(true) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    server.populate("INBOX", 60_000);
    let url = server.url("INBOX");
    let ca = &server.ca_arg();
    let mut kills = 0;
    // Kill points chosen by a small LCG and found by progress, not time: the sync writes its
    // transcript at every commit, and is killed (SIGKILL) once it shows K completed commands,
    // K from 4 to 153 of the ~600 (blocks of 100); twice per trial, the mailbox changing in
    // between, then a sync to the end.
    let mut seed: u64 = 0x5eed;
    for trial in 0..3 {
        let dir = tmp.path().join(format!("cache{trial}"));
        for attempt in 0..2 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let kill_at = 4 + (seed >> 33) % 150;
            let transcript = tmp.path().join(format!("t{trial}-{attempt}.txt"));
            let mut child = uidcache(&["sync", "--block", "100", "--ca-file", ca, &url])
                .arg(&dir)
                .arg("--transcript")
                .arg(&transcript)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let completed = || {
                let text = std::fs::read(&transcript).unwrap_or_default();
                text.split(|b| *b == b'\n')
                    .filter(|l| l.starts_with(b"S: u") && l.windows(4).any(|w| w == b" OK "))
                    .count() as u64
            };
            while completed() < kill_at && child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(1));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            }
            child.wait().unwrap();
            // The killed cache is sound (orphan block files of the killed commit are
            // notes, removed by the next writer's open; a directory killed before its
            // first index is an empty cache).
            if dir.exists() {
                let report = uidcache_fsck::check(&dir).unwrap();
                assert!(!report.has_damage(), "trial {trial}: {report:?}");
            }
            let seed_arg = (trial * 2 + attempt).to_string();
            server.mutate(
                "INBOX",
                &[
                    "--seed",
                    &seed_arg,
                    "append",
                    "20",
                    "add",
                    "\\Flagged",
                    "0.5%",
                    "expunge",
                    "0.5%",
                ],
            );
        }
        sync(&url, &dir, &["--ca-file", ca]);
        assert_current(
            &server,
            "INBOX",
            &dir,
            &format!("trial {trial}: after kills and a last sync"),
        );
    }
    assert!(
        kills >= 3,
        "only {kills} of 6 syncs were still running when killed"
    );
}

#[test]
fn a_new_uidvalidity_resets_the_cache() {
    let Some(server) = Dovecot::start_or_skip(true) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let ca = &server.ca_arg();
    server.populate("Archive", 2_000);
    let url = server.url("Archive");
    sync(&url, &dir, &["--ca-file", ca]);
    assert_current(&server, "Archive", &dir, "first sync");
    let before = dump(&dir);
    server.mutate("Archive", &["recreate"]);
    let s = sync(&url, &dir, &["--ca-file", ca]);
    assert!(s.contains("UIDVALIDITY changed"), "{s}");
    assert!(s.contains("2000 expunged"), "{s}");
    assert_ne!(before.lines().next(), dump(&dir).lines().next());
    assert_current(&server, "Archive", &dir, "after recreate (empty)");
    server.mutate("Archive", &["append", "1500"]);
    let s = sync(&url, &dir, &["--ca-file", ca]);
    assert!(s.contains("1500 new"), "{s}");
    assert_current(&server, "Archive", &dir, "after recreate and new mail");
}

#[test]
fn a_server_without_qresync_still_converges() {
    let Some(server) = Dovecot::start_or_skip(false) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ca = &server.ca_arg();
    server.populate("INBOX", 10_000);
    let url = server.url("INBOX");
    for (name, extra) in [("flags", vec![]), ("uids", vec!["--uids-only"])] {
        let dir = tmp.path().join(name);
        let mut args = vec!["--ca-file", ca];
        args.extend(extra.iter().copied());
        sync(&url, &dir, &args);
        server.mutate(
            "INBOX",
            &[
                "--seed",
                "3",
                "append",
                "30",
                "add",
                "\\Answered Project1",
                "2%",
                "expunge",
                "1%",
            ],
        );
        let s = sync(&url, &dir, &args);
        assert!(!s.contains("QRESYNC"), "{s}");
        if name == "flags" {
            assert_current(&server, "INBOX", &dir, "reconnect without QRESYNC");
            let tr = tmp.path().join("watch.txt");
            let watch = watcher(
                &url,
                &dir,
                &[
                    "--ca-file",
                    ca,
                    "--poll",
                    "1",
                    "--transcript",
                    tr.to_str().unwrap(),
                ],
            );
            let out = server
                .spawn_mutate_loop("INBOX", 3, 5)
                .wait_with_output()
                .unwrap();
            assert!(out.status.success());
            wait_until_current(&server, "INBOX", &dir);
            stop_watcher(watch);
            // Without QRESYNC or CONDSTORE the watcher does not reselect on its way out
            // (that would refetch everything), so UIDNEXT may lag; a plain sync then agrees.
            let s = sync(&url, &dir, &args);
            assert!(s.contains("full refetch"), "{s}");
            let text = std::fs::read_to_string(&tr).unwrap();
            let used: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.starts_with("C: ") && (l.contains("MODSEQ") || l.contains("CONDSTORE"))
                })
                .take(5)
                .collect();
            assert!(
                used.is_empty(),
                "CONDSTORE was used though not advertised: {used:?}"
            );
            assert_current(&server, "INBOX", &dir, "watch without QRESYNC");
        } else {
            // UIDs only: positions exact, flags never learned.
            let uids = |s: &str| {
                s.lines()
                    .skip(4)
                    .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
            };
            assert_eq!(uids(&server.truth("INBOX")), uids(&dump(&dir)));
            assert!(dump(&dir).lines().skip(4).all(|l| l.ends_with(" - -")));
        }
    }
}

#[test]
fn refuses_bad_passwords_and_untrusted_servers() {
    let Some(server) = Dovecot::start_or_skip(true) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let wrong = tmp.path().join("password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let out = run(&[
        "sync",
        "--ca-file",
        &server.ca_arg(),
        "--password-file",
        wrong.to_str().unwrap(),
        &server.url("INBOX"),
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the login"), "{err}");

    // Without the fixture's CA the certificate is not trusted: no fallback to plain text,
    // neither with imaps:// nor with STARTTLS.
    for url in [server.imaps_url("INBOX"), server.url("INBOX")] {
        let out = run(&["sync", &url, dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("TLS"), "{url}: {err}");
    }

    // A mailbox that does not exist is an error naming the command.
    let out = run(&[
        "sync",
        "--ca-file",
        &server.ca_arg(),
        &server.url("No/Such/Box"),
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SELECT"));
}

/// The figures of the issue: a reconnect after 1% of 100,000 messages changed, with QRESYNC,
/// with CONDSTORE and with a full refetch. Asserts only what protocol choice guarantees (far
/// fewer bytes with QRESYNC); prints the figures for the README.
#[test]
fn reconnect_cost_after_one_percent_changed() {
    let Some(server) = Dovecot::start_or_skip(true) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ca = &server.ca_arg();
    let url = server.url("INBOX");
    server.populate("INBOX", 100_000);
    let base = tmp.path().join("base");
    let first = sync(&url, &base, &["--ca-file", ca, "--no-fsync"]);
    server.mutate(
        "INBOX",
        &[
            "--seed", "9", "add", "\\Seen", "0.5%", "add", "$Work", "0.25%", "expunge", "0.25%",
        ],
    );
    let mut figures = vec![("first sync", traffic(&first))];
    for how in ["auto", "condstore", "full"] {
        let dir = tmp.path().join(how);
        let out = Command::new("cp")
            .args(["-r", base.to_str().unwrap(), dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(out.success());
        let s = sync(&url, &dir, &["--ca-file", ca, "--resync", how]);
        assert_current(&server, "INBOX", &dir, how);
        figures.push((how, traffic(&s)));
    }
    for (name, (rt, sent, received)) in &figures {
        eprintln!("reconnect figures: {name}: {rt} round trips, {sent} bytes sent, {received} bytes received");
    }
    let bytes = |i: usize| figures[i].1 .1 + figures[i].1 .2;
    assert!(
        bytes(1) * 10 < bytes(3),
        "QRESYNC {} vs full {}",
        bytes(1),
        bytes(3)
    );
}

/// RFC 7162's rule as the issue states it: never record a HIGHESTMODSEQ before every change
/// up to it is applied and committed. A CONDSTORE catch-up learns the new HIGHESTMODSEQ from
/// SELECT before it has refetched the changed flags; stopped right there, the cache must
/// still claim the old value.
#[test]
fn an_interrupted_condstore_catch_up_keeps_the_old_highestmodseq() {
    let Some(server) = Dovecot::start_or_skip(true) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    server.populate("INBOX", 3_000);
    let options = || {
        let mut o = SyncOptions::new(Target::parse(&server.url("INBOX")).unwrap(), "test".into());
        o.ca_file = Some(server.ca_file());
        o.resync = Resync::Condstore;
        o
    };
    let mut cache = Cache::open(&dir).unwrap();
    uidcache_sync::sync(&mut cache, &mut options()).unwrap();
    let old = cache.view().highestmodseq();
    assert!(old.is_some());
    server.mutate("INBOX", &["--seed", "4", "add", "\\Seen $Work", "10%"]);

    // Stop at the first progress report of the catch-up: after SELECT, before any FETCH.
    let mut o = options();
    let stop = std::sync::Arc::clone(&o.interrupt);
    o.on_progress = Some(Box::new(move |_| {
        stop.store(true, std::sync::atomic::Ordering::SeqCst)
    }));
    let r = uidcache_sync::sync(&mut cache, &mut o);
    assert!(matches!(r, Err(uidcache_sync::Error::Interrupted)), "{r:?}");
    assert_eq!(
        cache.view().highestmodseq(),
        old,
        "a HIGHESTMODSEQ was claimed too early"
    );
    drop(cache);

    let mut cache = Cache::open(&dir).unwrap();
    let s = uidcache_sync::sync(&mut cache, &mut options()).unwrap();
    assert!(s.highestmodseq > old);
    assert_eq!(s.changes.changed, 300, "{s}");
    drop(cache);
    assert_current(&server, "INBOX", &dir, "after the interrupted catch-up");
}

/// Syncs run *while* a second client appends, stores flags and keywords, and expunges (20
/// changes a second): every sync must succeed (expunges during a `UID SEARCH` void its
/// answer, which is asked again), and once the changes stop one more sync is exact.
#[test]
fn syncs_during_concurrent_changes_succeed_and_converge() {
    let Some(server) = Dovecot::start_or_skip(true) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ca = &server.ca_arg();
    let url = server.url("INBOX");
    server.populate("INBOX", 20_000);
    let mut changes = Command::new(support::dovecot::fixture_dir().join("mutate"))
        .arg(server.dir())
        .args(["--loop", "6", "--rate", "20", "--seed", "13"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let flags = tmp.path().join("flags");
    let uids = tmp.path().join("uids");
    // Rounds of syncs until the changes stop (at least two, however slow the machine).
    let mut rounds = 0;
    loop {
        sync(&url, &flags, &["--ca-file", ca, "--block", "700"]);
        sync(
            &url,
            &uids,
            &["--ca-file", ca, "--block", "700", "--uids-only"],
        );
        rounds += 1;
        if rounds >= 2 && changes.try_wait().unwrap().is_some() {
            break;
        }
    }
    assert!(changes.wait().unwrap().success());
    sync(&url, &flags, &["--ca-file", ca]);
    assert_current(&server, "INBOX", &flags, "after concurrent changes");
    sync(&url, &uids, &["--ca-file", ca, "--uids-only"]);
    let positions = |s: &str| {
        s.lines()
            .skip(4)
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(positions(&server.truth("INBOX")), positions(&dump(&uids)));
}
