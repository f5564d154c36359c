//! Truncated input (the replay contract as revised for hostile input): a last line without
//! a line terminator is torn — not applied, an error naming it — and the end of input inside
//! a SELECT/EXAMINE whose tagged completion never came commits nothing after the last commit
//! point.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

mod common;

const BASE: &str = "\
C: a1 SELECT INBOX
S: * 1005 EXISTS
S: * OK [UIDVALIDITY 7] ok
S: a1 OK done
C: a2 UID SEARCH RETURN (ALL) 1:1005
S: * ESEARCH (TAG \"a2\") UID ALL 1:1005
S: a2 OK done
";

fn exists(dump: &str) -> &str {
    dump.lines().nth(3).unwrap()
}

/// `* VANISHED 1000:1002` cut to `1000:1` would remove 1,000 messages instead of 3.
#[test]
fn a_last_line_without_a_terminator_is_torn_and_not_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let text = format!("{BASE}C: a3 NOOP\nS: * VANISHED 1000:1");
    let err = common::replay_dump(&dir, &text).unwrap_err();
    assert!(err.starts_with("line 9:"), "{err}");
    assert!(err.contains("torn"), "{err}");
    let dump = common::dump_dir(&dir);
    assert_eq!(exists(&dump), "exists 1005");
    // The same line with its terminator is applied (the error was the tear, not the line).
    let whole = common::replay_dump(&tmp.path().join("d"), &format!("{text}\n")).unwrap();
    assert_eq!(exists(&whole), "exists 5");
}

#[test]
fn a_torn_line_after_a_carriage_return_is_torn_too() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("{BASE}C: a3 NOOP\nS: a3 OK done\r");
    let err = common::replay_dump(&tmp.path().join("c"), &text).unwrap_err();
    assert!(err.starts_with("line 9:") && err.contains("torn"), "{err}");
}

/// End of input after `* 8 EXISTS` and before `* VANISHED (EARLIER) 3,5` of a QRESYNC SELECT:
/// applying what came would place the old prefix over a count that has not lost the
/// vanished messages yet.
#[test]
fn the_end_of_input_inside_a_select_commits_nothing_after_the_last_commit_point() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let before = "\
C: a1 SELECT INBOX (CONDSTORE)
S: * 10 EXISTS
S: * OK [UIDVALIDITY 7] ok
S: * OK [HIGHESTMODSEQ 20] ok
S: a1 OK done
C: a2 FETCH 1:10 (UID FLAGS MODSEQ)
S: * 1 FETCH (UID 1 FLAGS () MODSEQ (3))
S: * 2 FETCH (UID 2 FLAGS () MODSEQ (3))
S: * 3 FETCH (UID 3 FLAGS () MODSEQ (3))
S: * 4 FETCH (UID 4 FLAGS () MODSEQ (3))
S: * 5 FETCH (UID 5 FLAGS () MODSEQ (3))
S: * 6 FETCH (UID 6 FLAGS () MODSEQ (3))
S: * 7 FETCH (UID 7 FLAGS () MODSEQ (3))
S: * 8 FETCH (UID 8 FLAGS () MODSEQ (3))
S: * 9 FETCH (UID 9 FLAGS () MODSEQ (3))
S: * 10 FETCH (UID 10 FLAGS () MODSEQ (3))
S: a2 OK done
";
    let committed = common::replay_dump(&dir, before).unwrap();
    let cut = "\
C: b1 NOOP
S: * 4 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (21))
C: b2 SELECT INBOX (QRESYNC (7 20))
S: * 8 EXISTS
";
    let tmp2 = tempfile::tempdir().unwrap();
    let dir2 = tmp2.path().join("c");
    let got = common::replay_dump(&dir2, &format!("{before}{cut}")).unwrap();
    assert_eq!(got, committed);
    // With the SELECT's completion the same lines are a commit point and apply.
    let done = format!(
        "{before}{cut}S: * OK [UIDVALIDITY 7] ok\nS: * OK [HIGHESTMODSEQ 25] ok\n\
         S: * VANISHED (EARLIER) 3,5\nS: b2 OK done\n"
    );
    let got = common::replay_dump(&tmp2.path().join("d"), &done).unwrap();
    assert_eq!(exists(&got), "exists 8");
    assert!(got.contains("\n3 4 (\\Seen) 21\n"), "{got}");
}

/// Untagged responses outside a SELECT are still committed at the end of the input (a
/// transcript cut during IDLE keeps what the server announced).
#[test]
fn untagged_responses_outside_a_select_are_committed_at_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let got = common::replay_dump(
        &tmp.path().join("c"),
        &format!("{BASE}C: a3 IDLE\nS: + idling\nS: * 1006 EXISTS\n"),
    )
    .unwrap();
    assert_eq!(exists(&got), "exists 1006");
}

/// A FETCH whose FLAGS list is longer than one message's flags may be is refused before it
/// is parsed (a 100 MB list used to cost 3.4 GB and leave its keywords in the flag tables
/// for ever); the line is named and nothing of it is applied.
#[test]
fn an_oversized_flags_list_is_refused_before_parsing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let mut flags = String::new();
    for i in 0..40_000 {
        flags.push_str(&format!("$k{i} "));
    }
    let text = format!("{BASE}C: a3 NOOP\nS: * 1 FETCH (UID 1 FLAGS ({flags}))\nS: a3 OK done\n");
    let err = common::replay_dump(&dir, &text).unwrap_err();
    assert!(
        err.starts_with("line 9:") && err.contains("FLAGS list"),
        "{err}"
    );
    let dump = common::dump_dir(&dir);
    assert!(dump.contains("\n1 1 - -\n"), "{}", &dump[..200]);
    // At the limit it is still a list of flags like any other.
    let fine =
        format!("{BASE}C: a3 NOOP\nS: * 1 FETCH (UID 1 FLAGS ($a $b \\Seen))\nS: a3 OK done\n");
    let dump = common::replay_dump(&tmp.path().join("d"), &fine).unwrap();
    assert!(
        dump.contains("\n1 1 ($a $b \\Seen) -\n"),
        "{}",
        &dump[..200]
    );
}
