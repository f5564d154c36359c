//! LIST wildcards (RFC 3501 6.3.8) matched locally: which mailboxes of the account file a
//! `--mailbox` run is about (a mailbox outside the patterns is neither synced nor checked
//! for deletion).

/// Whether `name` matches `pattern`: `*` matches anything, `%` anything but `delimiter`.
/// INBOX is matched without regard to case, as the server does.
pub(crate) fn matches(pattern: &str, name: &str, delimiter: Option<char>) -> bool {
    let fold = |s: &str| -> Vec<char> {
        let upper = s.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("INBOX"))
            && s.get(5..)
                .is_some_and(|t| t.is_empty() || delimiter.is_some_and(|d| t.starts_with(d)));
        if upper {
            let mut v: Vec<char> = "INBOX".chars().collect();
            v.extend(s.chars().skip(5));
            v
        } else {
            s.chars().collect()
        }
    };
    glob(&fold(pattern), &fold(name), delimiter)
}

fn glob(p: &[char], n: &[char], delimiter: Option<char>) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((&'*', rest)) => {
            (0..=n.len()).any(|i| n.get(i..).is_some_and(|t| glob(rest, t, delimiter)))
        }
        Some((&'%', rest)) => {
            let stop = n
                .iter()
                .position(|c| Some(*c) == delimiter)
                .unwrap_or(n.len());
            (0..=stop).any(|i| n.get(i..).is_some_and(|t| glob(rest, t, delimiter)))
        }
        Some((c, rest)) => n
            .split_first()
            .is_some_and(|(m, t)| m == c && glob(rest, t, delimiter)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let d = Some('/');
        assert!(matches("*", "INBOX/a/b", d));
        assert!(matches("INBOX/%", "INBOX/a", d));
        assert!(!matches("INBOX/%", "INBOX/a/b", d));
        assert!(matches("inbox", "INBOX", d));
        assert!(matches("Arch*", "Archive/2024", d));
        assert!(!matches("Arch", "Archive", d));
        assert!(matches("%", "Entwürfe", d));
    }
}
