//! The `uidcache` command as a black box: every error kind exits 1, names the line, and
//! leaves the cache at the last commit point; usage errors exit 2.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use std::path::Path;
use std::process::{Command, Output};

fn uidcache(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_uidcache"));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn dump(dir: &Path) -> String {
    let out = uidcache(&["dump", dir.to_str().unwrap()], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PREFIX: &str = "\
C: a SELECT INBOX
S: * 4 EXISTS
S: * OK [UIDVALIDITY 77] x
S: a OK done
C: b UID SEARCH 1:2
S: * SEARCH 10 20
S: b OK done
C: c NOOP
S: * 3 FETCH (UID 30 FLAGS (\\Seen) MODSEQ (5))
S: * 5 EXISTS
";

/// (what, the bad tail, its line number counted from the end of PREFIX)
const ERRORS: &[(&str, &str)] = &[
    ("not a transcript line", "hello\n"),
    ("malformed response", "S: * 3 FETCH (UID x)\n"),
    ("EXISTS shrank", "S: * 2 EXISTS\n"),
    ("EXPUNGE past the count", "S: * 6 EXPUNGE\n"),
    ("FETCH past the count", "S: * 9 FETCH (FLAGS ())\n"),
    ("UID order", "S: * 4 FETCH (UID 25)\n"),
    ("UID conflict", "S: * 1 FETCH (UID 11)\n"),
];

/// A search answer whose count does not fit its range is an expunge the server held back
/// (Cyrus does this): not an error, and nothing of it is learned.
#[test]
fn a_search_answer_of_the_wrong_count_is_not_learned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let text = format!("{PREFIX}C: d UID SEARCH 3:5\nS: * SEARCH 30 40\nS: d OK done\n");
    let out = uidcache(
        &["replay", "--no-fsync", dir.to_str().unwrap()],
        Some(&text),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dump(&dir);
    assert!(!d.contains(" 40 "), "{d}");
    assert!(d.contains("\n3 30 (\\Seen) 5\n"), "{d}");
}

#[test]
fn every_error_exits_1_names_the_line_and_keeps_the_last_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    // The cache as of the last commit point before the bad line (b OK).
    let committed: String = PREFIX.lines().take(7).map(|l| format!("{l}\n")).collect();
    let out = uidcache(
        &["replay", "--no-fsync", good.to_str().unwrap()],
        Some(&committed),
    );
    assert_eq!(out.status.code(), Some(0));
    let expected = dump(&good);
    for (i, (what, tail)) in ERRORS.iter().enumerate() {
        let dir = tmp.path().join(format!("e{i}"));
        let text = format!("{PREFIX}{tail}");
        let bad_line = text.lines().count();
        let file = tmp.path().join(format!("t{i}.txt"));
        std::fs::write(&file, &text).unwrap();
        let out = uidcache(
            &["replay", dir.to_str().unwrap(), file.to_str().unwrap()],
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(&format!("line {bad_line}:")), "{what}: {err}");
        assert_eq!(dump(&dir), expected, "{what}");
    }
}

#[test]
fn continues_an_existing_cache_and_reads_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let d = dir.to_str().unwrap();
    assert_eq!(
        uidcache(&["replay", d, "-"], Some(PREFIX)).status.code(),
        Some(0)
    );
    assert_eq!(
        uidcache(&["replay", d], Some("S: c OK [HIGHESTMODSEQ 9] done\n"))
            .status
            .code(),
        Some(0)
    );
    // A replay that continues a cache with records cannot know whether their flags are
    // current (format-spec 9.1, the hold): the code is not stored...
    assert_eq!(
        dump(&dir),
        "uidvalidity 77\nuidnext -\nhighestmodseq -\nexists 5\n1 10 - -\n2 20 - -\n3 30 (\\Seen) 5\n"
    );
    // ...until every flag is fetched.
    let catch_up = "C: d UID FETCH 1:* (FLAGS)\nS: * 3 FETCH (UID 30 FLAGS (\\Seen))\n\
                    S: d OK [HIGHESTMODSEQ 9] done\n";
    assert_eq!(
        uidcache(&["replay", d], Some(catch_up)).status.code(),
        Some(0)
    );
    assert_eq!(
        dump(&dir),
        "uidvalidity 77\nuidnext -\nhighestmodseq 9\nexists 5\n1 10 - -\n2 20 - -\n3 30 (\\Seen) 5\n"
    );
    let needed = uidcache(&["needed", d, "5", "--max", "100"], None);
    assert_eq!(String::from_utf8_lossy(&needed.stdout), "4:5\n");
    let q = uidcache(&["qresync", d], None);
    assert_eq!(
        String::from_utf8_lossy(&q.stdout),
        "(QRESYNC (77 9 10,20,30 (2,3 20,30)))\n"
    );
    let stat = uidcache(&["stat", d], None);
    assert_eq!(stat.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&stat.stdout).contains("3 placed"));
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(uidcache(&["replay"], None).status.code(), Some(2));
    assert_eq!(uidcache(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(
        uidcache(&["dump", "/nonexistent/uidcache"], None)
            .status
            .code(),
        Some(2)
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("c");
    assert_eq!(
        uidcache(&["replay", d.to_str().unwrap(), "/nonexistent/t.txt"], None)
            .status
            .code(),
        Some(2)
    );
    for sub in ["replay", "dump", "stat", "needed", "qresync", "demo"] {
        let out = uidcache(&[sub, "--help"], None);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Exit codes"),
            "{sub}"
        );
    }
}

#[test]
fn hostile_input_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("c");
    for text in [
        "S: * 4294967295 EXISTS\nS: * VANISHED 1:4294967295\nS: a OK x\n",
        "S: * ESEARCH (TAG \"a\") UID ALL 1:4294967295\n",
        "C: a UID SEARCH 1:*\nS: * 3 EXISTS\nS: * ESEARCH (TAG \"a\") UID ALL 1:4294967295\nS: a OK\n",
        "S: \u{0}\u{ff}\nS: *\nS: * 1 FETCH (FLAGS (\nS: a OK [HIGHESTMODSEQ x]\n",
        "C: \nC: a SELECT\nS: * OK [CLOSED]\nS: * 2 EXISTS\n",
    ] {
        let out = uidcache(&["replay", "--no-fsync", d.to_str().unwrap()], Some(text));
        assert!(matches!(out.status.code(), Some(0) | Some(1)), "{text}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Defect 4 of the hostile-input issue: a 4-line transcript claiming 2^32 - 1 messages and
/// answering a search with all of them made the process allocate without bound. A count
/// above `MAX_MESSAGES` is now refused, naming its line, with nothing committed; a large
/// count within the limit, and a search answer of 300,000 UIDs (which the transaction
/// writes out in blocks before its commit), commit as before.
#[test]
fn defect_4_counts_beyond_the_limit_are_refused_naming_the_line_and_large_answers_commit() {
    use uidcache_engine::{Cache, MAX_MESSAGES};
    let tmp = tempfile::tempdir().unwrap();
    let refused = [
        (
            "S: * 4294967295 EXISTS\nC: A1 UID SEARCH RETURN (ALL) 1:*\n\
             S: * ESEARCH (TAG \"A1\") UID ALL 1:4294967295\nS: A1 OK done\n"
                .to_string(),
            "line 1:",
        ),
        (
            format!(
                "C: a SELECT INBOX\nS: * {} EXISTS\nS: * OK [UIDVALIDITY 7] x\nS: a OK done\n",
                MAX_MESSAGES + 1
            ),
            "line 2:",
        ),
    ];
    for (i, (text, line)) in refused.iter().enumerate() {
        let d = tmp.path().join(format!("refused{i}"));
        let out = uidcache(&["replay", "--no-fsync", d.to_str().unwrap()], Some(text));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {err}");
        assert!(err.contains(line), "{text}: {err}");
        assert!(err.contains(&MAX_MESSAGES.to_string()), "{text}: {err}");
        let cache = Cache::open_read_only(&d).unwrap();
        assert_eq!(
            cache.view().exists(),
            None,
            "{text}: something was committed"
        );
    }
    // Replays `text` into a new cache named `name`, which must succeed, and opens it.
    let replayed = |name: &str, text: &str| {
        let d = tmp.path().join(name);
        let out = uidcache(&["replay", "--no-fsync", d.to_str().unwrap()], Some(text));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        Cache::open_read_only(&d).unwrap()
    };
    // The limit itself is a count like any other.
    let text = format!(
        "C: a SELECT INBOX\nS: * {MAX_MESSAGES} EXISTS\nS: * OK [UIDVALIDITY 7] x\nS: a OK done\n"
    );
    assert_eq!(
        replayed("at-limit", &text).view().exists(),
        Some(MAX_MESSAGES)
    );
    // A large answer within the limit: every UID learned at its position.
    let n = 300_000u32;
    let text = format!(
        "C: a SELECT INBOX\nS: * {n} EXISTS\nS: * OK [UIDVALIDITY 7] x\nS: a OK done\n\
         C: b UID SEARCH RETURN (ALL) 1:{n}\nS: * ESEARCH (TAG \"b\") UID ALL 5:{}\nS: b OK done\n",
        n + 4
    );
    let cache = replayed("large", &text);
    let placed = cache.view().placed_messages().unwrap();
    assert_eq!(placed.len(), n as usize);
    assert!(placed.iter().all(|(seq, m)| m.uid == seq + 4));
}

/// A reader that stops early (`| head`) closes stdout: every printing command exits quietly
/// (status 0, nothing on stderr), never with a panic.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let d = dir.to_str().unwrap();
    // Enough records that dump writes more than a pipe holds after the reader is gone.
    let mut text = String::from(
        "C: a SELECT INBOX (CONDSTORE)\nS: * 20000 EXISTS\nS: * OK [UIDVALIDITY 7] x\n\
         S: * OK [HIGHESTMODSEQ 9] x\nS: a OK done\nC: b UID SEARCH RETURN (ALL) 1:20000\n\
         S: * ESEARCH (TAG \"b\") UID ALL 1:20000\nS: b OK done\n",
    );
    text.push_str("C: c NOOP\nS: c OK done\n");
    let out = uidcache(&["replay", "--no-fsync", d], Some(&text));
    assert_eq!(out.status.code(), Some(0));
    for args in [
        vec!["dump", d],
        vec!["stat", d],
        vec!["qresync", d],
        vec!["needed", d, "1"],
        vec!["demo", "--messages", "2000"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_uidcache"))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

fn fsck_check(dir: &Path) -> uidcache_fsck::Report {
    uidcache_fsck::check(dir).unwrap()
}

/// A sync during which mail arrived: the server said UIDNEXT 31, then two new messages
/// with UIDs 31 and 40 were learned. fsck: consistent (a note on the stale UIDNEXT).
#[test]
fn a_stale_uidnext_after_new_mail_is_a_note_not_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let text = "\
C: a SELECT INBOX
S: * 2 EXISTS
S: * OK [UIDVALIDITY 77] x
S: * OK [UIDNEXT 31] x
S: a OK done
C: b UID SEARCH 1:2
S: * SEARCH 10 20
S: b OK done
C: c NOOP
S: * 4 EXISTS
S: c OK done
C: d FETCH 3:4 (UID)
S: * 3 FETCH (UID 31)
S: * 4 FETCH (UID 40)
S: d OK done
";
    let out = uidcache(&["replay", dir.to_str().unwrap()], Some(text));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dump(&dir).starts_with("uidvalidity 77\nuidnext 31\n"));
    let report = fsck_check(&dir);
    assert!(!report.has_damage(), "{:?}", report.problems);
    let notes: Vec<_> = report.notes().collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        (notes[0].structure.as_str(), notes[0].field.as_str()),
        ("IndexHeader", "uidnext")
    );
    assert!(notes[0].found.contains("31 not above UID 40"), "{notes:?}");
}

/// A long transcript: `blocks` commits, each learning 400 UIDs into a new block file.
fn long_transcript(blocks: u32) -> String {
    let per = 400u32;
    let mut t = format!(
        "C: a SELECT INBOX\nS: * {} EXISTS\nS: * OK [UIDVALIDITY 5] x\nS: * OK [UIDNEXT {}] x\nS: a OK done\n",
        blocks * per,
        blocks * per * 2 + 1
    );
    for b in 0..blocks {
        let (lo, hi) = (b * per + 1, (b + 1) * per);
        t += &format!("C: s{b} UID SEARCH {lo}:{hi}\nS: * SEARCH");
        for seq in lo..=hi {
            t += &format!(" {}", seq * 2);
        }
        t += &format!("\nS: s{b} OK done\n");
    }
    t
}

/// `uidcache replay` killed with SIGKILL at many points of a long transcript: every time
/// the cache has no damage (its leftovers are notes that the next writer removes), reads
/// with `dump` (exit 0), and a second replay completes it. At least one kill must leave a
/// leftover (so that the run exercises notes: `--strict` would fail there, plain fsck not).
#[test]
fn a_sigkilled_replay_leaves_notes_never_damage() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let transcript = tmp.path().join("t.txt");
    std::fs::write(&transcript, long_transcript(300)).unwrap();
    let mut with_notes = 0;
    let mut kills = 0;
    let started = std::time::Instant::now();
    let mut round = 0u64;
    while round < 12 || (with_notes == 0 && started.elapsed().as_secs() < 60) {
        round += 1;
        let dir = tmp.path().join(format!("c{round}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_uidcache"))
            .args([
                "replay",
                dir.to_str().unwrap(),
                transcript.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill points spread over the run by progress, not by time alone: wait until the
        // replay has written some block files (one a commit), then a little more.
        let want = 2 + (round * 37) % 200;
        let written = || std::fs::read_dir(dir.join("blocks")).map_or(0, |d| d.count() as u64);
        while written() < want && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        std::thread::sleep(std::time::Duration::from_micros(round * 131 % 3_000));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        let report = fsck_check(&dir);
        assert!(!report.has_damage(), "round {round}: {:?}", report.problems);
        if !report.is_clean() {
            with_notes += 1;
        }
        assert!(dump(&dir).starts_with("uidvalidity 5\n"), "round {round}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!("{round} rounds, {kills} kills, {with_notes} left notes");
    assert!(kills > 0, "the replay always finished before the kill");
    assert!(with_notes > 0, "{kills} kills left no leftover at all");
}

/// A writer's first open stopped before its index: `lock` and an empty `blocks/`. `dump`
/// prints the empty state (exit 0) instead of "no cache here".
#[test]
fn dump_of_a_lock_only_directory_prints_the_empty_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    std::fs::create_dir_all(dir.join("blocks")).unwrap();
    std::fs::write(dir.join("lock"), b"").unwrap();
    assert_eq!(
        dump(&dir),
        "uidvalidity -\nuidnext -\nhighestmodseq -\nexists -\n"
    );
    assert!(!fsck_check(&dir).has_damage());
    // A directory no writer ever opened is still not a cache.
    let empty = tmp.path().join("e");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        uidcache(&["dump", empty.to_str().unwrap()], None)
            .status
            .code(),
        Some(2)
    );
}

/// The index deleted while the journal and block files remain: damage. `dump` exits 1 (not
/// 2 "no cache here"), a writer (`replay`) refuses instead of starting a fresh cache over the
/// remaining blocks, and after a repair (what `uidcache-fsck --repair` runs) the cache
/// checks clean: reset, since the journal continued a checkpoint that is gone.
#[test]
fn a_deleted_index_is_damage_for_dump_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let d = dir.to_str().unwrap();
    assert_eq!(
        uidcache(&["replay", d], Some(&long_transcript(2)))
            .status
            .code(),
        Some(0)
    );
    let blocks = || std::fs::read_dir(dir.join("blocks")).unwrap().count();
    let before = blocks();
    assert!(before > 0);
    std::fs::remove_file(dir.join("index")).unwrap();
    let out = uidcache(&["dump", d], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("index") && err.contains("repair"), "{err}");
    let out = uidcache(&["replay", d], Some("S: * 801 EXISTS\n"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(blocks(), before, "the writer must not unlink the blocks");
    assert!(!dir.join("index").exists());
    assert!(fsck_check(&dir).has_damage());
    let repaired = uidcache_fsck::repair(&dir).unwrap();
    assert!(repaired.has_damage());
    assert!(fsck_check(&dir).is_clean());
    assert_eq!(
        dump(&dir),
        "uidvalidity -\nuidnext -\nhighestmodseq -\nexists -\n"
    );
}

/// Runs `bin args`, killing it after 30 s: a hang is a failure, not a stuck test run.
fn in_time(bin: &str, args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{bin} {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `blocks/<id>.ucb` of the lowest-named block file of the cache at `dir`.
fn first_block_file(dir: &std::path::Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ucb"))
        .collect();
    names.sort();
    format!(
        "blocks/{}",
        names.first().expect("the replay wrote a block")
    )
}

/// Defect: a FIFO in place of a block file, the index or the journal hung `dump` forever.
/// `dump` fails naming it (exit 1, damage); after a repair (which renames it aside,
/// `uidcache-fsck`'s own tests run its binary on this) the cache dumps again.
#[test]
fn a_fifo_in_place_of_a_file_never_hangs_dump() {
    for victim in ["index", "journal", "a block file"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        let d = dir.as_os_str();
        let out = uidcache(
            &["replay", dir.to_str().unwrap()],
            Some(&long_transcript(2)),
        );
        assert_eq!(out.status.code(), Some(0));
        // Which block IDs survive depends on the compaction steps the replay paid for.
        let victim = match victim {
            "a block file" => first_block_file(&dir),
            file => file.to_string(),
        };
        let victim = victim.as_str();
        let path = dir.join(victim);
        std::fs::remove_file(&path).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let (code, err) = in_time(env!("CARGO_BIN_EXE_uidcache"), &["dump".as_ref(), d]);
        assert_eq!(code, Some(1), "{victim}: {err}");
        assert!(
            err.contains(victim) && err.contains("FIFO"),
            "{victim}: {err}"
        );
        assert!(fsck_check(&dir).has_damage(), "{victim}");
        uidcache_fsck::repair(&dir).unwrap();
        assert!(dir.join(format!("{victim}.damaged")).exists(), "{victim}");
        assert!(!fsck_check(&dir).has_damage(), "{victim}");
        assert_eq!(
            in_time(env!("CARGO_BIN_EXE_uidcache"), &["dump".as_ref(), d]).0,
            Some(0),
            "{victim}"
        );
    }
}
