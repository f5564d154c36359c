//! Mailbox names on the wire: modified UTF-7 (RFC 3501 5.1.3), then an IMAP quoted string.
//! Modified UTF-7 is what every IMAP4rev1 server understands; UTF8=ACCEPT would avoid it but
//! is not universal.

/// The mailbox name as a quoted IMAP string in modified UTF-7.
pub(crate) fn quoted(name: &str) -> String {
    let encoded = modified_utf7(name);
    let mut out = String::with_capacity(encoded.len() + 2);
    out.push('"');
    for c in encoded.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// RFC 3501 5.1.3: printable ASCII stands for itself (`&` as `&-`); runs of other characters
/// are UTF-16, base64 with `,` for `/` and no padding, between `&` and `-`.
pub(crate) fn modified_utf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut run, &mut out);
    out
}

fn flush(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = |i: usize| chunk.get(i).copied().map_or(0u32, u32::from);
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        let digits = chunk.len() + 1;
        for k in 0..digits {
            let index = ((n >> (18 - 6 * k)) & 63) as usize;
            if let Some(&c) = ALPHABET.get(index) {
                out.push(char::from(c));
            }
        }
    }
    out.push('-');
    run.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3501_examples() {
        // RFC 3501 5.1.3's example, and the usual ones from RFC 2152 adapted.
        assert_eq!(
            modified_utf7("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(modified_utf7("INBOX"), "INBOX");
        assert_eq!(modified_utf7("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(modified_utf7("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(modified_utf7("😀"), "&2D3eAA-");
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(quoted(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quoted("Entwürfe"), "\"Entw&APw-rfe\"");
    }
}
