//! The error a server sends in a `+` continuation when it refuses an OAuth token: base64 of
//! a JSON object (RFC 7628 3.2.2: `status`, `scope`, `openid-configuration`; Google and
//! Microsoft send the same for XOAUTH2), made readable for the user.

use base64::Engine as _;

use crate::error::printable;

/// What a continuation line (`+ eyJzdGF0dXMiOi...`) says, in one line: the JSON fields as
/// `status 401, scope https://mail.google.com/`, or the decoded text when it is not JSON,
/// or the line itself when it is not base64.
pub(super) fn describe(continuation: &[u8]) -> String {
    let payload = continuation
        .strip_prefix(b"+")
        .unwrap_or(continuation)
        .trim_ascii();
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(payload) else {
        return printable(payload);
    };
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(&decoded) else {
        return printable(&decoded);
    };
    // RFC 7628's fields first, in its order (the map itself is sorted by name).
    let known = ["status", "scope", "openid-configuration"];
    let first = known.iter().filter_map(|k| fields.get_key_value(*k));
    let rest = fields.iter().filter(|(k, _)| !known.contains(&k.as_str()));
    let parts: Vec<String> = first
        .chain(rest)
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k} {s}"),
            other => format!("{k} {other}"),
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7628 4.3's failure example.
    #[test]
    fn decodes_the_rfc_example() {
        let line = b"+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=";
        let d = describe(line);
        assert!(
            d.starts_with("status invalid_token, scope example_scope, "),
            "{d}"
        );
        assert!(
            d.contains("openid-configuration https://example.com/.well-known/openid-configuration"),
            "{d}"
        );
    }

    #[test]
    fn falls_back_to_text() {
        assert_eq!(describe(b"+ aGVsbG8="), "hello");
        assert_eq!(describe(b"+ not base64!"), "not base64!");
    }
}
