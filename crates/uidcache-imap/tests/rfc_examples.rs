//! The RFC examples as transcripts, with dumps checked by hand.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

mod common;

fn run(text: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    common::replay_dump(&tmp.path().join("c"), text).unwrap()
}

/// RFC 3501 6.4.3 / RFC 9051 6.4.3: messages 3, 4, 7 and 11 of 11 are expunged, reported as
/// `3 3 5 8` because each EXPUNGE renumbers the later messages at once.
#[test]
fn rfc3501_expunge_example() {
    let mut text = String::from("C: A1 SELECT INBOX\nS: * 11 EXISTS\nS: * OK [UIDVALIDITY 3857529045] x\nS: A1 OK done\nC: A2 FETCH 1:11 (UID FLAGS)\n");
    for n in 1..=11 {
        text += &format!("S: * {n} FETCH (UID {} FLAGS (\\Seen))\n", 100 + n);
    }
    text += "S: A2 OK done\nC: A202 EXPUNGE\nS: * 3 EXPUNGE\nS: * 3 EXPUNGE\nS: * 5 EXPUNGE\nS: * 8 EXPUNGE\nS: A202 OK EXPUNGE completed\n";
    assert_eq!(
        run(&text),
        "uidvalidity 3857529045\nuidnext -\nhighestmodseq -\nexists 7\n\
         1 101 (\\Seen) -\n2 102 (\\Seen) -\n3 105 (\\Seen) -\n4 106 (\\Seen) -\n\
         5 108 (\\Seen) -\n6 109 (\\Seen) -\n7 110 (\\Seen) -\n"
    );
}

/// RFC 7162 3.2.10: `* VANISHED 405,407,410,425` after an EXPUNGE with QRESYNC enabled.
/// Known: 404..=411 at 1..=8, then a hole of two (9, 10), then 430 at 11. 405, 407 and 410
/// are placed; 425 is unknown but must lie in the hole between 411 and 430, which shrinks.
#[test]
fn rfc7162_vanished_example() {
    let mut text = String::from("C: A1 SELECT INBOX\nS: * 11 EXISTS\nS: * OK [UIDVALIDITY 9] x\nS: * OK [HIGHESTMODSEQ 20010715194032001] x\nS: A1 OK done\n");
    text += "C: A2 UID SEARCH 1:8\nS: * SEARCH 404 405 406 407 408 409 410 411\nS: A2 OK done\n";
    text += "C: A3 FETCH 11 (UID)\nS: * 11 FETCH (UID 430)\nS: A3 OK done\n";
    text += "C: A202 EXPUNGE\nS: * VANISHED 405,407,410,425\nS: A202 OK [HIGHESTMODSEQ 20010715194045319] Expunged\n";
    assert_eq!(
        run(&text),
        "uidvalidity 9\nuidnext -\nhighestmodseq 20010715194045319\nexists 7\n\
         1 404 - -\n2 406 - -\n3 408 - -\n4 409 - -\n5 411 - -\n7 430 - -\n"
    );
}

/// RFC 7162 3.2.5.1 / 3.2.11: a QRESYNC SELECT while another mailbox state is open. The
/// EXPUNGE before `[CLOSED]` belongs to the old session; the known prefix keeps its places
/// after the `VANISHED (EARLIER)` removals; `[HIGHESTMODSEQ]` wins over a higher FETCH MODSEQ.
#[test]
fn rfc7162_qresync_select_example() {
    let text = "\
C: A01 SELECT INBOX
S: * 5 EXISTS
S: * OK [UIDVALIDITY 67890007] x
S: * OK [HIGHESTMODSEQ 90060115194045000] x
S: A01 OK done
C: A1 FETCH 1:5 (UID FLAGS MODSEQ)
S: * 1 FETCH (UID 10 FLAGS (\\Seen) MODSEQ (1))
S: * 2 FETCH (UID 20 FLAGS () MODSEQ (1))
S: * 3 FETCH (UID 30 FLAGS () MODSEQ (1))
S: * 4 FETCH (UID 40 FLAGS () MODSEQ (1))
S: * 5 FETCH (UID 50 FLAGS () MODSEQ (1))
S: A1 OK done
C: A02 SELECT INBOX (QRESYNC (67890007 90060115194045000 10:50))
S: * 5 EXPUNGE
S: * OK [CLOSED]
S: * 4 EXISTS
S: * OK [UIDVALIDITY 67890007] UIDVALIDITY
S: * OK [UIDNEXT 600] Predicted next UID
S: * OK [HIGHESTMODSEQ 90060115194045007] Highest
S: * VANISHED (EARLIER) 20,45
S: * 2 FETCH (UID 30 FLAGS (\\Seen \\Answered) MODSEQ (90060115194045001))
S: * 4 FETCH (UID 60 FLAGS (\\Draft $MDNSent) MODSEQ (90060115194045308))
S: A02 OK [READ-WRITE] mailbox selected
";
    assert_eq!(
        run(text),
        "uidvalidity 67890007\nuidnext 600\nhighestmodseq 90060115194045007\nexists 4\n\
         1 10 (\\Seen) 1\n2 30 (\\Answered \\Seen) 90060115194045001\n3 40 () 1\n\
         4 60 ($MDNSent \\Draft) 90060115194045308\n"
    );
}

/// Without QRESYNC a new session keeps no positions: the records become unplaced, then a
/// SEARCH places some again and proves others gone.
#[test]
fn plain_select_unplaces_and_prunes() {
    let text = "\
C: a SELECT INBOX
S: * 3 EXISTS
S: * OK [UIDVALIDITY 5] x
S: a OK done
C: b UID SEARCH 1:3
S: * SEARCH 7 8 9
S: b OK done
C: c STORE 2 FLAGS (\\Seen)
S: * 2 FETCH (FLAGS (\\Seen \\Recent \\Seen))
S: c OK done
C: d SELECT INBOX
S: * 2 EXISTS
S: * OK [UIDVALIDITY 5] x
S: d OK done
";
    assert_eq!(
        run(text),
        "uidvalidity 5\nuidnext -\nhighestmodseq -\nexists 2\n- 7 - -\n- 8 (\\Seen) -\n- 9 - -\n"
    );
    let more = format!(
        "{text}C: e UID SEARCH RETURN () 1:*\nS: * ESEARCH (TAG \"e\") UID ALL 7,9\nS: e OK done\n"
    );
    assert_eq!(
        run(&more),
        "uidvalidity 5\nuidnext -\nhighestmodseq -\nexists 2\n1 7 - -\n2 9 - -\n"
    );
}
