//! Decoding modified UTF-7 mailbox names (RFC 3501 5.1.3), the inverse of
//! [`crate::mailbox::modified_utf7`]: what LIST returns is shown and stored decoded.

/// The UTF-8 name of a modified UTF-7 `raw` name, or `None` when `raw` is not valid
/// modified UTF-7 (a shift sequence that is not base64 of UTF-16, `&` unterminated, or
/// bytes outside printable ASCII).
pub(crate) fn decode(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if !(' '..='~').contains(&c) {
            return None;
        }
        if c != '&' {
            out.push(c);
            continue;
        }
        let mut bits = 0u32;
        let mut nbits = 0u32;
        let mut units: Vec<u16> = Vec::new();
        let mut empty = true;
        loop {
            let d = chars.next()?;
            if d == '-' {
                break;
            }
            empty = false;
            bits = (bits << 6) | value(d)?;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(u16::try_from((bits >> nbits) & 0xffff).ok()?);
                bits &= (1 << nbits) - 1;
            }
        }
        if empty {
            out.push('&');
            continue;
        }
        // Leftover bits are padding and must be zero (RFC 2152).
        if bits != 0 || nbits >= 6 {
            return None;
        }
        out.push_str(&String::from_utf16(&units).ok()?);
    }
    Some(out)
}

fn value(c: char) -> Option<u32> {
    Some(match c {
        'A'..='Z' => u32::from(c) - u32::from('A'),
        'a'..='z' => u32::from(c) - u32::from('a') + 26,
        '0'..='9' => u32::from(c) - u32::from('0') + 52,
        '+' => 62,
        ',' => 63,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::modified_utf7;

    #[test]
    fn decodes_the_rfc_examples_and_round_trips() {
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(decode("Tom &- Jerry").as_deref(), Some("Tom & Jerry"));
        for name in ["INBOX", "Entwürfe", "😀 & ü/x", "a&b", "日本語"] {
            assert_eq!(decode(&modified_utf7(name)).as_deref(), Some(name));
        }
    }

    #[test]
    fn rejects_what_is_not_modified_utf7() {
        for raw in ["&", "&U,BTFw", "&*-", "é", "&AB-"] {
            assert_eq!(decode(raw), None, "{raw}");
        }
    }
}
