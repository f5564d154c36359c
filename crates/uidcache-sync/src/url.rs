//! `imap://` and `imaps://` URLs (the server part of RFC 5092): which server, which user,
//! which mailbox.

use crate::error::{Error, Result};

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`: TLS from the first byte (RFC 8314), default port 993.
    Implicit,
    /// `imap://`: plain TCP upgraded with STARTTLS, default port 143.
    StartTls,
}

/// A parsed server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How the connection is secured.
    pub security: Security,
    /// The login name (percent-decoded).
    pub user: String,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Mailbox name (percent-decoded, UTF-8); `INBOX` when the URL has no path.
    pub mailbox: String,
}

impl Target {
    /// Parses `imaps://user@host[:port]/mailbox` or `imap://user@host[:port]/mailbox`.
    pub fn parse(url: &str) -> Result<Target> {
        let bad = |why: &str| Error::Url(format!("{url}: {why}"));
        let (security, rest) = if let Some(rest) = strip_prefix_ci(url, "imaps://") {
            (Security::Implicit, rest)
        } else if let Some(rest) = strip_prefix_ci(url, "imap://") {
            (Security::StartTls, rest)
        } else {
            return Err(bad("expected imaps:// or imap://"));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, hostport) = authority
            .rsplit_once('@')
            .ok_or_else(|| bad("no user name (imaps://user@host/mailbox)"))?;
        // RFC 5092 allows ";AUTH=..." after the user name; only the name itself is used.
        let user = user.split(';').next().unwrap_or(user);
        let user = percent_decode(user).ok_or_else(|| bad("bad %-escape in the user name"))?;
        if user.is_empty() {
            return Err(bad("empty user name"));
        }
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        let port = port.unwrap_or(match security {
            Security::Implicit => 993,
            Security::StartTls => 143,
        });
        if path.contains(';') || path.contains('?') {
            return Err(bad(
                "only a mailbox may follow the server (no ;UIDVALIDITY= or ?search)",
            ));
        }
        let mailbox = percent_decode(path).ok_or_else(|| bad("bad %-escape in the mailbox"))?;
        let mailbox = if mailbox.is_empty() {
            "INBOX".to_string()
        } else {
            mailbox
        };
        Ok(Target {
            security,
            user,
            host,
            port,
            mailbox,
        })
    }

    /// Whether the server is on this machine: plain-text login is then allowed without TLS.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        (host, port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host.to_string(), port))
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_both_schemes_with_defaults() {
        let t = Target::parse("imaps://alice@mail.example.org/INBOX").unwrap();
        assert_eq!(t.security, Security::Implicit);
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("alice", "mail.example.org", 993)
        );
        assert_eq!(t.mailbox, "INBOX");
        let t = Target::parse("IMAP://bob@127.0.0.1:10143/Lists/rust%20users").unwrap();
        assert_eq!(t.security, Security::StartTls);
        assert_eq!(t.port, 10143);
        assert_eq!(t.mailbox, "Lists/rust users");
        assert!(t.is_loopback());
    }

    #[test]
    fn decodes_user_and_ipv6() {
        let t = Target::parse("imap://a%40b.example;AUTH=*@[::1]/").unwrap();
        assert_eq!(t.user, "a@b.example");
        assert_eq!(t.host, "::1");
        assert_eq!(t.port, 143);
        assert_eq!(t.mailbox, "INBOX");
        assert!(t.is_loopback());
        assert!(!Target::parse("imap://u@example.org/x")
            .unwrap()
            .is_loopback());
    }

    #[test]
    fn rejects_what_it_cannot_honour() {
        for url in [
            "http://u@h/INBOX",
            "imaps://host/INBOX",
            "imaps://@host/INBOX",
            "imaps://u@host:0/INBOX",
            "imaps://u@host:99999/INBOX",
            "imaps://u@:993/INBOX",
            "imaps://u@host/INBOX;UIDVALIDITY=5",
            "imaps://u@host/%zz",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }
}
