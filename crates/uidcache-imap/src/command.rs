//! The client commands whose answers teach the cache something: SELECT/EXAMINE (a new
//! session), `UID SEARCH [RETURN (ALL)|RETURN ()] a:b` (positions), the commands that release
//! FETCH MODSEQs, and `[UID] FETCH 1:* (FLAGS) [(CHANGEDSINCE m)]` (a flag catch-up, which
//! ends the HIGHESTMODSEQ hold). Everything else only matters through its tag, which marks a
//! commit point when the server completes it.

use crate::seqset::{parse_range, SeqNum};

/// What a client command line means to the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `SELECT` or `EXAMINE`: starts a new session.
    Select {
        /// The command tag.
        tag: String,
        /// Whether it carries a `(QRESYNC (...))` parameter.
        qresync: bool,
    },
    /// `UID SEARCH a:b`, answered by `* SEARCH`, or with `RETURN (ALL)`/`RETURN ()`,
    /// answered by `* ESEARCH (TAG "tag") UID ALL ...`.
    UidSearch {
        /// The command tag.
        tag: String,
        /// The one sequence range searched.
        range: (SeqNum, SeqNum),
        /// Whether the answer comes as ESEARCH (RFC 4731).
        esearch: bool,
    },
    /// `NOOP`, `IDLE`, `CHECK`, `EXPUNGE` or `UID EXPUNGE`: a command during which the server
    /// reports what it held back (expunges may not be sent during FETCH, STORE or SEARCH,
    /// RFC 3501 7.4.1), so FETCH MODSEQs seen before its completion become safe to store.
    Poll {
        /// The command tag.
        tag: String,
    },
    /// `FETCH 1:*` or `UID FETCH 1:*` of `FLAGS` (other plain items allowed), optionally
    /// with `(CHANGEDSINCE m)`: every message's flags changed since `m` (all of them without
    /// it). At its OK completion a cache whose flags were changed by no one since `m` is
    /// current again (format-spec 9.1).
    FlagsCatchUp {
        /// The command tag.
        tag: String,
        /// The `CHANGEDSINCE` value; `None` when every message's flags are fetched.
        since: Option<u64>,
    },
    /// Any other command (or a search that teaches nothing about positions).
    Other {
        /// The command tag, if the line had one.
        tag: Option<String>,
    },
}

/// Classifies one client command line (without CRLF). Never fails: what this crate does not
/// recognize is [`Command::Other`].
pub fn parse_command(line: &[u8]) -> Command {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    let Some(tag) = words.next().map(str::to_string) else {
        return Command::Other { tag: None };
    };
    let rest: Vec<&str> = words.collect();
    let upper = |i: usize| rest.get(i).map(|w| w.to_ascii_uppercase());
    match upper(0).as_deref() {
        Some("SELECT") | Some("EXAMINE") => {
            let qresync = text.to_ascii_uppercase().contains("(QRESYNC ");
            Command::Select { tag, qresync }
        }
        Some("UID") if upper(1).as_deref() == Some("SEARCH") => {
            parse_uid_search(tag, rest.get(2..).unwrap_or(&[]))
        }
        Some("NOOP") | Some("IDLE") | Some("CHECK") | Some("EXPUNGE") => Command::Poll { tag },
        Some("UID") if upper(1).as_deref() == Some("EXPUNGE") => Command::Poll { tag },
        Some("FETCH") => parse_flags_catch_up(tag, rest.get(1..).unwrap_or(&[])),
        Some("UID") if upper(1).as_deref() == Some("FETCH") => {
            parse_flags_catch_up(tag, rest.get(2..).unwrap_or(&[]))
        }
        _ => Command::Other { tag: Some(tag) },
    }
}

/// `1:* <items> [(CHANGEDSINCE m)]` with `FLAGS` among plain items. Anything this does not
/// understand (a section such as `BODY[HEADER.FIELDS (FLAGS)]`, another modifier, a set that
/// is not every message) is [`Command::Other`]: a catch-up recognized wrongly would make the
/// cache claim flags it never fetched.
fn parse_flags_catch_up(tag: String, args: &[&str]) -> Command {
    let other = |tag| Command::Other { tag: Some(tag) };
    let (Some(set), Some(rest)) = (args.first(), args.get(1..)) else {
        return other(tag);
    };
    if *set != "1:*" && *set != "*:1" {
        return other(tag);
    }
    let text = rest.join(" ").to_ascii_uppercase();
    if text.contains(['[', '<', '"', '{']) {
        return other(tag);
    }
    // The items: one atom, or the first parenthesized list; the modifiers follow.
    let (items, modifiers) = match text.strip_prefix('(') {
        Some(inner) => match inner.split_once(')') {
            Some((items, after)) => (items, after.trim()),
            None => return other(tag),
        },
        None => text.split_once(' ').unwrap_or((&text, "")),
    };
    if !items.split(' ').any(|w| w == "FLAGS") {
        return other(tag);
    }
    let since = match modifiers {
        "" => None,
        m => {
            let words: Vec<&str> = m
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(' ')
                .filter(|w| !w.is_empty())
                .collect();
            match words.as_slice() {
                ["CHANGEDSINCE", n] => match n.parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => return other(tag),
                },
                _ => return other(tag),
            }
        }
    };
    Command::FlagsCatchUp { tag, since }
}

fn parse_uid_search(tag: String, args: &[&str]) -> Command {
    let other = |tag| Command::Other { tag: Some(tag) };
    let (esearch, criteria) = match args.first() {
        Some(w) if w.eq_ignore_ascii_case("RETURN") => {
            // The options run from "(" to the word ending in ")".
            let Some(close) = args.iter().position(|w| w.ends_with(')')) else {
                return other(tag);
            };
            let opts: Vec<&str> = args
                .get(1..=close)
                .unwrap_or(&[])
                .iter()
                .flat_map(|w| w.split(['(', ')']))
                .filter(|w| !w.is_empty())
                .collect();
            let plain_all = opts.is_empty()
                || (opts.len() == 1 && opts.iter().all(|o| o.eq_ignore_ascii_case("ALL")));
            if !plain_all || !args.get(1).is_some_and(|w| w.starts_with('(')) {
                return other(tag);
            }
            (true, args.get(close + 1..).unwrap_or(&[]))
        }
        _ => (false, args),
    };
    match criteria {
        [one] => match parse_range(one.as_bytes()) {
            Some(range) => Command::UidSearch {
                tag,
                range,
                esearch,
            },
            None => other(tag),
        },
        _ => other(tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(
            parse_command(b"a1 select INBOX (QRESYNC (1 2))"),
            Command::Select {
                tag: "a1".into(),
                qresync: true
            }
        );
        assert_eq!(
            parse_command(b"a1 EXAMINE INBOX (CONDSTORE)"),
            Command::Select {
                tag: "a1".into(),
                qresync: false
            }
        );
        let s = |r, e| Command::UidSearch {
            tag: "t".into(),
            range: r,
            esearch: e,
        };
        assert_eq!(
            parse_command(b"t UID SEARCH 1:5"),
            s((SeqNum::Value(1), SeqNum::Value(5)), false)
        );
        assert_eq!(
            parse_command(b"t uid search return (ALL) 3:*"),
            s((SeqNum::Value(3), SeqNum::Star), true)
        );
        assert_eq!(
            parse_command(b"t UID SEARCH RETURN () 7"),
            s((SeqNum::Value(7), SeqNum::Value(7)), true)
        );
        for other in [
            &b"t UID SEARCH RETURN (MIN MAX) 1:5"[..],
            b"t UID SEARCH RETURN (ALL COUNT) 1:5",
            b"t UID SEARCH SEEN 1:5",
            b"t UID SEARCH UID 1:5",
            b"t SEARCH 1:5",
            b"t UID SEARCH 1:5,7",
            b"t FETCH 1:5 (UID FLAGS MODSEQ)",
            b"t FETCH 1:* (UID MODSEQ)",
            b"t FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FLAGS)])",
            b"t FETCH 1:* (FLAGS) (CHANGEDSINCE x)",
            b"t UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)",
            b"t FETCH 2:* FLAGS",
            b"t UID STORE 1 +FLAGS (\\Seen)",
            b"t NOOPX",
        ] {
            assert_eq!(
                parse_command(other),
                Command::Other {
                    tag: Some("t".into())
                }
            );
        }
        for poll in [
            &b"t NOOP"[..],
            b"t idle",
            b"t CHECK",
            b"t EXPUNGE",
            b"t UID EXPUNGE 1:5",
        ] {
            assert_eq!(parse_command(poll), Command::Poll { tag: "t".into() });
        }
        assert_eq!(parse_command(b""), Command::Other { tag: None });
        let c = |since| Command::FlagsCatchUp {
            tag: "t".into(),
            since,
        };
        assert_eq!(
            parse_command(b"t FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 10)"),
            c(Some(10))
        );
        assert_eq!(
            parse_command(b"t uid fetch *:1 (flags) (changedsince 3)"),
            c(Some(3))
        );
        assert_eq!(parse_command(b"t FETCH 1:* FLAGS"), c(None));
        assert_eq!(parse_command(b"t FETCH 1:* (UID FLAGS)"), c(None));
    }
}
