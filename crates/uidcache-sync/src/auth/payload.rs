//! The initial client responses of each SASL mechanism, as bytes before base64.

use crate::url::Target;

/// The SASL key-value separator of OAUTHBEARER and XOAUTH2 (`kvsep`, RFC 7628 3.1).
const KVSEP: char = '\u{1}';

/// `PLAIN` (RFC 4616 2): no authorization identity, `NUL user NUL password`.
pub(super) fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

/// `OAUTHBEARER` (RFC 7628 3.1): the GS2 header naming the user, then host, port and the
/// bearer token.
pub(super) fn oauthbearer(target: &Target, token: &str) -> Vec<u8> {
    format!(
        "n,a={},{KVSEP}host={}{KVSEP}port={}{KVSEP}auth=Bearer {token}{KVSEP}{KVSEP}",
        gs2_saslname(&target.user),
        target.host,
        target.port
    )
    .into_bytes()
}

/// `XOAUTH2` (Google's and Microsoft's format): `user=U ^A auth=Bearer T ^A ^A`.
pub(super) fn xoauth2(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}{KVSEP}auth=Bearer {token}{KVSEP}{KVSEP}").into_bytes()
}

/// RFC 5801 `saslname`: `,` and `=` would end the field, so they travel as `=2C` and `=3D`.
fn gs2_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_is_nul_separated() {
        assert_eq!(plain("tim", "tanstaaftanstaaf"), b"\0tim\0tanstaaftanstaaf");
    }

    /// The example of RFC 7628 4.1, with a user name that needs escaping.
    #[test]
    fn oauthbearer_matches_the_rfc_layout() -> crate::Result<()> {
        let t = Target::parse("imap://user,a=b@server.example.com:143/")?;
        let got = String::from_utf8_lossy(&oauthbearer(
            &t,
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        ))
        .into_owned();
        assert_eq!(
            got,
            "n,a=user=2Ca=3Db,\x01host=server.example.com\x01port=143\x01\
             auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        Ok(())
    }

    #[test]
    fn xoauth2_matches_googles_layout() {
        assert_eq!(
            xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
                .to_vec()
        );
    }
}
