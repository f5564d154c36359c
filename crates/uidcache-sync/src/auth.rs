//! Logging in: `LOGIN`, or SASL `AUTHENTICATE` with `PLAIN` (RFC 4616), `OAUTHBEARER`
//! (RFC 7628) or `XOAUTH2` (Google's and Microsoft's format), chosen from the server's
//! capabilities unless the caller names one. [`login`] is the one entry point the connection
//! code calls.
//!
//! Secrets never reach the transcript: the command line shows `AUTHENTICATE MECH ***`, and a
//! response sent after a `+` continuation is replaced by a comment.

mod exchange;
mod payload;
mod sasl_error;

use std::str::FromStr;
use std::sync::Arc;

use crate::conn::Conn;
use crate::error::{Error, Result};
use crate::url::Target;

/// A way to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// The `LOGIN` command with the password (never sent when the server advertises
    /// `LOGINDISABLED`).
    Login,
    /// `AUTHENTICATE PLAIN` with the password (RFC 4616), the initial response on the
    /// command line when the server has `SASL-IR` (RFC 4959).
    Plain,
    /// `AUTHENTICATE OAUTHBEARER` with an OAuth 2.0 access token (RFC 7628).
    OAuthBearer,
    /// `AUTHENTICATE XOAUTH2` with an OAuth 2.0 access token (Gmail, Microsoft 365).
    XOAuth2,
}

impl Mechanism {
    /// The name the server advertises (`AUTH=NAME`) and the command carries.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Login => "LOGIN",
            Mechanism::Plain => "PLAIN",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::XOAuth2 => "XOAUTH2",
        }
    }

    /// Whether it needs an OAuth token rather than the password.
    pub fn needs_token(self) -> bool {
        matches!(self, Mechanism::OAuthBearer | Mechanism::XOAuth2)
    }
}

impl FromStr for Mechanism {
    type Err = Error;

    /// `login`, `plain`, `oauthbearer` or `xoauth2`, in any case.
    fn from_str(s: &str) -> Result<Mechanism> {
        [
            Mechanism::Login,
            Mechanism::Plain,
            Mechanism::OAuthBearer,
            Mechanism::XOAuth2,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            Error::Login(format!(
                "unknown mechanism {s:?} (login, plain, oauthbearer or xoauth2)"
            ))
        })
    }
}

/// Produces an OAuth 2.0 access token; called each time a connection logs in, so that a
/// token that expired between reconnections is replaced. `Err` is shown to the user.
pub type TokenFn = Arc<dyn Fn() -> std::result::Result<String, String> + Send + Sync>;

/// How [`crate::sync`] logs in. The default picks the mechanism from the capabilities and
/// uses the password.
#[derive(Clone, Default)]
pub struct LoginOptions {
    /// The mechanism to use; `None` picks one: with a token, `OAUTHBEARER` else `XOAUTH2`;
    /// with the password, `PLAIN` where the server offers it, else `LOGIN`. A named SASL
    /// mechanism the server does not advertise (`AUTH=NAME`) is an [`Error::Login`]
    /// before anything is sent.
    pub mechanism: Option<Mechanism>,
    /// Where OAuth tokens come from (needed by `OAUTHBEARER` and `XOAUTH2`).
    pub oauth2_token: Option<TokenFn>,
}

impl std::fmt::Debug for LoginOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOptions")
            .field("mechanism", &self.mechanism)
            .field("oauth2_token", &self.oauth2_token.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

/// Logs in on `conn` (capabilities known, connection secured as the caller requires). The
/// capabilities are forgotten first, so that the caller re-reads them unless the server's
/// OK carried them (they may change with the login, RFC 9051 6.2.3).
pub(crate) fn login(
    conn: &mut Conn,
    target: &Target,
    password: &str,
    opts: &LoginOptions,
) -> Result<()> {
    let mechanism = choose(conn.caps(), opts)?;
    let initial_in_command = conn.has("SASL-IR");
    let initial = match mechanism {
        Mechanism::Login => {
            conn.forget_caps();
            return conn.login(&target.user, password);
        }
        Mechanism::Plain => payload::plain(&target.user, password),
        Mechanism::OAuthBearer => payload::oauthbearer(target, &token(opts)?),
        Mechanism::XOAuth2 => payload::xoauth2(&target.user, &token(opts)?),
    };
    conn.forget_caps();
    exchange::authenticate(conn, mechanism, &initial, initial_in_command)
}

/// The mechanism to use with these capabilities (upper case, as [`Conn`] keeps them).
fn choose(caps: &[String], opts: &LoginOptions) -> Result<Mechanism> {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let offers = |m: Mechanism| has(&format!("AUTH={}", m.name()));
    let offered = || {
        let list: Vec<&str> = caps
            .iter()
            .filter_map(|c| c.strip_prefix("AUTH="))
            .collect();
        if list.is_empty() {
            "no SASL mechanism".to_string()
        } else {
            list.join(" ")
        }
    };
    if let Some(m) = opts.mechanism {
        if m == Mechanism::Login && has("LOGINDISABLED") {
            return Err(Error::Login(format!(
                "the server advertises LOGINDISABLED: it refuses LOGIN here (it offers {})",
                offered()
            )));
        }
        // LOGIN is a command every IMAP server has; a SASL mechanism only where advertised
        // (RFC 9051 6.2.2). Sending one that is not would only draw a refusal that names
        // nothing useful.
        if m != Mechanism::Login && !offers(m) {
            return Err(Error::Login(format!(
                "{} was asked for, but the server does not advertise AUTH={} (it offers {})",
                m.name(),
                m.name(),
                offered()
            )));
        }
        return Ok(m);
    }
    if opts.oauth2_token.is_some() {
        return [Mechanism::OAuthBearer, Mechanism::XOAuth2]
            .into_iter()
            .find(|m| offers(*m))
            .ok_or_else(|| {
                Error::Login(format!(
                    "an OAuth token is set, but the server offers neither OAUTHBEARER nor \
                     XOAUTH2 (it offers {})",
                    offered()
                ))
            });
    }
    if offers(Mechanism::Plain) {
        return Ok(Mechanism::Plain);
    }
    if has("LOGINDISABLED") {
        return Err(Error::Login(format!(
            "the server advertises LOGINDISABLED and no AUTH=PLAIN (it offers {}); \
             use --auth with one of those",
            offered()
        )));
    }
    Ok(Mechanism::Login)
}

fn token(opts: &LoginOptions) -> Result<String> {
    let f = opts.oauth2_token.as_ref().ok_or_else(|| {
        Error::Login(
            "no OAuth token: set UIDCACHE_OAUTH2_TOKEN or pass --oauth2-token-command".into(),
        )
    })?;
    let token = f().map_err(|e| Error::Login(format!("getting the OAuth token: {e}")))?;
    if token.is_empty() {
        return Err(Error::Login("the OAuth token is empty".into()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &str) -> Vec<String> {
        list.split(' ').map(str::to_string).collect()
    }

    fn with_token() -> LoginOptions {
        LoginOptions {
            mechanism: None,
            oauth2_token: Some(Arc::new(|| Ok("t".to_string()))),
        }
    }

    #[test]
    fn picks_plain_over_login_and_oauth_with_a_token() -> Result<()> {
        let none = LoginOptions::default();
        let c = caps("IMAP4REV1 AUTH=PLAIN AUTH=OAUTHBEARER AUTH=XOAUTH2");
        assert_eq!(choose(&c, &none)?, Mechanism::Plain);
        assert_eq!(choose(&caps("IMAP4REV1"), &none)?, Mechanism::Login);
        assert_eq!(choose(&c, &with_token())?, Mechanism::OAuthBearer);
        let x = caps("IMAP4REV1 AUTH=XOAUTH2");
        assert_eq!(choose(&x, &with_token())?, Mechanism::XOAuth2);
        let e = choose(&caps("IMAP4REV1 AUTH=PLAIN"), &with_token());
        assert!(e.is_err_and(|e| e.to_string().contains("offers PLAIN")));
        Ok(())
    }

    #[test]
    fn never_login_when_disabled() -> Result<()> {
        let none = LoginOptions::default();
        let c = caps("IMAP4REV1 LOGINDISABLED AUTH=PLAIN");
        assert_eq!(choose(&c, &none)?, Mechanism::Plain);
        let e = choose(&caps("IMAP4REV1 LOGINDISABLED"), &none);
        assert!(e.is_err_and(|e| e.to_string().contains("LOGINDISABLED")));
        let login = LoginOptions {
            mechanism: Some(Mechanism::Login),
            oauth2_token: None,
        };
        assert!(choose(&c, &login).is_err());
        Ok(())
    }

    #[test]
    fn a_named_sasl_mechanism_must_be_advertised() -> Result<()> {
        let named = |m| LoginOptions {
            mechanism: Some(m),
            oauth2_token: None,
        };
        let c = caps("IMAP4REV1 AUTH=PLAIN AUTH=OAUTHBEARER");
        assert_eq!(
            choose(&c, &named(Mechanism::OAuthBearer))?,
            Mechanism::OAuthBearer
        );
        let e = choose(&c, &named(Mechanism::XOAuth2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("AUTH=XOAUTH2"), "{e}");
        assert!(e.contains("it offers PLAIN OAUTHBEARER"), "{e}");
        let e = choose(&caps("IMAP4REV1"), &named(Mechanism::Plain)).unwrap_err();
        assert!(e.to_string().contains("no SASL mechanism"), "{e}");
        // LOGIN is a command, not a SASL mechanism: no AUTH=LOGIN needed.
        assert_eq!(
            choose(&caps("IMAP4REV1"), &named(Mechanism::Login))?,
            Mechanism::Login
        );
        Ok(())
    }

    #[test]
    fn parses_mechanism_names() -> Result<()> {
        assert_eq!("XOAuth2".parse::<Mechanism>()?, Mechanism::XOAuth2);
        assert_eq!("plain".parse::<Mechanism>()?, Mechanism::Plain);
        assert!("cram-md5".parse::<Mechanism>().is_err());
        Ok(())
    }
}
