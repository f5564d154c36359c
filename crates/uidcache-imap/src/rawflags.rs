//! Reads the `FLAGS (...)` item of a FETCH line as raw bytes: the cache stores flags as
//! received, while imap-codec rewrites system flags in canonical case.

/// The flag words of the top-level `FLAGS` item of `* n FETCH (...)`, or `None` when the
/// line does not have one (or is not shaped as expected).
pub(crate) fn fetch_flags(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let inner = line.get(fetch_flags_span(line)?)?;
    Some(
        inner
            .split(|b| *b == b' ')
            .filter(|w| !w.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

/// Where the inside of the top-level `FLAGS (...)` item of `* n FETCH (...)` lies in `line`
/// (between the parentheses), found without copying any flag.
pub(crate) fn fetch_flags_span(line: &[u8]) -> Option<std::ops::Range<usize>> {
    let upper = line.to_ascii_uppercase();
    let start = find(&upper, b" FETCH (")? + b" FETCH (".len();
    let mut i = start;
    loop {
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        let name_start = i;
        // An item name, with a bracketed section that may hold spaces and parentheses.
        let mut bracket = 0usize;
        while let Some(&b) = line.get(i) {
            match b {
                b'[' => bracket += 1,
                b']' => bracket = bracket.saturating_sub(1),
                b' ' | b'(' | b')' if bracket == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let name = upper.get(name_start..i)?;
        if name.is_empty() {
            return None;
        }
        if line.get(i) != Some(&b' ') {
            return None;
        }
        i += 1;
        let value_start = i;
        i = skip_value(line, i)?;
        if name == b"FLAGS" {
            return Some(value_start + 1..i.checked_sub(1)?);
        }
    }
}

/// Skips one value (parenthesized list, quoted string or atom) and returns the index after it.
fn skip_value(line: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *line.get(i)? {
            b'"' => {
                i += 1;
                loop {
                    match *line.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            b' ' | b')' if depth == 0 => return Some(i),
            _ => i += 1,
        }
        if depth == 0 && matches!(line.get(i), Some(b' ') | Some(b')')) {
            return Some(i);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_flags_item() {
        let f = |l: &[u8]| {
            fetch_flags(l).map(|v| {
                v.iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            f(b"* 1 FETCH (UID 4 FLAGS (\\SEEN a) MODSEQ (3))"),
            Some(vec!["\\SEEN".into(), "a".into()])
        );
        assert_eq!(f(b"* 1 FETCH (FLAGS ())"), Some(vec![]));
        assert_eq!(
            f(b"* 1 FETCH (BODY[HEADER.FIELDS (FLAGS X)] \"FLAGS (no)\" FLAGS (b))"),
            Some(vec!["b".into()])
        );
        assert_eq!(f(b"* 1 FETCH (UID 4)"), None);
        assert_eq!(f(b"* 1 FETCH (FLAGS (a"), None);
    }
}
