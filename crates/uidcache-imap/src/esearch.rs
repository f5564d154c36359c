//! `* ESEARCH` (RFC 4731), which imap-codec does not parse; read narrowly here:
//! `ESEARCH [(TAG "tag")] [UID] *(SP name SP value)`, keeping the `ALL` set.

use crate::error::{Error, Result};
use crate::event::Event;
use crate::seqset::parse_uid_set;

/// Parses a whole `* ESEARCH ...` line.
pub(crate) fn parse(line: &[u8]) -> Result<Event> {
    let malformed = || Error::Malformed(String::from_utf8_lossy(line).chars().take(200).collect());
    let rest = line.get(b"* ESEARCH".len()..).ok_or_else(malformed)?;
    let mut rest = rest;
    let mut tag = None;
    if rest.len() >= 6
        && rest
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b" (TAG "))
    {
        let after = rest.get(6..).ok_or_else(malformed)?;
        let (t, more) = quoted(after).ok_or_else(malformed)?;
        tag = Some(t);
        rest = more.strip_prefix(b")").ok_or_else(malformed)?;
    }
    let words = tokens(rest).ok_or_else(malformed)?;
    let mut words = words.into_iter().peekable();
    let uid = words.next_if(|w| w.eq_ignore_ascii_case(b"UID")).is_some();
    let mut all = None;
    while let Some(name) = words.next() {
        let value = words.next().ok_or_else(malformed)?;
        if name.eq_ignore_ascii_case(b"ALL") {
            all = Some(parse_uid_set(value).ok_or_else(malformed)?);
        }
    }
    Ok(Event::Esearch { tag, uid, all })
}

/// A quoted string at the start of `s`, and what follows it.
fn quoted(s: &[u8]) -> Option<(String, &[u8])> {
    let body = s.strip_prefix(b"\"")?;
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        match *body.get(i)? {
            b'\\' => {
                out.push(*body.get(i + 1)?);
                i += 2;
            }
            b'"' => {
                return Some((
                    String::from_utf8_lossy(&out).into_owned(),
                    body.get(i + 1..)?,
                ))
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// Space-separated words, a parenthesized value counting as one word.
fn tokens(s: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s.get(i) != Some(&b' ') {
            return None;
        }
        i += 1;
        let start = i;
        let mut depth = 0usize;
        while let Some(&b) = s.get(i) {
            match b {
                b'(' => depth += 1,
                b')' => depth = depth.checked_sub(1)?,
                b' ' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        if depth != 0 || start == i {
            return None;
        }
        out.push(s.get(start..i)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_esearch() {
        let e = |l: &[u8]| parse(l).ok();
        assert_eq!(
            e(b"* ESEARCH (TAG \"s3\") UID ALL 872:875,877"),
            Some(Event::Esearch {
                tag: Some("s3".into()),
                uid: true,
                all: Some(vec![(872, 875), (877, 877)])
            })
        );
        assert_eq!(
            e(b"* ESEARCH (TAG \"s13\") UID"),
            Some(Event::Esearch {
                tag: Some("s13".into()),
                uid: true,
                all: None
            })
        );
        assert_eq!(
            e(b"* ESEARCH (TAG \"s10\") UID MIN 1 MAX 1200 COUNT 1020"),
            Some(Event::Esearch {
                tag: Some("s10".into()),
                uid: true,
                all: None
            })
        );
        assert_eq!(
            e(b"* ESEARCH (TAG \"s15\") ALL 1:100"),
            Some(Event::Esearch {
                tag: Some("s15".into()),
                uid: false,
                all: Some(vec![(1, 100)])
            })
        );
        assert_eq!(
            e(b"* ESEARCH"),
            Some(Event::Esearch {
                tag: None,
                uid: false,
                all: None
            })
        );
        assert!(parse(b"* ESEARCH (TAG \"x) UID").is_err());
        assert!(parse(b"* ESEARCH UID ALL").is_err());
        assert!(parse(b"* ESEARCH UID ALL 1:*").is_err());
    }
}
