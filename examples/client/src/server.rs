//! The "server": what an IMAP server answers to each command of the three sessions, as
//! literal response lines (no network, so the example runs anywhere). In a client this is
//! the socket: a framing reader that yields one response at a time, without its CRLF.
//!
//! The mailbox `INBOX` (UIDVALIDITY 1700000000) changes between the sessions as another
//! client would change it; the comments before each session say how.

use std::collections::VecDeque;

/// A server that answers a fixed script: each command the client sends must be the next
/// one the script expects (tags aside), so that a client that asks for something else
/// fails loudly instead of reading answers meant for another command.
#[derive(Debug)]
pub struct ScriptedServer {
    script: VecDeque<(String, Vec<String>)>,
}

impl ScriptedServer {
    fn new(script: Vec<(&str, Vec<String>)>) -> ScriptedServer {
        ScriptedServer {
            script: script
                .into_iter()
                .map(|(command, lines)| (command.to_string(), lines))
                .collect(),
        }
    }

    /// The responses to `line` (`tag command...`), the tagged completion last. `{tag}` in
    /// the script stands for the command's tag.
    pub fn answer(&mut self, line: &str) -> Result<Vec<String>, String> {
        let (tag, command) = line.split_once(' ').unwrap_or((line, ""));
        let Some((expected, lines)) = self.script.pop_front() else {
            return Err(format!("the script has ended; the client sent {line:?}"));
        };
        if command != expected {
            return Err(format!(
                "the script expects {expected:?}; the client sent {command:?}"
            ));
        }
        Ok(lines.iter().map(|l| l.replace("{tag}", tag)).collect())
    }

    /// Whether every scripted command was sent.
    pub fn is_done(&self) -> bool {
        self.script.is_empty()
    }
}

/// Lines from literals.
fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|l| l.to_string()).collect()
}

/// The flags a message had when the client first saw it: every fifth UID unread, every
/// thirteenth flagged. The first FETCH answers 120 messages, too many to write out.
pub fn first_flags(uid: u32) -> &'static str {
    match (uid.is_multiple_of(5), uid.is_multiple_of(13)) {
        (false, false) => "\\Seen",
        (false, true) => "\\Seen \\Flagged",
        (true, false) => "",
        (true, true) => "\\Flagged",
    }
}

/// The first connection: an empty cache. `INBOX` holds 120 messages, UIDs 101..=160 and
/// 171..=230 (10 were deleted long ago). During the session the user reads UID 175,
/// another client flags UID 152, and UID 231 arrives.
pub fn first_session() -> ScriptedServer {
    // FETCH 1:120: UIDs 101..=160 at 1..=60, 171..=230 at 61..=120. The server adds an
    // item the cache does not store (EMAILID, RFC 8474); it is skipped.
    let mut fetch: Vec<String> = (1..=120u32)
        .map(|seq| {
            let uid = if seq <= 60 { 100 + seq } else { 110 + seq };
            let (flags, modseq) = (first_flags(uid), 300 + uid - 100);
            format!("* {seq} FETCH (UID {uid} FLAGS ({flags}) MODSEQ ({modseq}) EMAILID (M{uid}))")
        })
        .collect();
    fetch.push("{tag} OK Fetch completed".into());
    ScriptedServer::new(vec![
        (
            "SELECT INBOX (CONDSTORE)",
            lines(&[
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                "* 120 EXISTS",
                "* OK [UIDVALIDITY 1700000000] UIDs valid",
                "* OK [UIDNEXT 231] Predicted next UID",
                "* OK [HIGHESTMODSEQ 500] Highest",
                "{tag} OK [READ-WRITE] Select completed",
            ]),
        ),
        // Positions, a page of 50 at a time (View::fetch_plan aligns them).
        (
            "UID SEARCH RETURN (ALL) 1:50",
            lines(&[
                "* ESEARCH (TAG \"{tag}\") UID ALL 101:150",
                "{tag} OK Search completed",
            ]),
        ),
        (
            "UID SEARCH RETURN (ALL) 51:100",
            lines(&[
                "* ESEARCH (TAG \"{tag}\") UID ALL 151:160,171:210",
                "{tag} OK Search completed",
            ]),
        ),
        (
            "UID SEARCH RETURN (ALL) 101:120",
            lines(&[
                "* ESEARCH (TAG \"{tag}\") UID ALL 211:230",
                "{tag} OK Search completed",
            ]),
        ),
        ("FETCH 1:120 (UID FLAGS MODSEQ)", fetch),
        // The user opens UID 175 (message 65).
        (
            "UID STORE 175 +FLAGS (\\Seen)",
            lines(&[
                "* 65 FETCH (UID 175 FLAGS (\\Seen) MODSEQ (501))",
                "{tag} OK Store completed",
            ]),
        ),
        // Another client flags UID 152; new mail arrives.
        (
            "NOOP",
            lines(&[
                "* 52 FETCH (UID 152 FLAGS (\\Seen \\Flagged) MODSEQ (502))",
                "* 121 EXISTS",
                "{tag} OK NOOP completed",
            ]),
        ),
        (
            "UID SEARCH RETURN (ALL) 121",
            lines(&[
                "* ESEARCH (TAG \"{tag}\") UID ALL 231",
                "{tag} OK Search completed",
            ]),
        ),
        (
            "FETCH 121 (UID FLAGS MODSEQ)",
            lines(&[
                "* 121 FETCH (UID 231 FLAGS () MODSEQ (503))",
                "{tag} OK Fetch completed",
            ]),
        ),
        (
            "LOGOUT",
            lines(&["* BYE Logging out", "{tag} OK Logout completed"]),
        ),
    ])
}

/// The QRESYNC parameter the client must send on the second connection: the cache's
/// UIDVALIDITY and HIGHESTMODSEQ, every known UID, and sampled (seq, UID) pairs.
pub const SECOND_QRESYNC: &str = "(QRESYNC (1700000000 502 101:160,171:231 \
     (58,90,106,114,118,120,121 158,200,216,224,228,230,231)))";

/// The second connection, with QRESYNC. Meanwhile another client deleted UIDs 105:107 and
/// 190, read UID 200 and flagged UID 110; UID 232 arrived. During the session UIDs
/// 150:152 are deleted (an unsolicited VANISHED) and UID 133 is answered.
pub fn second_session() -> ScriptedServer {
    let select = format!("SELECT INBOX {SECOND_QRESYNC}");
    ScriptedServer::new(vec![
        (
            "ENABLE QRESYNC",
            lines(&["* ENABLED QRESYNC", "{tag} OK Enabled"]),
        ),
        (
            select.as_str(),
            lines(&[
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                "* 118 EXISTS",
                "* OK [UIDVALIDITY 1700000000] UIDs valid",
                "* OK [UIDNEXT 233] Predicted next UID",
                "* OK [HIGHESTMODSEQ 520] Highest",
                "* VANISHED (EARLIER) 105:107,190",
                "* 7 FETCH (UID 110 FLAGS (\\Flagged) MODSEQ (511))",
                "* 86 FETCH (UID 200 FLAGS (\\Seen) MODSEQ (510))",
                "{tag} OK [READ-WRITE] Select completed",
            ]),
        ),
        // 118 messages, 117 known: UID 232 is new.
        (
            "UID SEARCH RETURN (ALL) 118",
            lines(&[
                "* ESEARCH (TAG \"{tag}\") UID ALL 232",
                "{tag} OK Search completed",
            ]),
        ),
        (
            "FETCH 118 (UID FLAGS MODSEQ)",
            lines(&[
                "* 118 FETCH (UID 232 FLAGS () MODSEQ (515))",
                "{tag} OK Fetch completed",
            ]),
        ),
        // UIDs 150:152 (messages 47..=49) go; UID 133 (message 30) is answered.
        (
            "NOOP",
            lines(&[
                "* VANISHED 150:152",
                "* 30 FETCH (UID 133 FLAGS (\\Seen \\Answered) MODSEQ (523))",
                "{tag} OK NOOP completed",
            ]),
        ),
        (
            "LOGOUT",
            lines(&["* BYE Logging out", "{tag} OK Logout completed"]),
        ),
    ])
}

/// The third connection, to a server without QRESYNC (CONDSTORE only). Meanwhile another
/// client deleted UID 101, the first message, so every position moved down by one, and
/// read UID 160.
pub fn third_session() -> ScriptedServer {
    ScriptedServer::new(vec![
        (
            "SELECT INBOX (CONDSTORE)",
            lines(&[
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                "* 114 EXISTS",
                "* OK [UIDVALIDITY 1700000000] UIDs valid",
                "* OK [UIDNEXT 233] Predicted next UID",
                "* OK [HIGHESTMODSEQ 530] Highest",
                "{tag} OK [READ-WRITE] Select completed",
            ]),
        ),
        // Nothing stayed placed: every position is searched again. The records come back
        // with the flags they had, so no FETCH of all flags follows.
        (
            "UID SEARCH RETURN (ALL) 1:50",
            lines(&[
                "* ESEARCH (TAG \"{tag}\") UID ALL 102:104,108:149,153:157",
                "{tag} OK Search completed",
            ]),
        ),
        (
            "UID SEARCH RETURN (ALL) 51:100",
            lines(&[
                "* ESEARCH (TAG \"{tag}\") UID ALL 158:160,171:189,191:218",
                "{tag} OK Search completed",
            ]),
        ),
        (
            "UID SEARCH RETURN (ALL) 101:114",
            lines(&[
                "* ESEARCH (TAG \"{tag}\") UID ALL 219:232",
                "{tag} OK Search completed",
            ]),
        ),
        // Only what changed since the HIGHESTMODSEQ the cache had before this SELECT.
        (
            "FETCH 1:* (UID FLAGS) (CHANGEDSINCE 523)",
            lines(&[
                "* 53 FETCH (UID 160 FLAGS (\\Seen) MODSEQ (530))",
                "{tag} OK Fetch completed",
            ]),
        ),
        (
            "LOGOUT",
            lines(&["* BYE Logging out", "{tag} OK Logout completed"]),
        ),
    ])
}
