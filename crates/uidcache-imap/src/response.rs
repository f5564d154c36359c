//! Server response lines → the [`Event`]s that change a cache. Parsing is imap-codec's
//! (with the CONDSTORE/QRESYNC extension); ESEARCH, which imap-codec does not parse, is
//! read by [`crate::esearch`]. Lines that parse to nothing relevant become [`Event::Ignored`].

use imap_codec::decode::Decoder;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::FlagFetch;
use imap_codec::imap_types::response::{Code, Data, Response, Status, StatusKind};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
use imap_codec::ResponseCodec;

use crate::error::{Error, Result};
use crate::esearch;
use crate::event::{CacheCode, Completion, Event};
use crate::fetchline::{flag_words, list_inside, FetchLine, Item};

/// Parses one server response (without its final CRLF).
///
/// A response that carries literals is passed whole, as one unit: the line up to and
/// including each `{n}`, the CRLF after it, the literal's `n` bytes, and the rest, up to the
/// final CRLF (which is left off). `* 1 FETCH (UID 3 BODY[] {5}\r\nhello FLAGS ())` is one
/// response.
///
/// Only what the cache uses must parse; in a FETCH response every item but UID, FLAGS and
/// MODSEQ is skipped by its shape (so `X-GM-LABELS`, `EMAILID`, `PREVIEW`, `BODY[...]`
/// literals, ... are fine), and a response code the cache does not use is ignored.
pub fn parse_response(line: &[u8]) -> Result<Event> {
    if let Some(split) = FetchLine::split(line) {
        let fetch = split.map_err(|_| malformed(line))?;
        return parse_fetch(line, &fetch);
    }
    let mut input = Vec::with_capacity(line.len() + 2);
    input.extend_from_slice(line);
    input.extend_from_slice(b"\r\n");
    match ResponseCodec::default().decode(&input) {
        Ok((_, response)) => {
            let event = from_codec(response);
            // A code of ours that imap-codec could only read as an unknown one (such as
            // `[UIDVALIDITY 0]`) is a broken response, not an ignorable one.
            if matches!(event, Event::Ignored | Event::Tagged { code: None, .. })
                && names_cache_code(line)
            {
                return Err(malformed(line));
            }
            Ok(event)
        }
        Err(_) => fallback(line),
    }
}

/// The longest `FLAGS (...)` list accepted: the engine's limits on one message's flags
/// ([`uidcache_engine::MAX_FLAG_BYTES`] of names, [`uidcache_engine::MAX_FLAGS`] names) plus a
/// separator each. Checked on the raw line before anything is parsed, so that a hostile
/// 100 MB FLAGS list costs a scan, not the gigabytes its parsed flags would take.
pub const MAX_FLAG_LIST_BYTES: usize = uidcache_engine::MAX_FLAG_BYTES + uidcache_engine::MAX_FLAGS;

/// The items the cache stores; every other FETCH item is skipped.
const STORED_ITEMS: [&[u8]; 3] = [b"UID", b"FLAGS", b"MODSEQ"];

/// A FETCH response: the stored items are parsed by imap-codec, on a line rebuilt from them
/// alone, so that their syntax is checked as strictly as ever while items imap-codec does
/// not know (or a 30 MB body) never reach it.
fn parse_fetch(line: &[u8], fetch: &FetchLine) -> Result<Event> {
    if let Some(value) = fetch.item(line, b"FLAGS") {
        let inside = list_inside(value).map_or(value.len(), <[u8]>::len);
        if inside > MAX_FLAG_LIST_BYTES {
            return Err(Error::FlagListTooLong { bytes: inside });
        }
    }
    let stored: Vec<&Item> = fetch
        .items
        .iter()
        .filter(|it| {
            line.get(it.name.clone())
                .is_some_and(|n| STORED_ITEMS.iter().any(|s| n.eq_ignore_ascii_case(s)))
        })
        .collect();
    if stored.is_empty() {
        // Nothing to store, but the sequence number still says which message changed.
        let seq = line
            .get(fetch.seq.clone())
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| malformed(line))?;
        return Ok(Event::Fetch {
            seq,
            uid: None,
            flags: None,
            modseq: None,
        });
    }
    let mut input = Vec::with_capacity(line.len().min(256));
    input.extend_from_slice(b"* ");
    input.extend_from_slice(line.get(fetch.seq.clone()).unwrap_or_default());
    input.extend_from_slice(b" FETCH (");
    for (k, it) in stored.iter().enumerate() {
        if k > 0 {
            input.push(b' ');
        }
        input.extend_from_slice(line.get(it.name.start..it.value.end).unwrap_or_default());
    }
    input.extend_from_slice(b")\r\n");
    match ResponseCodec::default().decode(&input) {
        Ok((_, Response::Data(Data::Fetch { seq, items }))) => {
            let raw_flags = fetch.item(line, b"FLAGS").and_then(list_inside);
            Ok(fetch_event(seq.get(), items.as_ref(), raw_flags))
        }
        _ => Err(malformed(line)),
    }
}

fn malformed(line: &[u8]) -> Error {
    Error::Malformed(String::from_utf8_lossy(line).chars().take(200).collect())
}

fn from_codec(response: Response<'_>) -> Event {
    match response {
        Response::Data(data) => from_data(data),
        Response::Status(Status::Untagged(body)) if body.kind == StatusKind::Ok => body
            .code
            .and_then(cache_code)
            .map_or(Event::Ignored, Event::Code),
        Response::Status(Status::Tagged(t)) => Event::Tagged {
            tag: t.tag.as_ref().to_string(),
            status: match t.body.kind {
                StatusKind::Ok => Completion::Ok,
                StatusKind::No => Completion::No,
                StatusKind::Bad => Completion::Bad,
            },
            code: t.body.code.and_then(cache_code),
        },
        _ => Event::Ignored,
    }
}

fn cache_code(code: Code<'_>) -> Option<CacheCode> {
    Some(match code {
        Code::UidValidity(v) => CacheCode::UidValidity(v.get()),
        Code::UidNext(v) => CacheCode::UidNext(v.get()),
        Code::HighestModSeq(v) => CacheCode::HighestModseq(v.get()),
        Code::NoModSeq => CacheCode::NoModseq,
        Code::Closed => CacheCode::Closed,
        _ => return None,
    })
}

fn from_data(data: Data<'_>) -> Event {
    match data {
        Data::Exists(n) => Event::Exists(n),
        Data::Expunge(n) => Event::Expunge(n.get()),
        Data::Vanished {
            earlier,
            known_uids,
        } => Event::Vanished {
            earlier,
            uids: known_uids
                .0
                .as_ref()
                .iter()
                .map(|s| match s {
                    Sequence::Single(v) => (value(v), value(v)),
                    Sequence::Range(a, b) => (value(a).min(value(b)), value(a).max(value(b))),
                })
                .collect(),
        },
        Data::Search(uids, ..) => Event::Search(uids.iter().map(|u| u.get()).collect()),
        // FETCH responses are split first (`parse_fetch`); one imap-codec still reads as a
        // FETCH keeps its flags as imap-codec wrote them.
        Data::Fetch { seq, items } => fetch_event(seq.get(), items.as_ref(), None),
        _ => Event::Ignored,
    }
}

/// The stored items of a FETCH. `raw_flags` is the inside of the FLAGS list as received:
/// imap-codec normalizes the case of system flags, while the cache keeps the bytes.
fn fetch_event(seq: u32, items: &[MessageDataItem<'_>], raw_flags: Option<&[u8]>) -> Event {
    let (mut uid, mut flags, mut modseq) = (None, None, None);
    for item in items {
        match item {
            MessageDataItem::Uid(u) => uid = Some(u.get()),
            MessageDataItem::ModSeq(m) => modseq = Some(m.get()),
            MessageDataItem::Flags(list) => {
                flags = Some(raw_flags.map(flag_words).unwrap_or_else(|| {
                    list.iter()
                        .map(|f| match f {
                            FlagFetch::Flag(f) => f.to_string().into_bytes(),
                            FlagFetch::Recent => b"\\Recent".to_vec(),
                        })
                        .collect()
                }))
            }
            _ => {}
        }
    }
    Event::Fetch {
        seq,
        uid,
        flags,
        modseq,
    }
}

fn value(v: &SeqOrUid) -> u32 {
    // `*` cannot appear in a VANISHED set; reading it as the largest UID is harmless.
    match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => u32::MAX,
    }
}

/// Lines imap-codec rejects: ESEARCH is parsed here; a line that looks like a response the
/// cache uses is an error; anything else (an extension imap-codec does not know) is ignored.
fn fallback(line: &[u8]) -> Result<Event> {
    let text = String::from_utf8_lossy(line);
    let words: Vec<&str> = text.split(' ').collect();
    let upper = |i: usize| {
        words
            .get(i)
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default()
    };
    let malformed = || Err(Error::Malformed(text.chars().take(200).collect()));
    if words.first() == Some(&"*") {
        let w1 = upper(1);
        if w1 == "ESEARCH" {
            return esearch::parse(line);
        }
        if matches!(w1.as_str(), "VANISHED" | "SEARCH") {
            return malformed();
        }
        if w1.bytes().all(|b| b.is_ascii_digit())
            && matches!(upper(2).as_str(), "EXISTS" | "EXPUNGE" | "FETCH")
        {
            return malformed();
        }
        if w1 == "OK" && mentions_cache_code(&upper(2)) {
            return malformed();
        }
        return Ok(Event::Ignored);
    }
    let status = match upper(1).as_str() {
        "OK" => Completion::Ok,
        "NO" => Completion::No,
        "BAD" => Completion::Bad,
        _ => return Ok(Event::Ignored),
    };
    let tag = words.first().copied().unwrap_or_default();
    if tag.is_empty() || tag == "+" || mentions_cache_code(&upper(2)) {
        return malformed();
    }
    // A completion whose text imap-codec rejects is still a commit point.
    Ok(Event::Tagged {
        tag: tag.to_string(),
        status,
        code: None,
    })
}

/// Whether the line's response code is one of the cache's (`* OK [CODE` or `tag OK [CODE`).
fn names_cache_code(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split(' ');
    let (_, status, code) = (words.next(), words.next(), words.next());
    status.is_some_and(|s| s.eq_ignore_ascii_case("OK"))
        && code.is_some_and(|c| c.starts_with('[') && mentions_cache_code(&c.to_ascii_uppercase()))
}

fn mentions_cache_code(word: &str) -> bool {
    let word = word.trim_start_matches('[').trim_end_matches(']');
    matches!(
        word,
        "UIDVALIDITY" | "UIDNEXT" | "HIGHESTMODSEQ" | "NOMODSEQ" | "CLOSED"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_cache_uses() {
        assert_eq!(parse_response(b"* 5 EXISTS").ok(), Some(Event::Exists(5)));
        assert_eq!(parse_response(b"* 3 EXPUNGE").ok(), Some(Event::Expunge(3)));
        assert_eq!(
            parse_response(b"* 1 FETCH (FLAGS (\\SEEN $x) UID 9 MODSEQ (4))").ok(),
            Some(Event::Fetch {
                seq: 1,
                uid: Some(9),
                flags: Some(vec![b"\\SEEN".to_vec(), b"$x".to_vec()]),
                modseq: Some(4)
            })
        );
        assert_eq!(
            parse_response(b"* VANISHED (EARLIER) 1:3,7").ok(),
            Some(Event::Vanished {
                earlier: true,
                uids: vec![(1, 3), (7, 7)]
            })
        );
        assert_eq!(
            parse_response(b"* OK [HIGHESTMODSEQ 7] Highest").ok(),
            Some(Event::Code(CacheCode::HighestModseq(7)))
        );
        assert_eq!(
            parse_response(b"a1 OK [HIGHESTMODSEQ 9] done").ok(),
            Some(Event::Tagged {
                tag: "a1".into(),
                status: Completion::Ok,
                code: Some(CacheCode::HighestModseq(9))
            })
        );
        assert_eq!(
            parse_response(b"* OK [CLOSED] x").ok(),
            Some(Event::Code(CacheCode::Closed))
        );
        assert_eq!(
            parse_response(b"* SEARCH 2 4").ok(),
            Some(Event::Search(vec![2, 4]))
        );
        assert_eq!(
            parse_response(b"* FLAGS (\\Seen)").ok(),
            Some(Event::Ignored)
        );
    }

    #[test]
    fn rejects_broken_cache_responses() {
        for bad in [
            &b"* 0 EXISTS x"[..],
            b"* 1 FETCH (UID x)",
            b"* 1 FETCH (MODSEQ (0))",
            b"* VANISHED x",
            b"* OK [UIDVALIDITY 0] x",
            b"* ESEARCH (TAG \"a\") UID ALL 3:x",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_response(b"* WHATEVER 1 2").ok(), Some(Event::Ignored));
    }

    /// Real servers answer FETCH with items beside the three the cache stores; each of them
    /// made the whole response `Malformed` while imap-codec parsed every item.
    #[test]
    fn skips_fetch_items_the_cache_does_not_store() {
        let fetch = |uid, flags: &[&[u8]], modseq| Event::Fetch {
            seq: 1,
            uid: Some(uid),
            flags: Some(flags.iter().map(|f| f.to_vec()).collect()),
            modseq,
        };
        for (line, want) in [
            (
                &b"* 1 FETCH (UID 3 FLAGS (\\Seen) X-GM-LABELS (\\Inbox \"a b\") X-GM-MSGID 123)"[..],
                fetch(3, &[b"\\Seen"], None),
            ),
            (
                b"* 1 FETCH (X-GM-THRID 1278455344230334865 UID 3 FLAGS (\\Seen) MODSEQ (5))",
                fetch(3, &[b"\\Seen"], Some(5)),
            ),
            (
                b"* 1 FETCH (UID 3 FLAGS () EMAILID (M1) THREADID (T1) SAVEDATE NIL)",
                fetch(3, &[], None),
            ),
            (
                b"* 1 FETCH (UID 3 PREVIEW {12}\r\nFLAGS (\\no)) FLAGS ($x))",
                fetch(3, &[b"$x"], None),
            ),
            (
                b"* 1 FETCH (UID 3 BINARY.SIZE[1] 12 BINARY[1] ~{2}\r\n\0\0 FLAGS (a))",
                fetch(3, &[b"a"], None),
            ),
        ] {
            assert_eq!(
                parse_response(line).ok(),
                Some(want),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(
            parse_response(b"* 4 FETCH (X-GM-LABELS (\\Starred))").ok(),
            Some(Event::Fetch {
                seq: 4,
                uid: None,
                flags: None,
                modseq: None
            })
        );
    }

    #[test]
    fn the_stored_items_stay_strict_among_unknown_ones() {
        for bad in [
            &b"* 1 FETCH (X-GM-MSGID 1 UID x)"[..],
            b"* 1 FETCH (EMAILID (M1) MODSEQ (0))",
            b"* 1 FETCH (PREVIEW \"x\" FLAGS (\"q\"))",
            b"* 1 FETCH (UID 3 BODY[] {9}\r\nshort)",
            b"* 0 FETCH (X-GM-MSGID 1)",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
