//! The item list of `* n FETCH (...)`, read as raw bytes: where each item's name and value
//! lie in the line, without interpreting any value.
//!
//! Servers answer a client's FETCH with whatever items it asked for, beside the three the
//! cache stores (UID, FLAGS, MODSEQ): `X-GM-LABELS`, `EMAILID`, `PREVIEW`, `SAVEDATE`,
//! `BODY[...]` literals, an `ENVELOPE` holding literals, ... A parser that must understand
//! every item refuses the whole response at the first one it does not know. Here every item
//! is just `name SP value`, where a value is an atom, a quoted string, a literal
//! (`{n}` or `~{n}`, CRLF, then `n` bytes) or a parenthesized list of those, so an unknown
//! item is skipped by its shape. The items the cache stores are then parsed strictly.
//!
//! It also finds the FLAGS list on the raw line: the cache stores flags as received (while
//! imap-codec rewrites system flags in canonical case), and a hostile FLAGS list is refused
//! by its length before anything parses it.

use std::ops::Range;

/// One `name SP value` item of a FETCH response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    /// The name, with any `[section]` and `<partial>` (`BODY[HEADER]<0>`).
    pub(crate) name: Range<usize>,
    /// The value as it stands in the line (a FLAGS value includes its parentheses).
    pub(crate) value: Range<usize>,
}

/// A FETCH response split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchLine {
    /// The sequence number's digits.
    pub(crate) seq: Range<usize>,
    /// The items, in order.
    pub(crate) items: Vec<Item>,
}

/// The FETCH response shape was recognized (`* n FETCH (`), but the rest does not split
/// into items: an unbalanced list, a cut literal, a line break outside a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsplittable;

impl FetchLine {
    /// Splits `line` (a whole response without its final CRLF; a literal's bytes included)
    /// when it is a FETCH response; `None` when it is not one.
    pub(crate) fn split(line: &[u8]) -> Option<Result<FetchLine, Unsplittable>> {
        let rest = line.strip_prefix(b"* ")?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let after = rest.get(digits..)?;
        let keyword = b" FETCH (";
        if digits == 0 || !after.get(..keyword.len())?.eq_ignore_ascii_case(keyword) {
            return None;
        }
        let seq = 2..2 + digits;
        Some(items(line, seq.end + keyword.len()).map(|items| FetchLine { seq, items }))
    }

    /// The first item named `name` (ASCII case-insensitive).
    pub(crate) fn item<'l>(&self, line: &'l [u8], name: &[u8]) -> Option<&'l [u8]> {
        self.items
            .iter()
            .find(|it| {
                line.get(it.name.clone())
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|it| line.get(it.value.clone()))
    }
}

/// The inside of a FLAGS value `(a b c)`, or `None` when the value is not a list.
pub(crate) fn list_inside(value: &[u8]) -> Option<&[u8]> {
    value.strip_prefix(b"(")?.strip_suffix(b")")
}

/// The words of a FLAGS list's inside, as received.
pub(crate) fn flag_words(inside: &[u8]) -> Vec<Vec<u8>> {
    inside
        .split(|b| *b == b' ')
        .filter(|w| !w.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The items from `i` (just after `FETCH (`) to the closing parenthesis, which must end the
/// line.
fn items(line: &[u8], mut i: usize) -> Result<Vec<Item>, Unsplittable> {
    let mut out = Vec::new();
    if line.get(i) == Some(&b')') {
        return if i + 1 == line.len() {
            Ok(out)
        } else {
            Err(Unsplittable)
        };
    }
    loop {
        let name_start = i;
        i = skip_name(line, i).ok_or(Unsplittable)?;
        let name = name_start..i;
        if line.get(i) != Some(&b' ') {
            return Err(Unsplittable);
        }
        i += 1;
        let value_start = i;
        i = skip_value(line, i).ok_or(Unsplittable)?;
        out.push(Item {
            name,
            value: value_start..i,
        });
        match line.get(i) {
            Some(b' ') => i += 1,
            Some(b')') if i + 1 == line.len() => return Ok(out),
            _ => return Err(Unsplittable),
        }
    }
}

/// An item name: atom characters, with `[...]` sections that may hold spaces and lists.
fn skip_name(line: &[u8], mut i: usize) -> Option<usize> {
    let start = i;
    let mut bracket = 0usize;
    while let Some(&b) = line.get(i) {
        match b {
            b'\r' | b'\n' => return None,
            b'[' => bracket += 1,
            b']' => bracket = bracket.checked_sub(1)?,
            b' ' if bracket == 0 => break,
            b'(' | b')' | b'"' | b'{' if bracket == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    (i > start && bracket == 0).then_some(i)
}

/// One value (atom, quoted string, literal, or a list of those); returns the index after it.
fn skip_value(line: &[u8], mut i: usize) -> Option<usize> {
    let start = i;
    let mut depth = 0usize;
    loop {
        match *line.get(i)? {
            b'"' => i = skip_quoted(line, i)?,
            b'{' => i = skip_literal(line, i)?,
            b'~' if line.get(i + 1) == Some(&b'{') => i = skip_literal(line, i + 1)?,
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' | b' ' if depth == 0 => return (i > start).then_some(i),
            b')' => {
                depth -= 1;
                i += 1;
            }
            b'\r' | b'\n' => return None,
            _ => i += 1,
        }
    }
}

/// A quoted string starting at `i` (on its `"`); returns the index after the closing quote.
fn skip_quoted(line: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match *line.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            b'\r' | b'\n' => return None,
            _ => i += 1,
        }
    }
}

/// A literal starting at `i` (on its `{`): `{n}` CRLF and `n` bytes; returns the index
/// after them.
fn skip_literal(line: &[u8], i: usize) -> Option<usize> {
    let after_brace = i + 1;
    let digits = line
        .get(after_brace..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let n: usize = std::str::from_utf8(line.get(after_brace..after_brace + digits)?)
        .ok()?
        .parse()
        .ok()?;
    let mut j = after_brace + digits;
    // `{n+}` is a client's non-synchronizing literal; a server has no reason to send one,
    // but its bytes are as plain.
    if line.get(j) == Some(&b'+') {
        j += 1;
    }
    if line.get(j..j + 3)? != b"}\r\n" {
        return None;
    }
    let end = (j + 3).checked_add(n)?;
    (end <= line.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, reason = "test code")]

    use super::*;

    fn names_values(line: &[u8]) -> Option<Vec<(String, String)>> {
        let f = FetchLine::split(line)?.ok()?;
        Some(
            f.items
                .iter()
                .map(|it| {
                    (
                        String::from_utf8_lossy(&line[it.name.clone()]).into_owned(),
                        String::from_utf8_lossy(&line[it.value.clone()]).into_owned(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn splits_items_of_every_shape() {
        let line = b"* 12 FETCH (UID 4 X-GM-LABELS (\"\\\\Important\" foo) BODY[HEADER.FIELDS (FLAGS X)]<0> {11}\r\nFLAGS (x)\r\n PREVIEW \"a \\\" )b\" BINARY[1] ~{2}\r\n() FLAGS (\\SEEN a) MODSEQ (3) THREADID NIL)";
        let items = names_values(line).unwrap();
        let names: Vec<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "UID",
                "X-GM-LABELS",
                "BODY[HEADER.FIELDS (FLAGS X)]<0>",
                "PREVIEW",
                "BINARY[1]",
                "FLAGS",
                "MODSEQ",
                "THREADID"
            ]
        );
        let f = FetchLine::split(line).unwrap().unwrap();
        assert_eq!(&line[f.seq.clone()], b"12");
        assert_eq!(f.item(line, b"flags"), Some(&b"(\\SEEN a)"[..]));
        assert_eq!(f.item(line, b"uid"), Some(&b"4"[..]));
    }

    #[test]
    fn finds_the_flags_item() {
        let flags = |l: &[u8]| {
            let f = FetchLine::split(l)?.ok()?;
            Some(flag_words(list_inside(f.item(l, b"FLAGS")?)?))
        };
        assert_eq!(
            flags(b"* 1 FETCH (UID 4 FLAGS (\\SEEN a) MODSEQ (3))"),
            Some(vec![b"\\SEEN".to_vec(), b"a".to_vec()])
        );
        assert_eq!(flags(b"* 1 FETCH (FLAGS ())"), Some(vec![]));
        assert_eq!(
            flags(b"* 1 FETCH (BODY[HEADER.FIELDS (FLAGS X)] \"FLAGS (no)\" FLAGS (b))"),
            Some(vec![b"b".to_vec()])
        );
        assert_eq!(flags(b"* 1 FETCH (UID 4)"), None);
    }

    #[test]
    fn refuses_what_does_not_split() {
        for bad in [
            &b"* 1 FETCH (FLAGS (a"[..],
            b"* 1 FETCH (UID 4",
            b"* 1 FETCH (UID)",
            b"* 1 FETCH (UID 4) x",
            b"* 1 FETCH (BODY[] {5}\r\nab)",
            b"* 1 FETCH (BODY[] {5}ab)",
            b"* 1 FETCH (BODY[] {99999999999999999999}\r\n)",
            b"* 1 FETCH (PREVIEW \"a\r\nb\")",
            b"* 1 FETCH (UID 4  FLAGS ())",
            b"* 1 FETCH ((x) 1)",
        ] {
            assert_eq!(
                FetchLine::split(bad),
                Some(Err(Unsplittable)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(FetchLine::split(b"* 1 EXISTS"), None);
        assert_eq!(FetchLine::split(b"* x FETCH (UID 1)"), None);
        assert_eq!(FetchLine::split(b"a1 OK FETCH (x)"), None);
    }
}
