//! The login options of `uidcache sync`: `--auth MECH` and where an OAuth 2.0 token comes
//! from (`--oauth2-token-command`, else `UIDCACHE_OAUTH2_TOKEN`; never the command line,
//! where other users can read it).

use std::process::{Command, Stdio};
use std::sync::Arc;

use uidcache_sync::{LoginOptions, Mechanism, TokenFn};

/// The environment variable holding an OAuth 2.0 access token.
pub const TOKEN_ENV: &str = "UIDCACHE_OAUTH2_TOKEN";

/// The login part of the command line.
#[derive(clap::Args)]
pub struct AuthArgs {
    /// How to log in: login, plain, oauthbearer or xoauth2. Default: with an OAuth token,
    /// OAUTHBEARER else XOAUTH2; otherwise PLAIN where offered, else LOGIN (never LOGIN when
    /// the server says LOGINDISABLED). A SASL mechanism the server does not advertise is
    /// refused before sending (exit 2, naming the ones it offers).
    #[arg(long, value_enum, value_name = "MECH")]
    pub auth: Option<MechanismArg>,
    /// Run CMD with `sh -c` each time an OAuth 2.0 access token is needed (each login); its
    /// standard output, trimmed, is the token (like mbsync's PassCmd). Without it the token
    /// is read from UIDCACHE_OAUTH2_TOKEN.
    #[arg(long, value_name = "CMD")]
    pub oauth2_token_command: Option<String>,
}

/// `--auth`, as clap parses it.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MechanismArg {
    /// The LOGIN command with the password.
    Login,
    /// AUTHENTICATE PLAIN with the password.
    Plain,
    /// AUTHENTICATE OAUTHBEARER with an OAuth token (RFC 7628).
    Oauthbearer,
    /// AUTHENTICATE XOAUTH2 with an OAuth token (Gmail, Microsoft 365).
    Xoauth2,
}

impl From<MechanismArg> for Mechanism {
    fn from(m: MechanismArg) -> Mechanism {
        match m {
            MechanismArg::Login => Mechanism::Login,
            MechanismArg::Plain => Mechanism::Plain,
            MechanismArg::Oauthbearer => Mechanism::OAuthBearer,
            MechanismArg::Xoauth2 => Mechanism::XOAuth2,
        }
    }
}

impl AuthArgs {
    /// What the library is told.
    pub fn login_options(&self) -> LoginOptions {
        LoginOptions {
            mechanism: self.auth.map(Mechanism::from),
            oauth2_token: self.token_source(),
        }
    }

    /// Whether the login uses the password (so it must be read or prompted for): not when
    /// an OAuth mechanism is named, or none is and a token source is set.
    pub fn needs_password(&self) -> bool {
        match self.auth.map(Mechanism::from) {
            Some(m) => !m.needs_token(),
            None => self.token_source().is_none(),
        }
    }

    fn token_source(&self) -> Option<TokenFn> {
        if let Some(cmd) = self.oauth2_token_command.clone() {
            return Some(Arc::new(move || run_token_command(&cmd)));
        }
        let token = std::env::var(TOKEN_ENV).ok()?;
        Some(Arc::new(move || Ok(token.trim().to_string())))
    }
}

/// `sh -c CMD`; its stderr goes to ours (prompts, errors), its stdout is the token.
fn run_token_command(cmd: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("--oauth2-token-command: cannot run sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "--oauth2-token-command `{cmd}` failed ({}); no token",
            out.status
        ));
    }
    let token = String::from_utf8(out.stdout)
        .map_err(|_| "--oauth2-token-command printed something that is not UTF-8".to_string())?;
    let token = token.trim();
    if token.is_empty() {
        return Err(format!("--oauth2-token-command `{cmd}` printed no token"));
    }
    Ok(token.to_string())
}
