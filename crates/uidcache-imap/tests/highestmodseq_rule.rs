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
/// SELECT's own code is what is stored.
#[test]
fn a_new_select_drops_the_pending_maximum() {
    let text = format!(
        "{SELECTED}{CYRUS_FETCH}\
C: a3 SELECT INBOX (CONDSTORE)
S: * 2 EXISTS
S: * OK [UIDVALIDITY 7] ok
S: * OK [HIGHESTMODSEQ 12] ok
S: a3 OK [READ-WRITE] done
C: a4 NOOP
S: a4 OK done
"
    );
    assert_eq!(highestmodseq(&run(&text)), "highestmodseq 12");
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
