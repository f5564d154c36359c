//! A simulated IMAP server (one mailbox, CONDSTORE/QRESYNC/ESEARCH) that writes the lines of
//! a session as a transcript: the demo plays it against a cache, and the tests generate
//! random sessions with it. Deterministic for a seed. Built only with the `sim` feature: it is
//! a test tool, not part of the library.

#![allow(
    clippy::indexing_slicing,
    reason = "indices come from the simulator's own bounds, never from input"
)]

use crate::seqset::format_set;

/// A small deterministic generator (xorshift64*), so that a seed names a session.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One message on the simulated server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// The UID.
    pub uid: u32,
    /// The flags, in the order the server sends them.
    pub flags: Vec<String>,
    /// The MODSEQ.
    pub modseq: u64,
}

const FLAG_POOL: [&str; 6] = [
    "\\Seen",
    "\\Flagged",
    "\\Answered",
    "$Forwarded",
    "$Important",
    "\\Deleted",
];

/// The server's mailbox and the state of the current connection.
#[derive(Debug, Clone)]
pub struct SimServer {
    /// Randomness for the server's choices.
    pub rng: Rng,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// The next UID to assign.
    pub uidnext: u32,
    /// HIGHESTMODSEQ.
    pub modseq: u64,
    /// The messages, in sequence order.
    pub messages: Vec<SimMessage>,
    /// Expunged UIDs with the MODSEQ of the expunge (for QRESYNC answers).
    pub expunged: Vec<(u32, u64)>,
    /// Whether QRESYNC is enabled on this connection (changes arrive as VANISHED and FETCH
    /// with UID).
    pub qresync: bool,
    /// Messages another client expunged during a FETCH, with the MODSEQ of the expunge: the
    /// server holds them back from this connection (RFC 3501 7.4.1) until a NOOP, so they
    /// are still in `messages`.
    pub held: Vec<(u32, u64)>,
}

impl SimServer {
    /// A mailbox of `count` messages with random UID gaps, all at MODSEQ 1.
    pub fn new(seed: u64, count: u32) -> SimServer {
        let mut rng = Rng::new(seed);
        let mut messages = Vec::with_capacity(count as usize);
        let mut uid = 0u32;
        for _ in 0..count {
            uid += 1 + u32::from(rng.chance(10)) * (1 + rng.below(3) as u32);
            let flags = if rng.chance(50) {
                vec![FLAG_POOL[0].to_string()]
            } else {
                Vec::new()
            };
            messages.push(SimMessage {
                uid,
                flags,
                modseq: 1,
            });
        }
        SimServer {
            uidvalidity: 1000 + rng.below(1000) as u32,
            uidnext: uid + 1,
            modseq: 1,
            messages,
            expunged: Vec::new(),
            qresync: false,
            held: Vec::new(),
            rng,
        }
    }

    /// A new connection: greeting, LOGIN, and `ENABLE QRESYNC` when asked.
    pub fn connect(&mut self, out: &mut Vec<String>, tag: &str, qresync: bool) {
        out.push("S: * OK [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC ESEARCH] ready.".into());
        out.push(format!("C: {tag}1 LOGIN user ***"));
        out.push(format!("S: {tag}1 OK Logged in"));
        self.qresync = qresync;
        if qresync {
            out.push(format!("C: {tag}2 ENABLE QRESYNC"));
            out.push("S: * ENABLED QRESYNC".into());
            out.push(format!("S: {tag}2 OK Enabled"));
        }
    }

    /// `SELECT INBOX`, with `(QRESYNC (...))` when `since` gives the client's UIDVALIDITY and
    /// HIGHESTMODSEQ and `param` the whole parameter text.
    pub fn select(&mut self, out: &mut Vec<String>, tag: &str, param: Option<(&str, u32, u64)>) {
        // A new session sees the mailbox as it is: held-back expunges are simply gone.
        let held = std::mem::take(&mut self.held);
        self.messages
            .retain(|m| !held.iter().any(|(u, _)| *u == m.uid));
        match param {
            Some((text, ..)) => out.push(format!("C: {tag} SELECT INBOX {text}")),
            None => out.push(format!("C: {tag} SELECT INBOX (CONDSTORE)")),
        }
        out.push(
            "S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $Important)"
                .into(),
        );
        out.push(format!("S: * {} EXISTS", self.messages.len()));
        out.push("S: * 0 RECENT".into());
        out.push(format!(
            "S: * OK [UIDVALIDITY {}] UIDs valid",
            self.uidvalidity
        ));
        out.push(format!(
            "S: * OK [UIDNEXT {}] Predicted next UID",
            self.uidnext
        ));
        out.push(format!("S: * OK [HIGHESTMODSEQ {}] Highest", self.modseq));
        if let Some((_, uidvalidity, since)) = param {
            if uidvalidity == self.uidvalidity {
                let mut gone: Vec<u32> = self
                    .expunged
                    .iter()
                    .filter(|(_, m)| *m > since)
                    .map(|(u, _)| *u)
                    .collect();
                gone.sort_unstable();
                if !gone.is_empty() {
                    out.push(format!("S: * VANISHED (EARLIER) {}", format_set(gone)));
                }
                self.changes_since(out, since);
            }
        }
        out.push(format!("S: {tag} OK [READ-WRITE] Select completed"));
    }

    /// `UID SEARCH a:b` (or `UID SEARCH RETURN (ALL) a:b` when `esearch`); `b = None` is `*`.
    /// With `expunge_during`, an EXPUNGE arrives before the tagged completion.
    pub fn uid_search(
        &mut self,
        out: &mut Vec<String>,
        tag: &str,
        a: u32,
        b: Option<u32>,
        esearch: bool,
        expunge_during: bool,
    ) {
        let end = b.map_or("*".to_string(), |b| b.to_string());
        let shown = a;
        let count = self.messages.len() as u32;
        // `*` is the count, and a range's ends may come in either order (RFC 3501 9).
        let b = b.unwrap_or(count);
        let (a, hi) = (a.min(b), a.max(b).min(count));
        let uids: Vec<u32> = if a == 0 || a > hi {
            Vec::new()
        } else {
            self.messages[(a - 1) as usize..hi as usize]
                .iter()
                .map(|m| m.uid)
                .collect()
        };
        if esearch {
            out.push(format!("C: {tag} UID SEARCH RETURN (ALL) {shown}:{end}"));
            if uids.is_empty() {
                out.push(format!("S: * ESEARCH (TAG \"{tag}\") UID"));
            } else {
                out.push(format!(
                    "S: * ESEARCH (TAG \"{tag}\") UID ALL {}",
                    format_set(uids)
                ));
            }
        } else {
            out.push(format!("C: {tag} UID SEARCH {shown}:{end}"));
            let list: Vec<String> = uids.iter().map(u32::to_string).collect();
            if list.is_empty() {
                out.push("S: * SEARCH".into());
            } else {
                out.push(format!("S: * SEARCH {}", list.join(" ")));
            }
        }
        if expunge_during {
            self.expunge_one(out);
        }
        out.push(format!("S: {tag} OK Search completed"));
    }

    /// `FETCH a:b (UID FLAGS MODSEQ)`.
    pub fn fetch(&mut self, out: &mut Vec<String>, tag: &str, a: u32, b: u32) {
        out.push(format!("C: {tag} FETCH {a}:{b} (UID FLAGS MODSEQ)"));
        let hi = b.min(self.messages.len() as u32);
        for seq in a.max(1)..=hi {
            let m = &self.messages[(seq - 1) as usize];
            out.push(format!(
                "S: * {seq} FETCH (UID {} FLAGS ({}) MODSEQ ({}))",
                m.uid,
                m.flags.join(" "),
                m.modseq
            ));
        }
        out.push(format!("S: {tag} OK Fetch completed"));
    }

    /// `NOOP` answered by `changes` unsolicited changes made by another client.
    pub fn noop(&mut self, out: &mut Vec<String>, tag: &str, changes: u32) {
        out.push(format!("C: {tag} NOOP"));
        self.report_held(out);
        for _ in 0..changes {
            match self.rng.below(10) {
                0..=4 => self.change_flags_one(Some(out)),
                5..=7 => self.expunge_one(out),
                _ => {
                    self.append(1);
                    out.push(format!("S: * {} EXISTS", self.messages.len()));
                }
            }
        }
        if self.qresync && self.rng.chance(50) {
            out.push(format!(
                "S: {tag} OK [HIGHESTMODSEQ {}] NOOP completed",
                self.modseq
            ));
        } else {
            out.push(format!("S: {tag} OK NOOP completed"));
        }
    }

    /// `FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE since)`: every message whose MODSEQ is
    /// above `since` (RFC 7162 3.1.4).
    pub fn fetch_changed_since(&mut self, out: &mut Vec<String>, tag: &str, since: u64) {
        out.push(format!(
            "C: {tag} FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE {since})"
        ));
        self.changes_since(out, since);
        out.push(format!("S: {tag} OK Fetch completed"));
    }

    /// The untagged FETCH of each message changed after `since`, as a QRESYNC SELECT and a
    /// CHANGEDSINCE fetch report them.
    fn changes_since(&self, out: &mut Vec<String>, since: u64) {
        for (i, m) in self.messages.iter().enumerate() {
            if m.modseq > since {
                out.push(format!(
                    "S: * {} FETCH (UID {} FLAGS ({}) MODSEQ ({}))",
                    i + 1,
                    m.uid,
                    m.flags.join(" "),
                    m.modseq
                ));
            }
        }
    }

    /// `FETCH a:b (UID FLAGS MODSEQ)` while another client expunges one message and then
    /// changes the flags of another. Like Cyrus and Dovecot, the server holds the expunge
    /// back and reports the flag change at once, with its higher MODSEQ. It ends with a plain
    /// `OK` (Cyrus), or, with `lower_code`, with `OK [HIGHESTMODSEQ n]` where n is below the
    /// held-back expunge (Dovecot).
    pub fn fetch_with_changes(
        &mut self,
        out: &mut Vec<String>,
        tag: &str,
        a: u32,
        b: u32,
        lower_code: bool,
    ) {
        self.fetch(out, tag, a, b);
        let done = out.pop();
        if let Some(i) = self.pick_unheld() {
            self.modseq += 1;
            let uid = self.messages[i].uid;
            self.held.push((uid, self.modseq));
            self.expunged.push((uid, self.modseq));
        }
        self.change_flags_one(Some(out));
        if lower_code {
            out.push(format!(
                "S: {tag} OK [HIGHESTMODSEQ {}] Fetch completed",
                self.reported_modseq()
            ));
        } else if let Some(done) = done {
            out.push(done);
        }
    }

    /// The MODSEQ up to which this connection has been told of every expunge: what a
    /// client may claim as HIGHESTMODSEQ at most.
    pub fn reported_modseq(&self) -> u64 {
        self.held
            .iter()
            .map(|(_, m)| m - 1)
            .min()
            .unwrap_or(self.modseq)
    }

    /// Reports the held-back expunges (EXPUNGE, or VANISHED with QRESYNC).
    fn report_held(&mut self, out: &mut Vec<String>) {
        for (uid, _) in std::mem::take(&mut self.held) {
            if let Some(i) = self.messages.iter().position(|m| m.uid == uid) {
                self.messages.remove(i);
                if self.qresync {
                    out.push(format!("S: * VANISHED {uid}"));
                } else {
                    out.push(format!("S: * {} EXPUNGE", i + 1));
                }
            }
        }
    }

    /// A random message that is not held back as expunged.
    fn pick_unheld(&mut self) -> Option<usize> {
        if self.messages.is_empty() {
            return None;
        }
        let i = self.rng.below(self.messages.len() as u64) as usize;
        let uid = self.messages[i].uid;
        (!self.held.iter().any(|(u, _)| *u == uid)).then_some(i)
    }

    /// `LOGOUT`.
    pub fn logout(&mut self, out: &mut Vec<String>, tag: &str) {
        out.push(format!("C: {tag} LOGOUT"));
        out.push("S: * BYE Logging out".into());
        out.push(format!("S: {tag} OK Logout completed"));
    }

    /// Changes the flags of a random message; reports it when `out` is given.
    pub fn change_flags_one(&mut self, out: Option<&mut Vec<String>>) {
        let Some(i) = self.pick_unheld() else {
            return;
        };
        self.modseq += 1;
        let mut flags = Vec::new();
        for f in FLAG_POOL {
            if self.rng.chance(30) {
                flags.push(f.to_string());
            }
        }
        let qresync = self.qresync;
        let modseq = self.modseq;
        let m = &mut self.messages[i];
        m.flags = flags;
        m.modseq = modseq;
        if let Some(out) = out {
            if qresync {
                out.push(format!(
                    "S: * {} FETCH (UID {} MODSEQ ({}) FLAGS ({}))",
                    i + 1,
                    m.uid,
                    m.modseq,
                    m.flags.join(" ")
                ));
            } else {
                out.push(format!(
                    "S: * {} FETCH (MODSEQ ({}) FLAGS ({}))",
                    i + 1,
                    m.modseq,
                    m.flags.join(" ")
                ));
            }
        }
    }

    /// Expunges a random message and reports it (EXPUNGE, or VANISHED with QRESYNC).
    pub fn expunge_one(&mut self, out: &mut Vec<String>) {
        if let Some((seq, uid)) = self.expunge_silently() {
            if self.qresync {
                out.push(format!("S: * VANISHED {uid}"));
            } else {
                out.push(format!("S: * {seq} EXPUNGE"));
            }
        }
    }

    /// Expunges a random message without telling anyone (another client, while offline).
    pub fn expunge_silently(&mut self) -> Option<(u32, u32)> {
        let i = self.pick_unheld()?;
        let m = self.messages.remove(i);
        self.modseq += 1;
        self.expunged.push((m.uid, self.modseq));
        Some((i as u32 + 1, m.uid))
    }

    /// Appends `n` messages.
    pub fn append(&mut self, n: u32) {
        for _ in 0..n {
            self.modseq += 1;
            self.messages.push(SimMessage {
                uid: self.uidnext,
                flags: Vec::new(),
                modseq: self.modseq,
            });
            self.uidnext += 1;
        }
    }
}
