//! What the server says about the account's mailboxes: one `LIST ... RETURN (STATUS ...)`
//! (RFC 5819) where LIST-STATUS is offered, else a LIST batch and then a STATUS batch, each
//! pipelined (one round trip each). And, for a mailbox that LIST no longer shows, whether it
//! is really gone.

use std::collections::HashMap;

use crate::conn::{Conn, Kind, Received};
use crate::error::{printable, Error, Result};
use crate::mailbox;

use super::file::Counters;
use super::value::{self, Value};

/// One mailbox as LIST (and STATUS) showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The name as sent (modified UTF-7); `INBOX` in any case is `INBOX`.
    pub raw: Vec<u8>,
    /// The hierarchy delimiter (`None`: NIL).
    pub delimiter: Option<char>,
    /// LIST attributes as sent.
    pub attributes: Vec<String>,
    /// STATUS counters; `None` when the server sent none (then the mailbox is behind).
    pub status: Option<Counters>,
    /// MAILBOXID (RFC 8474), with OBJECTID.
    pub mailbox_id: Option<String>,
}

impl Listed {
    /// Whether LIST says the mailbox cannot be selected.
    pub fn is_selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }
}

/// The STATUS items asked for (MAILBOXID apart: see [`list`]).
fn status_items(conn: &Conn) -> String {
    let mut items = String::from("MESSAGES UIDNEXT UIDVALIDITY");
    if conn.has("CONDSTORE") || conn.has("QRESYNC") {
        items.push_str(" HIGHESTMODSEQ");
    }
    items
}

/// Lists the mailboxes matching `patterns` (LIST wildcards, UTF-8; `*` for all) with their
/// STATUS, in as few round trips as the server allows. With `enable`, `ENABLE QRESYNC` goes
/// in the same batch (RFC 5161: before any SELECT; it changes nothing in LIST or STATUS
/// answers), so that changed mailboxes can be selected with QRESYNC on this connection
/// without a round trip of its own. Returns the mailboxes and whether the server answered
/// `* ENABLED QRESYNC` (only that answer enables it: RFC 5162 erratum 1365).
pub(crate) fn list(
    conn: &mut Conn,
    patterns: &[String],
    enable: bool,
) -> Result<(Vec<Listed>, bool)> {
    // In the first batch's write; a refusal only leaves QRESYNC off.
    let first: Vec<String> = if enable {
        vec!["ENABLE QRESYNC".to_string()]
    } else {
        Vec::new()
    };
    let mut enabled = false;
    let mut note_enabled = |untagged: &[Received]| {
        enabled |= untagged.iter().any(|r| is_enabled_qresync(&r.raw));
    };
    let pats: Vec<String> = patterns.iter().map(|p| mailbox::quoted(p)).collect();
    let items = status_items(conn);
    // MAILBOXID is asked for on its own, in the same batch (no extra round trip): Cyrus
    // 3.6.1 answers it with garbage bytes when other items come in the same STATUS.
    let ids = conn.has("OBJECTID");
    let mut found: Vec<Listed> = Vec::new();
    if conn.has("LIST-STATUS") {
        let special = if conn.has("SPECIAL-USE") {
            "SPECIAL-USE "
        } else {
            ""
        };
        let pats = pats.join(" ");
        let mut cmds = first.clone();
        cmds.push(format!(
            "LIST \"\" ({pats}) RETURN ({special}STATUS ({items}))"
        ));
        if ids {
            cmds.push(format!("LIST \"\" ({pats}) RETURN (STATUS (MAILBOXID))"));
        }
        let (untagged, _) = exchange_from(conn, cmds, Some(first.len()))?;
        note_enabled(&untagged);
        absorb(&mut found, &untagged)?;
    } else {
        let mut cmds = first.clone();
        cmds.extend(pats.iter().map(|p| format!("LIST \"\" {p}")));
        let (untagged, _) = exchange_from(conn, cmds, Some(first.len()))?;
        note_enabled(&untagged);
        absorb(&mut found, &untagged)?;
        let mut cmds = Vec::new();
        for l in found.iter().filter(|l| l.is_selectable()) {
            if let Some(q) = value::quote(&l.raw) {
                cmds.push(format!("STATUS {q} ({items})"));
                if ids {
                    cmds.push(format!("STATUS {q} (MAILBOXID)"));
                }
            }
        }
        // A STATUS that fails (a mailbox deleted since the LIST) leaves that mailbox
        // without counters: it is then behind, and its sync says what is wrong.
        let (untagged, _) = exchange(conn, cmds, false)?;
        absorb(&mut found, &untagged)?;
    }
    Ok((found, enabled))
}

/// `* ENABLED ... QRESYNC ...` (RFC 5161 3.2).
fn is_enabled_qresync(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw).to_ascii_uppercase();
    let mut words = text.split_ascii_whitespace();
    words.next() == Some("*") && words.next() == Some("ENABLED") && words.any(|w| w == "QRESYNC")
}

/// Of `names` (not in the last LIST), which ones the server confirms are gone: a LIST of
/// exactly that name shows nothing selectable, and STATUS on it fails. Anything else (a
/// dropped connection, a STATUS that succeeds) keeps the cache.
pub(crate) fn confirm_gone(conn: &mut Conn, names: &[Vec<u8>]) -> Result<Vec<bool>> {
    let mut cmds = Vec::new();
    let mut asked = Vec::new();
    for raw in names {
        // Wildcards in a name would make LIST match others; the exact match is checked.
        if let Some(q) = value::quote(raw) {
            cmds.push(format!("LIST \"\" {q}"));
            cmds.push(format!("STATUS {q} (UIDVALIDITY)"));
            asked.push(raw.clone());
        }
    }
    let (untagged, done) = exchange(conn, cmds, false)?;
    let mut listed = Vec::new();
    absorb(&mut listed, &untagged)?;
    Ok(names
        .iter()
        .map(|raw| {
            let Some(i) = asked.iter().position(|a| a == raw) else {
                return false;
            };
            let still_listed = listed.iter().any(|l| l.raw == *raw && l.is_selectable());
            let status_failed = done.get(2 * i + 1).is_some_and(|ok| !ok);
            !still_listed && status_failed
        })
        .collect())
}

/// Sends `commands` at once (one round trip) and reads until all complete. Returns the
/// untagged responses and, per command, whether it completed OK. With `strict`, a command
/// that fails is an error.
pub(crate) fn exchange(
    conn: &mut Conn,
    commands: Vec<String>,
    strict: bool,
) -> Result<(Vec<Received>, Vec<bool>)> {
    exchange_from(conn, commands, strict.then_some(0))
}

/// [`exchange`], where only the commands from index `strict_from` on are strict.
fn exchange_from(
    conn: &mut Conn,
    commands: Vec<String>,
    strict_from: Option<usize>,
) -> Result<(Vec<Received>, Vec<bool>)> {
    let tags = conn.send_all(&commands)?;
    let mut done: Vec<Option<bool>> = vec![None; tags.len()];
    let mut untagged = Vec::new();
    while done.iter().any(Option::is_none) {
        let r = conn
            .read(None)?
            .ok_or_else(|| Error::Closed(String::new()))?;
        match &r.kind {
            Kind::Tagged { tag, ok } => {
                if let Some(i) = tags.iter().position(|t| t == tag) {
                    if !ok && strict_from.is_some_and(|from| i >= from) {
                        return Err(Error::Command {
                            command: commands.get(i).cloned().unwrap_or_default(),
                            response: printable(&r.raw),
                        });
                    }
                    if let Some(slot) = done.get_mut(i) {
                        *slot = Some(*ok);
                    }
                }
            }
            Kind::Bye => return Err(Error::Closed(format!(": {}", printable(&r.raw)))),
            Kind::Untagged => untagged.push(r),
            Kind::Continuation => {}
        }
    }
    Ok((
        untagged,
        done.into_iter().map(|d| d == Some(true)).collect(),
    ))
}

/// Folds `* LIST` and `* STATUS` responses into `found` (a STATUS for a name not listed
/// is kept only when that name is listed).
pub(crate) fn absorb(found: &mut Vec<Listed>, untagged: &[Received]) -> Result<()> {
    let mut statuses: HashMap<Vec<u8>, Counters> = HashMap::new();
    let mut ids: HashMap<Vec<u8>, String> = HashMap::new();
    for r in untagged {
        let Some(rest) = r.raw.strip_prefix(b"* ") else {
            continue;
        };
        let word = rest.split(|&b| b == b' ').next().unwrap_or_default();
        let bad = || Error::Protocol {
            what: "an unreadable LIST or STATUS response".into(),
            message: printable(&r.raw),
        };
        if word.eq_ignore_ascii_case(b"LIST") {
            let l = parse_list(rest).ok_or_else(bad)?;
            match found.iter_mut().find(|f| f.raw == l.raw) {
                Some(f) => {
                    f.attributes = l.attributes;
                    f.delimiter = l.delimiter;
                }
                None => found.push(l),
            }
        } else if word.eq_ignore_ascii_case(b"STATUS") {
            let (raw, counters, id) = parse_status(rest).ok_or_else(bad)?;
            if let Some(id) = id {
                ids.insert(raw.clone(), id);
            }
            if let Some(c) = counters {
                statuses.insert(raw, c);
            }
        }
    }
    for f in found.iter_mut() {
        if let Some(c) = statuses.remove(&f.raw) {
            f.status = Some(c);
        }
        if let Some(id) = ids.remove(&f.raw) {
            f.mailbox_id = Some(id);
        }
    }
    Ok(())
}

fn normalize(raw: Vec<u8>) -> Vec<u8> {
    if raw.eq_ignore_ascii_case(b"INBOX") {
        b"INBOX".to_vec()
    } else {
        raw
    }
}

/// `LIST (attrs) delimiter name [extended data]`.
fn parse_list(rest: &[u8]) -> Option<Listed> {
    let v = value::parse(rest)?;
    let Value::List(attrs) = v.get(1)? else {
        return None;
    };
    let delimiter = match v.get(2)? {
        Value::Nil => None,
        d => std::str::from_utf8(d.bytes()?).ok()?.chars().next(),
    };
    let raw = normalize(v.get(3)?.bytes()?.to_vec());
    Some(Listed {
        raw,
        delimiter,
        attributes: attrs.iter().filter_map(Value::text).collect(),
        status: None,
        mailbox_id: None,
    })
}

/// `STATUS name (item value ...)`: the name and, when all of MESSAGES, UIDNEXT and
/// UIDVALIDITY are there, the counters.
fn parse_status(rest: &[u8]) -> Option<(Vec<u8>, Option<Counters>, Option<String>)> {
    let v = value::parse(rest)?;
    let raw = normalize(v.get(1)?.bytes()?.to_vec());
    let Value::List(items) = v.get(2)? else {
        return None;
    };
    let mut numbers: HashMap<String, u64> = HashMap::new();
    let mut id = None;
    for pair in items.chunks(2) {
        let (Some(k), Some(val)) = (pair.first(), pair.get(1)) else {
            return None;
        };
        let key = k.text()?.to_ascii_uppercase();
        if key == "MAILBOXID" {
            // RFC 8474 4: MAILBOXID (objectid).
            let text = match val {
                Value::List(l) => l.first().and_then(Value::text),
                other => other.text(),
            };
            // RFC 8474 4: objectid = 1*255(ALPHA / DIGIT / "_" / "-"). Anything else is
            // not an identity to move caches by.
            id = text.filter(|t| {
                !t.is_empty()
                    && t.len() <= 255
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        } else if let Some(n) = val.number() {
            numbers.insert(key, n);
        }
    }
    let u32_of = |k: &str| numbers.get(k).and_then(|n| u32::try_from(*n).ok());
    let counters = match (u32_of("MESSAGES"), u32_of("UIDNEXT"), u32_of("UIDVALIDITY")) {
        (Some(messages), Some(uidnext), Some(uidvalidity)) => Some(Counters {
            uidvalidity,
            uidnext,
            messages,
            highestmodseq: numbers.get("HIGHESTMODSEQ").copied().filter(|m| *m != 0),
        }),
        _ => None,
    };
    Some((raw, counters, id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_list_and_status() {
        let l = parse_list(br#"LIST (\HasNoChildren \Drafts) "/" "INBOX/Entw&APw-rfe""#).unwrap();
        assert_eq!(l.raw, b"INBOX/Entw&APw-rfe");
        assert_eq!(l.delimiter, Some('/'));
        assert_eq!(l.attributes, ["\\HasNoChildren", "\\Drafts"]);
        assert_eq!(parse_list(b"LIST () NIL inbox").unwrap().raw, b"INBOX");
        let (raw, c, id) = parse_status(
            b"STATUS \"a b\" (MESSAGES 3 UIDNEXT 9 UIDVALIDITY 77 HIGHESTMODSEQ 12 MAILBOXID (F1-x))",
        )
        .unwrap();
        assert_eq!(raw, b"a b");
        assert_eq!(
            c,
            Some(Counters {
                uidvalidity: 77,
                uidnext: 9,
                messages: 3,
                highestmodseq: Some(12)
            })
        );
        assert_eq!(id.as_deref(), Some("F1-x"));
        let (_, c, _) = parse_status(b"STATUS x (MESSAGES 3)").unwrap();
        assert_eq!(c, None);
        // Cyrus 3.6.1's MAILBOXID beside other items: bytes that are no objectid.
        let (_, _, id) = parse_status(b"STATUS x (MESSAGES 0 MAILBOXID (J\x07\x08nQV))").unwrap();
        assert_eq!(id, None);
    }
}
