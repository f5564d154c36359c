//! Just enough of the IMAP response grammar (RFC 3501 9) to read LIST and STATUS:
//! atoms, numbers, quoted strings, literals, NIL and parenthesized lists. LIST and STATUS
//! say nothing about a selected mailbox, so they do not go through `uidcache_imap::Session`.

/// One parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// An atom or number (including `\Flag` forms).
    Atom(Vec<u8>),
    /// A quoted string or literal, unescaped.
    Str(Vec<u8>),
    /// `NIL`.
    Nil,
    /// `( ... )`.
    List(Vec<Value>),
}

impl Value {
    /// The bytes of an atom or string (`NIL` and lists have none).
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Atom(b) | Value::Str(b) => Some(b),
            _ => None,
        }
    }

    /// An atom as text.
    pub(crate) fn text(&self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// A number.
    pub(crate) fn number(&self) -> Option<u64> {
        match self {
            Value::Atom(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }
}

/// Parses the values of `bytes` separated by spaces, to the end.
pub(crate) fn parse(bytes: &[u8]) -> Option<Vec<Value>> {
    let mut p = Parser { bytes, at: 0 };
    let values = p.values(false)?;
    (p.at == bytes.len()).then_some(values)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn values(&mut self, nested: bool) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            while self.peek() == Some(b' ') {
                self.at += 1;
            }
            match self.peek() {
                None if !nested => return Some(out),
                None => return None,
                Some(b')') if nested => {
                    self.at += 1;
                    return Some(out);
                }
                Some(_) => out.push(self.value()?),
            }
        }
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'(' => {
                self.at += 1;
                Some(Value::List(self.values(true)?))
            }
            b'"' => self.quoted(),
            b'{' => self.literal(),
            _ => {
                let start = self.at;
                while let Some(b) = self.peek() {
                    // `[` .. `]` stay in the atom: BODY[...] never occurs here, and a
                    // response code is not parsed by this module.
                    if b == b' ' || b == b'(' || b == b')' || b == b'"' {
                        break;
                    }
                    self.at += 1;
                }
                let atom = self.bytes.get(start..self.at)?.to_vec();
                if atom.eq_ignore_ascii_case(b"NIL") {
                    Some(Value::Nil)
                } else {
                    Some(Value::Atom(atom))
                }
            }
        }
    }

    fn quoted(&mut self) -> Option<Value> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'"' => return Some(Value::Str(out)),
                b'\\' => {
                    out.push(self.peek()?);
                    self.at += 1;
                }
                _ => out.push(b),
            }
        }
    }

    fn literal(&mut self) -> Option<Value> {
        let rest = self.bytes.get(self.at + 1..)?;
        let close = rest.iter().position(|&b| b == b'}')?;
        let digits = rest.get(..close)?;
        let digits = digits.strip_suffix(b"+").unwrap_or(digits);
        let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        self.at += 1 + close + 1;
        if self.bytes.get(self.at..self.at + 2)? != b"\r\n" {
            return None;
        }
        self.at += 2;
        let data = self.bytes.get(self.at..self.at.checked_add(n)?)?.to_vec();
        self.at += n;
        Some(Value::Str(data))
    }
}

/// `raw` as an IMAP quoted string, or `None` when it needs a literal (8-bit or CR/LF).
pub(crate) fn quote(raw: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(raw.len() + 2);
    out.push('"');
    for &b in raw {
        if !(0x20..0x7f).contains(&b) {
            return None;
        }
        if b == b'"' || b == b'\\' {
            out.push('\\');
        }
        out.push(char::from(b));
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_list_and_status_lines() {
        let v = parse(br#"LIST (\HasNoChildren \Sent) "/" "a \"b\"" ("CHILDINFO" ("SUBSCRIBED"))"#)
            .unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(
            v[1],
            Value::List(vec![
                Value::Atom(b"\\HasNoChildren".to_vec()),
                Value::Atom(b"\\Sent".to_vec())
            ])
        );
        assert_eq!(v[3], Value::Str(b"a \"b\"".to_vec()));
        let v = parse(b"STATUS {3}\r\na b (MESSAGES 2 UIDNEXT 9)").unwrap();
        assert_eq!(v[1], Value::Str(b"a b".to_vec()));
        let v = parse(b"LIST () NIL INBOX").unwrap();
        assert_eq!(v[2], Value::Nil);
        assert_eq!(parse(b"LIST (a"), None);
        assert_eq!(parse(b"STATUS {9}\r\nab"), None);
        assert_eq!(quote(b"a\"\\").as_deref(), Some("\"a\\\"\\\\\""));
        assert_eq!(quote("ü".as_bytes()), None);
    }
}
