//! The HIGHESTMODSEQ rule made safe against servers that hold expunges back (RFC 3501 7.4.1)
//! while they report other clients' flag changes with higher MODSEQs: each transcript here
//! is what Cyrus or Dovecot sent, and the dump says what the cache may claim.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

mod common;

fn run(text: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    common::replay_dump(&tmp.path().join("c"), text).unwrap()
}

fn highestmodseq(dump: &str) -> String {
    dump.lines().nth(2).unwrap().to_string()
}

const SELECTED: &str = "\
C: a1 SELECT INBOX (CONDSTORE)
S: * 3 EXISTS
S: * OK [UIDVALIDITY 7] ok
S: * OK [UIDNEXT 4] ok
S: * OK [HIGHESTMODSEQ 10] ok
S: a1 OK [READ-WRITE] done
";

/// Another client expunged UID 1 (MODSEQ 11) and then flagged UID 3 (MODSEQ 12) during our
/// FETCH. Cyrus reports the flag change at once and the expunge only at the NOOP, and ends
/// the FETCH with a plain OK. Storing 12 at the FETCH would make the next
/// `SELECT (QRESYNC (7 12))` skip the expunge for ever.
const CYRUS_FETCH: &str = "\
C: a2 FETCH 1:3 (UID FLAGS MODSEQ)
S: * 1 FETCH (UID 1 FLAGS () MODSEQ (5))
S: * 2 FETCH (UID 2 FLAGS () MODSEQ (5))
S: * 3 FETCH (UID 3 FLAGS () MODSEQ (5))
S: * 3 FETCH (MODSEQ (12) FLAGS (\\Seen))
S: a2 OK Completed (0.001 sec)
";

#[test]
fn a_fetch_ended_by_a_plain_ok_stores_nothing_past_a_held_back_expunge() {
    let text = format!("{SELECTED}{CYRUS_FETCH}");
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 10");
}

#[test]
fn the_noop_that_reports_the_held_back_expunge_releases_the_modseq() {
    let text = format!("{SELECTED}{CYRUS_FETCH}C: a3 NOOP\nS: * 1 EXPUNGE\nS: a3 OK Completed\n");
    assert_eq!(
        run(&text),
        "uidvalidity 7\nuidnext 4\nhighestmodseq 12\nexists 2\n\
         1 2 () 5\n2 3 (\\Seen) 12\n"
    );
}

/// The pending maximum survives completions that release nothing (STORE, SEARCH, UID FETCH)
/// and joins what arrives later.
#[test]
fn the_pending_maximum_waits_through_store_and_search() {
    let text = format!(
        "{SELECTED}{CYRUS_FETCH}\
C: a3 UID STORE 2 +FLAGS (\\Flagged)
S: * 2 FETCH (UID 2 MODSEQ (13) FLAGS (\\Flagged))
S: a3 OK Completed
C: a4 UID SEARCH 1:3
S: * SEARCH 1 2 3
S: a4 OK Completed
C: a5 UID FETCH 1:* (FLAGS)
S: * 1 FETCH (UID 1 FLAGS ())
S: a5 OK Completed
"
    );
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 10");
    let text = format!("{text}C: a6 NOOP\nS: * 1 EXPUNGE\nS: a6 OK Completed\n");
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 13");
}

/// Dovecot ends such a FETCH with a lower `[HIGHESTMODSEQ]` on purpose; the code wins over
/// the higher MODSEQ seen, and drops the pending maximum.
#[test]
fn a_lower_code_at_the_completion_wins_and_drops_the_pending_maximum() {
    let dovecot = CYRUS_FETCH.replace(
        "a2 OK Completed (0.001 sec)",
        "a2 OK [HIGHESTMODSEQ 10] Fetch completed",
    );
    let text = format!("{SELECTED}{dovecot}C: a3 NOOP\nS: a3 OK NOOP completed\n");
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 10");
}

#[test]
fn nomodseq_clears_the_stored_value_and_the_pending_maximum() {
    let text = format!(
        "{SELECTED}{CYRUS_FETCH}C: a3 NOOP\nS: * OK [NOMODSEQ] no modseqs\nS: a3 OK done\n\
         C: a4 NOOP\nS: a4 OK done\n"
    );
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq -");
}

/// A new SELECT starts a new session: MODSEQs pending from the old one are dropped, and the
/// SELECT's own code is what is stored (a QRESYNC one: it reports every change since the
/// cache's value). A plain one keeps the old value: the cache holds records it proves
/// nothing about.
#[test]
fn a_new_select_drops_the_pending_maximum() {
    let text = format!(
        "{SELECTED}{CYRUS_FETCH}\
C: a3 SELECT INBOX (QRESYNC (7 10))
S: * 2 EXISTS
S: * OK [UIDVALIDITY 7] ok
S: * OK [HIGHESTMODSEQ 12] ok
S: * VANISHED (EARLIER) 1
S: a3 OK [READ-WRITE] done
C: a4 NOOP
S: a4 OK done
"
    );
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 12");
    let plain = text
        .replace("(QRESYNC (7 10))", "(CONDSTORE)")
        .replace("S: * VANISHED (EARLIER) 1\n", "");
    assert_eq!(highestmodseq(&run(&plain)), "highestmodseq 10");
}

/// A new session (a new replay, a new connection) starts with nothing pending: what was
/// pending when the input ended is not stored.
#[test]
fn the_end_of_input_stores_nothing_pending() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    common::replay_dump(&dir, &format!("{SELECTED}{CYRUS_FETCH}")).unwrap();
    let dump = common::replay_dump(&dir, "C: b1 NOOP\nS: b1 OK done\n").unwrap();
    assert_eq!(highestmodseq(&dump), "highestmodseq 10");
}

/// Each command in which RFC 3501 lets the server report what it held back releases the
/// pending maximum at its completion; a failed one does not.
#[test]
fn noop_idle_check_expunge_and_uid_expunge_release() {
    for (cmd, ok) in [
        ("NOOP", true),
        ("IDLE", true),
        ("CHECK", true),
        ("EXPUNGE", true),
        ("UID EXPUNGE 1", true),
        ("NOOP", false),
        ("FETCH 1 (FLAGS)", true),
        ("STORE 1 +FLAGS (\\Seen)", true),
        ("SEARCH ALL", true),
        ("UID FETCH 1:* (FLAGS)", true),
        ("STATUS INBOX (MESSAGES)", true),
    ] {
        let status = if ok { "OK" } else { "NO" };
        let text = format!("{SELECTED}{CYRUS_FETCH}C: a3 {cmd}\nS: a3 {status} done\n");
        let releases = ok && ["NOOP", "IDLE", "CHECK", "EXPUNGE", "UID EXPUNGE 1"].contains(&cmd);
        let want = if releases { "12" } else { "10" };
        assert_eq!(
            highestmodseq(&run(&text)),
            format!("highestmodseq {want}"),
            "{cmd} {status}"
        );
    }
}

/// What a cache that stored a HIGHESTMODSEQ past a held-back expunge then meets: a QRESYNC
/// SELECT that reports no VANISHED and one message fewer. Placing the known run would shift
/// every message after the expunged one onto the wrong UID, silently; it is an error that
/// names the SELECT's EXISTS (the sync heals it by resynchronizing).
#[test]
fn a_qresync_count_below_the_known_run_is_an_unreported_expunge() {
    let text = format!(
        "{SELECTED}C: a2 FETCH 1:3 (UID FLAGS MODSEQ)\n\
S: * 1 FETCH (UID 1 FLAGS () MODSEQ (5))\n\
S: * 2 FETCH (UID 2 FLAGS () MODSEQ (5))\n\
S: * 3 FETCH (UID 3 FLAGS () MODSEQ (5))\n\
S: a2 OK done\n\
C: a3 SELECT INBOX (QRESYNC (7 10))\n\
S: * 2 EXISTS\n\
S: * OK [UIDVALIDITY 7] ok\n\
S: * OK [HIGHESTMODSEQ 12] ok\n\
S: a3 OK done\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let err = common::replay_dump(&tmp.path().join("c"), &text).unwrap_err();
    assert!(err.starts_with("line 13:"), "{err}");
    assert!(err.contains("never saw"), "{err}");
    // With the expunge reported, the same SELECT is fine.
    let text = text.replace(
        "S: * 2 EXISTS\n",
        "S: * 2 EXISTS\nS: * VANISHED (EARLIER) 2\n",
    );
    let dump = common::replay_dump(&tmp.path().join("d"), &text).unwrap();
    assert!(dump.ends_with("exists 2\n1 1 () 5\n2 3 () 5\n"), "{dump}");
}

/// Feeds a transcript to `session` over `cache`, committing at each commit point.
fn feed(cache: &mut uidcache_engine::Cache, session: &mut uidcache_imap::Session, text: &str) {
    use uidcache_imap::Step;
    let mut tx = cache.transaction().unwrap();
    for (i, line) in text.lines().enumerate() {
        let step = if let Some(c) = line.strip_prefix("C: ") {
            session.command(&mut tx, c.as_bytes()).unwrap();
            Step::Continue
        } else {
            let r = line.strip_prefix("S: ").unwrap();
            session
                .response(&mut tx, i as u64 + 1, r.as_bytes())
                .unwrap()
        };
        if step == Step::Commit {
            tx.commit().unwrap();
            tx = cache.transaction().unwrap();
        }
    }
    assert_eq!(session.finish(), Step::Commit);
    tx.commit().unwrap();
}

/// UIDs 1..=3 known with MODSEQ 5, HIGHESTMODSEQ 10.
const FETCHED: &str = "\
C: a2 FETCH 1:3 (UID FLAGS MODSEQ)
S: * 1 FETCH (UID 1 FLAGS () MODSEQ (5))
S: * 2 FETCH (UID 2 FLAGS () MODSEQ (5))
S: * 3 FETCH (UID 3 FLAGS () MODSEQ (5))
S: a2 OK done
";

/// A plain SELECT on a later connection: meanwhile another client set `\Seen` on UID 2
/// (MODSEQ 15) and the mailbox is at 20.
const RESELECTED: &str = "\
C: b1 SELECT INBOX (CONDSTORE)
S: * 3 EXISTS
S: * OK [UIDVALIDITY 7] ok
S: * OK [HIGHESTMODSEQ 20] ok
S: b1 OK [READ-WRITE] done
";

/// The gap a reviewer found: the plain SELECT's `[HIGHESTMODSEQ 20]` arrives before any
/// kept record's flags are refetched. Storing it would make the cache claim UID 2's `\Seen`
/// (MODSEQ 15), and the next `SELECT (QRESYNC (7 20))` would never report it: silently
/// wrong. The old value stays, so the next QRESYNC asks from 10 and gets the change.
#[test]
fn a_plain_select_of_a_cache_with_records_keeps_the_old_value() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cache = common::open(&tmp.path().join("c"));
    feed(
        &mut cache,
        &mut uidcache_imap::Session::new(),
        &format!("{SELECTED}{FETCHED}"),
    );
    assert_eq!(cache.view().highestmodseq(), Some(10));
    let mut session = uidcache_imap::Session::new();
    feed(
        &mut cache,
        &mut session,
        &format!("{RESELECTED}C: b2 NOOP\nS: b2 OK done\n"),
    );
    assert_eq!(session.selected_modseq(), Some(20));
    assert_eq!(cache.view().highestmodseq(), Some(10));
    let param = uidcache_imap::qresync_param(&cache.view())
        .unwrap()
        .unwrap();
    assert!(param.starts_with("(QRESYNC (7 10 "), "{param}");
    // That reconnect reports the change, and then 20 is true.
    feed(
        &mut cache,
        &mut uidcache_imap::Session::new(),
        &format!(
            "C: c1 SELECT INBOX {param}\nS: * 3 EXISTS\nS: * OK [UIDVALIDITY 7] ok\n\
             S: * OK [HIGHESTMODSEQ 20] ok\n\
             S: * 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (15))\nS: c1 OK done\n"
        ),
    );
    assert_eq!(cache.view().highestmodseq(), Some(20));
}

/// While the kept records are unproven, nothing raises the value past the old one: not a
/// later code, not FETCH MODSEQs released by a NOOP, not a partial fetch of flags. A code
/// below it or `[NOMODSEQ]` still lowers it.
#[test]
fn nothing_raises_the_value_until_the_flags_are_caught_up() {
    let base = format!("{SELECTED}{FETCHED}{RESELECTED}");
    let more = "\
C: b2 FETCH 1:2 (UID FLAGS MODSEQ)
S: * 1 FETCH (UID 1 FLAGS () MODSEQ (5))
S: * 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (15))
S: b2 OK done
C: b3 NOOP
S: * 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (21))
S: b3 OK [HIGHESTMODSEQ 21] done
C: b4 NOOP
S: * 3 FETCH (UID 3 FLAGS () MODSEQ (22))
S: b4 OK done
C: b5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 11)
S: b5 OK done
";
    assert_eq!(
        highestmodseq(&run(&format!("{base}{more}"))),
        "highestmodseq 10"
    );
    let lower = format!("{base}C: b2 NOOP\nS: b2 OK [HIGHESTMODSEQ 8] done\n");
    assert_eq!(highestmodseq(&run(&lower)), "highestmodseq 8");
    let none = format!("{base}C: b2 NOOP\nS: * OK [NOMODSEQ] x\nS: b2 OK done\n");
    assert_eq!(highestmodseq(&run(&none)), "highestmodseq -");
}

/// `FETCH 1:* (FLAGS) (CHANGEDSINCE m)` from at most the old value (or every flag, without
/// CHANGEDSINCE) is a full catch-up: at its OK the SELECT's value is stored. MODSEQs seen
/// in it still wait for a NOOP, as always.
#[test]
fn a_full_flags_fetch_since_the_old_value_catches_up() {
    let base = format!("{SELECTED}{FETCHED}{RESELECTED}");
    for fetch in [
        "FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 10)",
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 7)",
        "fetch 1:* flags",
    ] {
        let text = format!(
            "{base}C: b2 {fetch}\nS: * 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (15))\n\
             S: * 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (25))\nS: b2 OK done\n"
        );
        let dump = run(&text);
        assert_eq!(highestmodseq(&dump), "highestmodseq 20", "{fetch}");
        assert!(dump.contains("2 (\\Seen) 15"), "{dump}");
        let text = format!("{text}C: b3 NOOP\nS: b3 OK done\n");
        assert_eq!(highestmodseq(&run(&text)), "highestmodseq 25", "{fetch}");
        // A failed one proves nothing.
        let failed = text.replace("S: b2 OK done", "S: b2 NO failed");
        assert_eq!(highestmodseq(&run(&failed)), "highestmodseq 10", "{fetch}");
    }
}

/// A cache with no records, or one whose records a new UIDVALIDITY dropped, takes the plain
/// SELECT's value: every record learned afterwards is at least that new.
#[test]
fn an_empty_or_cleared_cache_takes_the_plain_selects_value() {
    assert_eq!(highestmodseq(&run(RESELECTED)), "highestmodseq 20");
    let text = format!(
        "{SELECTED}{FETCHED}{}",
        RESELECTED.replace("VALIDITY 7", "VALIDITY 8")
    );
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 20");
}

/// A replay that continues a cache with records (no SELECT first) cannot know whether a
/// plain SELECT left them unproven, so it holds the value as well.
#[test]
fn a_session_that_continues_a_cache_with_records_holds_its_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    common::replay_dump(&dir, &format!("{SELECTED}{FETCHED}")).unwrap();
    let more = "C: b1 NOOP\nS: * 3 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (15))\n\
                S: b1 OK [HIGHESTMODSEQ 15] done\nC: b2 NOOP\nS: b2 OK done\n";
    let dump = common::replay_dump(&dir, more).unwrap();
    assert_eq!(highestmodseq(&dump), "highestmodseq 10");
    // An empty cache holds nothing back.
    let more = "C: b1 NOOP\nS: b1 OK [HIGHESTMODSEQ 15] done\n";
    let dump = common::replay_dump(&tmp.path().join("d"), more).unwrap();
    assert_eq!(highestmodseq(&dump), "highestmodseq 15");
}

/// After the catch-up, a flag change reported without a UID at a position the cache does
/// not know may belong to a record it kept unplaced, whose flags it then cannot update: the
/// value is held again (at what is stored), until the next catch-up.
#[test]
fn a_flag_change_at_an_unknown_position_holds_the_value_again() {
    let text = format!(
        "{SELECTED}{FETCHED}{RESELECTED}\
C: b2 FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 10)
S: b2 OK done
C: b3 NOOP
S: * 3 FETCH (MODSEQ (21) FLAGS (\\Seen))
S: b3 OK [HIGHESTMODSEQ 21] done
"
    );
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 20");
    let again = format!(
        "{text}C: b4 FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 20)\n\
         S: * 3 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (21))\nS: b4 OK done\n\
         C: b5 NOOP\nS: b5 OK done\n"
    );
    assert_eq!(highestmodseq(&run(&again)), "highestmodseq 21");
}

/// Such a change arriving during the catch-up itself may postdate what it read: that
/// catch-up ends nothing, and its MODSEQ is never released; a later one does.
#[test]
fn a_flag_change_at_an_unknown_position_during_the_catch_up_voids_it() {
    let text = format!(
        "{SELECTED}{FETCHED}{RESELECTED}\
C: b2 FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 10)
S: * 3 FETCH (MODSEQ (21) FLAGS (\\Seen))
S: b2 OK done
C: b3 NOOP
S: b3 OK done
"
    );
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 10");
    let again = format!(
        "{text}C: b4 UID FETCH 1:* (FLAGS MODSEQ) (CHANGEDSINCE 10)\n\
         S: * 3 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (21))\nS: b4 OK done\n\
         C: b5 NOOP\nS: b5 OK done\n"
    );
    assert_eq!(highestmodseq(&run(&again)), "highestmodseq 21");
}
