//! How `uidcache sync` logs in (issue 13): AUTHENTICATE PLAIN and LOGIN against Dovecot and
//! Cyrus, with the password kept out of the transcript; OAuth token sources and a rejected
//! token (exit 2, the server's SASL error decoded) against a scripted server.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a test"
)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

use support::server::{start_or_skip, Kind, Server};

fn uidcache(password: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_uidcache"));
    cmd.env("UIDCACHE_PASSWORD", password)
        .env_remove("UIDCACHE_OAUTH2_TOKEN")
        .stdin(Stdio::null());
    cmd
}

fn dump(dir: &Path) -> String {
    let out = uidcache("")
        .args(["dump", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn sync_as(server: &dyn Server, password: &str, extra: &[&str], dir: &Path) -> Output {
    uidcache(password)
        .arg("sync")
        .args(server.ca_args())
        .args(extra)
        .arg(server.url("INBOX"))
        .arg(dir)
        .output()
        .unwrap()
}

/// PLAIN (what both fixtures get by default: they offer AUTH=PLAIN) and LOGIN give the
/// server's truth; the transcript shows neither the password nor its base64; a wrong
/// password is exit 2 naming the mechanism and quoting the server.
fn plain_and_login_sync_and_hide_the_password(server: &dyn Server) {
    let tmp = tempfile::tempdir().unwrap();
    server.populate("INBOX", 30);
    let transcript = tmp.path().join("t");
    for (i, mech) in ["plain", "login"].iter().enumerate() {
        let dir = tmp.path().join(format!("cache{i}"));
        let t = transcript.to_str().unwrap();
        let out = sync_as(server, "test", &["--auth", mech, "--transcript", t], &dir);
        assert!(
            out.status.success(),
            "{mech}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(dump(&dir), server.truth("INBOX"), "{mech}");
    }
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(text.contains("AUTHENTICATE PLAIN ***"), "{text}");
    assert!(text.contains("LOGIN \"test\" ***"), "{text}");
    // base64("\0test\0test"), and the password quoted as LOGIN would send it.
    assert!(!text.contains("AHRlc3QAdGVzdA=="), "PLAIN payload leaked");
    assert!(!text.contains("\"test\" \"test\""), "LOGIN password leaked");

    let out = sync_as(server, "wrong", &["--auth", "plain"], &tmp.path().join("c"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the login (PLAIN)"), "{err}");
    assert!(err.contains(" NO "), "the server's text is missing: {err}");
}

/// A token with a server that offers no OAuth mechanism: exit 2 listing what it offers,
/// and the password is not asked for.
fn a_token_without_oauth_on_the_server_is_a_clear_error(server: &dyn Server) {
    let tmp = tempfile::tempdir().unwrap();
    let out = uidcache("")
        .env_remove("UIDCACHE_PASSWORD")
        .arg("sync")
        .args(server.ca_args())
        .args(["--oauth2-token-command", "echo some-token"])
        .arg(server.url("INBOX"))
        .arg(tmp.path().join("c"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("neither OAUTHBEARER nor XOAUTH2"), "{err}");
    assert!(err.contains("PLAIN"), "{err}");
}

/// `--auth` naming a SASL mechanism the server does not advertise (after STARTTLS): exit 2
/// naming what it does advertise, and no AUTHENTICATE sent.
fn a_named_mechanism_not_advertised_is_refused_before_sending(server: &dyn Server) {
    let tmp = tempfile::tempdir().unwrap();
    let transcript = tmp.path().join("t");
    let extra = [
        "--auth",
        "xoauth2",
        "--oauth2-token-command",
        "echo some-token",
        "--transcript",
        transcript.to_str().unwrap(),
    ];
    let out = sync_as(server, "", &extra, &tmp.path().join("c"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not advertise AUTH=XOAUTH2"), "{err}");
    assert!(err.contains("it offers") && err.contains("PLAIN"), "{err}");
    let text = std::fs::read_to_string(&transcript).unwrap_or_default();
    assert!(!text.contains("AUTHENTICATE"), "{text}");
}

macro_rules! on_both_servers {
    ($($body:ident;)*) => {$(
        mod $body {
            use super::*;

            #[test]
            fn dovecot() {
                if let Some(server) = start_or_skip(Kind::Dovecot, true) {
                    super::$body(&*server);
                }
            }

            #[test]
            fn cyrus() {
                if let Some(server) = start_or_skip(Kind::Cyrus, true) {
                    super::$body(&*server);
                }
            }
        }
    )*};
}

on_both_servers! {
    plain_and_login_sync_and_hide_the_password;
    a_token_without_oauth_on_the_server_is_a_clear_error;
    a_named_mechanism_not_advertised_is_refused_before_sending;
}

/// A server offering OAUTHBEARER that rejects every token the RFC 7628 way: `+ <base64
/// JSON>`, then NO once the client answered. The thread returns what the client sent.
fn rejecting_server() -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let Ok((stream, _)) = listener.accept() else {
            return seen;
        };
        let mut out = stream.try_clone().unwrap();
        let mut input = BufReader::new(stream);
        out.write_all(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER AUTH=XOAUTH2] hi\r\n")
            .unwrap();
        let mut line = String::new();
        while input.read_line(&mut line).unwrap_or(0) > 0 {
            let l = line.trim_end().to_string();
            line.clear();
            let reply = if l.contains("AUTHENTICATE") {
                // {"status":"invalid_token","scope":"mail"}
                "+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJtYWlsIn0=\r\n"
            } else {
                "u1 NO [AUTHENTICATIONFAILED] Invalid token\r\n"
            };
            seen.push(l);
            out.write_all(reply.as_bytes()).unwrap();
        }
        seen
    });
    (port, h)
}

fn sync_scripted(port: u16, token_env: Option<&str>, extra: &[&str], dir: &Path) -> Output {
    let mut cmd = uidcache("");
    cmd.env_remove("UIDCACHE_PASSWORD");
    if let Some(t) = token_env {
        cmd.env("UIDCACHE_OAUTH2_TOKEN", t);
    }
    cmd.arg("sync")
        .args(extra)
        .arg(format!("imap://tester@127.0.0.1:{port}/INBOX"))
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn a_rejected_token_exits_2_with_the_decoded_sasl_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (port, h) = rejecting_server();
    let out = sync_scripted(port, Some("env-token\n"), &[], &tmp.path().join("c"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the login (OAUTHBEARER)"), "{err}");
    assert!(err.contains("Invalid token"), "{err}");
    assert!(err.contains("status invalid_token, scope mail"), "{err}");
    assert!(!err.contains("env-token"), "the token leaked: {err}");
    let seen = h.join().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1], "AQ==");
}

#[test]
fn the_token_command_runs_per_login_and_its_failure_is_clear() {
    let tmp = tempfile::tempdir().unwrap();
    // A command that works: its trimmed output is the token, sent with XOAUTH2 as asked.
    let (port, h) = rejecting_server();
    let counter = tmp.path().join("runs");
    let cmd = format!("echo run >> {}; printf ' cmd-token \\n'", counter.display());
    let extra = ["--auth", "xoauth2", "--oauth2-token-command", &cmd];
    let out = sync_scripted(port, Some("ignored"), &extra, &tmp.path().join("c"));
    assert_eq!(out.status.code(), Some(2));
    let seen = h.join().unwrap();
    let ir = seen[0].rsplit(' ').next().unwrap();
    assert!(seen[0].contains("AUTHENTICATE XOAUTH2 "), "{seen:?}");
    // base64("user=tester\x01auth=Bearer cmd-token\x01\x01")
    assert_eq!(ir, "dXNlcj10ZXN0ZXIBYXV0aD1CZWFyZXIgY21kLXRva2VuAQE=");
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "run\n");

    // A command that fails: exit 2 naming it, and no AUTHENTICATE is sent.
    let (port, h) = rejecting_server();
    let extra = ["--oauth2-token-command", "echo locked >&2; exit 3"];
    let out = sync_scripted(port, None, &extra, &tmp.path().join("d"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--oauth2-token-command"), "{err}");
    assert!(err.contains("exit status: 3"), "{err}");
    assert!(h.join().unwrap().is_empty());
}

/// A stub RFC 7662 introspection endpoint for Dovecot's oauth2 passdb: `token=good-token`
/// is active for user `test`, any other token is not. Serves until the test ends.
fn introspection_stub() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_introspections(stream));
        }
    });
    url
}

/// Answers each POST on one (keep-alive) connection.
fn answer_introspections(stream: std::net::TcpStream) {
    let mut out = stream.try_clone().unwrap();
    let mut input = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if input.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut input, &mut body).unwrap();
        let body = String::from_utf8_lossy(&body);
        let active = body.split('&').any(|kv| kv == "token=good-token");
        let json = if active {
            r#"{"active":true,"username":"test"}"#
        } else {
            r#"{"active":false}"#
        };
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Dovecot's oauth2 passdb pointed at the stub: both OAuth mechanisms log in with a good
/// token and sync to the truth; a bad one is exit 2 with Dovecot's decoded SASL error.
#[test]
fn oauth_against_dovecot_with_a_stub_introspection_endpoint() {
    let url = introspection_stub();
    let Some(server) = support::dovecot::Dovecot::start_with_oauth2_or_skip(&url) else {
        return;
    };
    server.populate("INBOX", 20);
    let tmp = tempfile::tempdir().unwrap();
    let oauth = |token: &str, extra: &[&str], dir: &str| {
        uidcache("")
            .env_remove("UIDCACHE_PASSWORD")
            .env("UIDCACHE_OAUTH2_TOKEN", token)
            .arg("sync")
            .args(server.ca_args())
            .args(extra)
            .arg(server.url("INBOX"))
            .arg(tmp.path().join(dir))
            .output()
            .unwrap()
    };
    for (mech, dir) in [("oauthbearer", "a"), ("xoauth2", "b")] {
        let out = oauth("good-token", &["--auth", mech], dir);
        assert!(
            out.status.success(),
            "{mech}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(dump(&tmp.path().join(dir)), server.truth("INBOX"), "{mech}");
    }
    // No --auth: a token picks OAUTHBEARER, which Dovecot offers.
    let out = oauth("expired-token", &[], "c");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the login (OAUTHBEARER)"), "{err}");
    assert!(err.contains("AUTHENTICATIONFAILED"), "{err}");
    assert!(err.contains("status invalid_token"), "{err}");
    let out = oauth("expired-token", &["--auth", "xoauth2"], "d");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the login (XOAUTH2)"), "{err}");
    assert!(err.contains("status 401"), "{err}");
}
