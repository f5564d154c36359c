//! Mailbox name → directory name: stable (a function of the name alone), reversible,
//! and safe on any file system.
//!
//! The input is the name as the server sends it (modified UTF-7, RFC 3501 5.1.3), byte by
//! byte: `a`–`z`, `0`–`9` and `-` stand for themselves, an upper-case letter is `_`
//! followed by the letter in lower case, and every other byte is `%` and two lower-case hex
//! digits. The result holds only lower-case ASCII letters, digits, `-`, `_` and `%`: no
//! `/`, no `.` (so never `.` or `..`), no NUL, and two names never differ only in case, so
//! a case-insensitive file system keeps them apart. The empty name is `_`.
//!
//! A result longer than [`MAX_LEN`] bytes (names of more than ~80 characters) keeps its
//! first part and ends in `~` and 16 hex digits of the FNV-1a hash of the whole name: still
//! stable and, with 64 bits of hash, collision-free in practice, but only the account file
//! says which name it was.

/// The longest directory name produced (file systems allow 255 bytes).
pub const MAX_LEN: usize = 200;

/// The directory name of the mailbox whose wire name is `raw`.
pub fn encode(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for &b in raw {
        push(&mut out, b);
    }
    if out.is_empty() {
        out.push('_');
    }
    if out.len() <= MAX_LEN {
        return out;
    }
    let mut cut = String::with_capacity(MAX_LEN);
    for &b in raw {
        let mut piece = String::new();
        push(&mut piece, b);
        if cut.len() + piece.len() > MAX_LEN - 17 {
            break;
        }
        cut.push_str(&piece);
    }
    cut.push('~');
    cut.push_str(&format!("{:016x}", fnv1a(raw)));
    cut
}

/// The wire name that [`encode`] turned into `dir`, or `None` when `dir` is not such a
/// name (or is a hashed long name, which only the account file can resolve).
pub fn decode(dir: &str) -> Option<Vec<u8>> {
    if dir == "_" {
        return Some(Vec::new());
    }
    let mut out = Vec::with_capacity(dir.len());
    let mut bytes = dir.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' => out.push(b),
            b'_' => match bytes.next()? {
                c @ b'a'..=b'z' => out.push(c.to_ascii_uppercase()),
                _ => return None,
            },
            b'%' => {
                let hi = hex(bytes.next()?)?;
                let lo = hex(bytes.next()?)?;
                let v = hi * 16 + lo;
                // Only bytes that have no shorter form may be escaped: one name, one dir.
                if v.is_ascii_alphanumeric() || v == b'-' {
                    return None;
                }
                out.push(v);
            }
            _ => return None,
        }
    }
    // The empty name is "_" only.
    (!out.is_empty()).then_some(out)
}

fn push(out: &mut String, b: u8) {
    match b {
        b'a'..=b'z' | b'0'..=b'9' | b'-' => out.push(char::from(b)),
        b'A'..=b'Z' => {
            out.push('_');
            out.push(char::from(b.to_ascii_lowercase()));
        }
        _ => out.push_str(&format!("%{b:02x}")),
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// FNV-1a, 64 bits: fixed by its definition, so directory names never change between
/// releases (std's hasher makes no such promise).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(encode(b"INBOX"), "_i_n_b_o_x");
        assert_eq!(
            encode(b"INBOX/Entw&APw-rfe"),
            "_i_n_b_o_x%2f_entw%26_a_pw-rfe"
        );
        assert_eq!(encode(b".."), "%2e%2e");
        assert_eq!(encode(b""), "_");
        assert_eq!(encode(b"inbox"), "inbox");
        assert_eq!(decode("_i_n_b_o_x").unwrap(), b"INBOX");
        for bad in ["", "A", "_1", "%41", "%2", "%2E", "a.b", "a/b", "x~0123"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn long_names_are_cut_and_hashed() {
        let long = vec![b'A'; 300];
        let d = encode(&long);
        assert!(d.len() <= MAX_LEN, "{}", d.len());
        assert!(d.contains('~'));
        let mut other = long.clone();
        other[299] = b'B';
        assert_ne!(encode(&other), d);
        assert_eq!(decode(&d), None);
    }

    fn is_safe(d: &str) -> bool {
        !d.is_empty()
            && d.len() <= MAX_LEN
            && d != "."
            && d != ".."
            && d.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_%~".contains(&b))
    }

    proptest! {
        #[test]
        fn reversible_and_safe(raw in proptest::collection::vec(any::<u8>(), 0..70)) {
            let d = encode(&raw);
            prop_assert!(is_safe(&d), "{d}");
            prop_assert_eq!(decode(&d), Some(raw));
        }

        #[test]
        fn distinct_names_stay_distinct_under_case_folding(
            a in "[ -~]{0,120}",
            b in "[ -~]{0,120}",
        ) {
            // Names differing only in case are the interesting pairs: fold one of them.
            let b = if b.len() % 2 == 0 { a.to_ascii_lowercase() } else { b };
            prop_assume!(a != b);
            let (da, db) = (encode(a.as_bytes()), encode(b.as_bytes()));
            prop_assert!(is_safe(&da) && is_safe(&db));
            prop_assert_ne!(da.to_lowercase(), db.to_lowercase());
        }
    }
}
