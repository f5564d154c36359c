//! One `AUTHENTICATE` exchange (RFC 9051 6.2.2): the command, the initial response (on the
//! command line with SASL-IR, else after the first `+`), and the error flow of the OAuth
//! mechanisms (RFC 7628 3.2.3: the server's `+ <error>` is answered with a dummy response,
//! then it completes with NO).

use base64::Engine as _;

use super::sasl_error;
use super::Mechanism;
use crate::conn::{Conn, Kind};
use crate::error::{printable, Error, Result};

/// Runs `AUTHENTICATE` with `initial` (the raw initial response; base64 is added here).
pub(super) fn authenticate(
    conn: &mut Conn,
    mechanism: Mechanism,
    initial: &[u8],
    initial_in_command: bool,
) -> Result<()> {
    let name = mechanism.name();
    let encoded = base64::engine::general_purpose::STANDARD.encode(initial);
    let tag = if initial_in_command {
        conn.send(
            &format!("AUTHENTICATE {name} {encoded}"),
            Some(&format!("AUTHENTICATE {name} ***")),
        )?
    } else {
        conn.send(&format!("AUTHENTICATE {name}"), None)?
    };
    let mut pending = (!initial_in_command).then_some(encoded);
    let mut sasl = None;
    loop {
        let r = conn
            .read(None)?
            .ok_or_else(|| Error::Closed(format!(" during AUTHENTICATE {name}")))?;
        match r.kind {
            Kind::Continuation => {
                if let Some(p) = pending.take() {
                    conn.send_continuation(&p)?;
                } else if mechanism.needs_token() && sasl.is_none() {
                    sasl = Some(sasl_error::describe(&r.raw));
                    conn.send_continuation(dummy_response(mechanism))?;
                } else {
                    // A challenge this client has no answer to: cancel (RFC 9051 6.2.2).
                    conn.send_continuation("*")?;
                }
            }
            Kind::Tagged { tag: t, ok } if t == tag => {
                return if ok {
                    Ok(())
                } else {
                    Err(Error::Rejected {
                        mechanism: name.to_string(),
                        response: printable(&r.raw),
                        sasl,
                    })
                };
            }
            Kind::Bye => return Err(Error::Closed(format!(": {}", printable(&r.raw)))),
            Kind::Tagged { .. } | Kind::Untagged => {}
        }
    }
}

/// What answers the server's error challenge: RFC 7628 3.2.3 asks OAUTHBEARER clients for a
/// single `%x01` (`AQ==`); Google's and Microsoft's XOAUTH2 documents ask for an empty one.
fn dummy_response(mechanism: Mechanism) -> &'static str {
    if mechanism == Mechanism::OAuthBearer {
        "AQ=="
    } else {
        ""
    }
}
