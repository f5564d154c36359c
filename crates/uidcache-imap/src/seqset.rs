//! IMAP sequence sets (`1:4,6,9:*`): parsing the few places this crate reads them itself,
//! and writing compact ones for QRESYNC parameters.

/// One end of a range: a number or `*` (the largest value in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A nonzero number.
    Value(u32),
    /// `*`.
    Star,
}

fn parse_num(s: &[u8]) -> Option<SeqNum> {
    if s == b"*" {
        return Some(SeqNum::Star);
    }
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) || s.first() == Some(&b'0')
    {
        return None;
    }
    let v: u64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    u32::try_from(v).ok().map(SeqNum::Value)
}

/// Parses one `a`, `a:b` element (either end may be `*`).
pub fn parse_range(s: &[u8]) -> Option<(SeqNum, SeqNum)> {
    let mut parts = s.splitn(2, |b| *b == b':');
    let a = parse_num(parts.next()?)?;
    let b = match parts.next() {
        Some(b) => parse_num(b)?,
        None => a,
    };
    Some((a, b))
}

/// Parses a set of numbers without `*` into inclusive ranges `(low, high)`, in the order given.
pub fn parse_uid_set(s: &[u8]) -> Option<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for part in s.split(|b| *b == b',') {
        match parse_range(part)? {
            (SeqNum::Value(a), SeqNum::Value(b)) => out.push((a.min(b), a.max(b))),
            _ => return None,
        }
    }
    Some(out)
}

/// How many numbers the ranges hold (counting overlaps twice).
pub fn count(ranges: &[(u32, u32)]) -> u64 {
    ranges
        .iter()
        .map(|(a, b)| u64::from(*b) - u64::from(*a) + 1)
        .sum()
}

/// Writes ascending numbers as a compact set: `1:3,5,7:9` (the engine's
/// [`uidcache_engine::UidSet`] as text).
pub fn format_set(values: impl IntoIterator<Item = u32>) -> String {
    values
        .into_iter()
        .collect::<uidcache_engine::UidSet>()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(
            parse_uid_set(b"1:3,7,9:8"),
            Some(vec![(1, 3), (7, 7), (8, 9)])
        );
        assert_eq!(parse_uid_set(b"1:*"), None);
        assert_eq!(parse_uid_set(b"0"), None);
        assert_eq!(parse_uid_set(b"4294967296"), None);
        assert_eq!(parse_range(b"5:*"), Some((SeqNum::Value(5), SeqNum::Star)));
        assert_eq!(format_set([1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(format_set([]), "");
        assert_eq!(count(&[(1, 3), (5, 5)]), 4);
    }
}
