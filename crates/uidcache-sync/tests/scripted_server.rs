//! `sync` against scripted servers on loopback: the protocol edge cases a real server
//! rarely shows (bad greetings, literals in LOGIN, a connection dropped mid-command, a
//! server that violates the protocol), each ending in a clear error and a cache that holds
//! exactly what was committed.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a test"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use uidcache_engine::Cache;
use uidcache_sync::{sync, Error, SyncOptions, Target};

/// One exchange: wait for a client line containing `expect` (none for the greeting), then
/// send `reply` lines with `{tag}` replaced by the client's tag.
struct Step {
    expect: Option<&'static str>,
    reply: Vec<&'static str>,
}

fn step(expect: &'static str, reply: &[&'static str]) -> Step {
    Step {
        expect: Some(expect),
        reply: reply.to_vec(),
    }
}

/// Serves one connection with `script`; the thread returns the lines the client sent.
/// When the script ends the connection is closed.
fn serve(greeting: &'static str, script: Vec<Step>) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut input = BufReader::new(stream);
        let mut seen = Vec::new();
        out.write_all(format!("{greeting}\r\n").as_bytes()).unwrap();
        for s in script {
            let mut tag = String::new();
            if let Some(expect) = s.expect {
                let mut line = String::new();
                if input.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                let line = line.trim_end().to_string();
                assert!(line.contains(expect), "expected {expect:?}, got {line:?}");
                tag = line.split(' ').next().unwrap().to_string();
                seen.push(line);
            }
            for r in &s.reply {
                let _ = out.write_all(format!("{}\r\n", r.replace("{tag}", &tag)).as_bytes());
            }
        }
        seen
    });
    (port, handle)
}

fn options(port: u16, password: &str) -> SyncOptions {
    let target = Target::parse(&format!("imap://tester@127.0.0.1:{port}/INBOX")).unwrap();
    SyncOptions::new(target, password.to_string())
}

const CAPS: &str = "* OK [CAPABILITY IMAP4rev1 ESEARCH] ready";

#[test]
fn a_garbage_or_bye_greeting_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let (port, _h) = serve("SSH-2.0-OpenSSH_9.2", vec![]);
    let e = sync(&mut cache, &mut options(port, "pw")).unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e}");
    assert!(e.to_string().contains("SSH-2.0"), "{e}");
    let (port, _h) = serve("* BYE too many connections", vec![]);
    let e = sync(&mut cache, &mut options(port, "pw")).unwrap_err();
    assert!(e.to_string().contains("too many connections"), "{e}");
}

#[test]
fn a_password_that_needs_a_literal_waits_for_the_continuation() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    // A line break cannot be quoted: imap-codec sends a synchronizing literal.
    let (port, h) = serve(
        CAPS,
        vec![
            step("LOGIN", &["+ go on"]),
            // The literal's first line ("line"), then the rest ("break" and the CRLF).
            step("line", &[]),
            step("break", &["u1 NO [AUTHENTICATIONFAILED] wrong"]),
        ],
    );
    let e = sync(&mut cache, &mut options(port, "line\nbreak")).unwrap_err();
    assert!(e.to_string().contains("refused the login"), "{e}");
    let seen = h.join().unwrap();
    assert!(seen[0].ends_with('}'), "no literal announced: {seen:?}");
}

#[test]
fn plain_text_is_refused_where_tls_was_offered_and_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    // STARTTLS is offered, then the "TLS" is garbage: no fallback to plain-text LOGIN.
    let (port, h) = serve(
        "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
        vec![step("STARTTLS", &["{tag} OK begin", "this is not TLS"])],
    );
    let e = sync(&mut cache, &mut options(port, "secret")).unwrap_err();
    assert!(matches!(e, Error::Tls(_)), "{e}");
    let seen = h.join().unwrap();
    assert!(seen.iter().all(|l| !l.contains("secret")), "{seen:?}");
    // (On a machine without system CAs the client refuses before STARTTLS, also an error.)
    if !e.to_string().contains("no system CA") {
        assert!(seen.iter().any(|l| l.contains("STARTTLS")), "{seen:?}");
    }
}

#[test]
fn a_dropped_connection_keeps_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let (port, _h) = serve(
        CAPS,
        vec![
            step("LOGIN", &["{tag} OK logged in"]),
            step(
                "SELECT",
                &[
                    "* 4 EXISTS",
                    "* OK [UIDVALIDITY 9] ok",
                    "* OK [UIDNEXT 20] ok",
                    "{tag} OK [READ-WRITE] done",
                ],
            ),
            // The first block arrives and completes; the connection drops in the second.
            step(
                "FETCH 1:2 (UID FLAGS)",
                &[
                    "* 1 FETCH (UID 5 FLAGS (\\Seen))",
                    "* 2 FETCH (UID 7 FLAGS ())",
                    "{tag} OK done",
                ],
            ),
            step("FETCH 3:4 (UID FLAGS)", &["* 3 FETCH (UID 9 FLAGS ())"]),
        ],
    );
    let mut o = options(port, "pw");
    o.block = 2;
    o.pipeline = 1;
    let e = sync(&mut cache, &mut o).unwrap_err();
    assert!(matches!(e, Error::Closed(_)), "{e}");
    let view = cache.view();
    assert_eq!(view.exists(), Some(4));
    assert_eq!(view.uidvalidity(), Some(9));
    assert_eq!(view.message_at(2).unwrap().map(|m| m.uid), Some(7));
    // The third message's response came, but its command never completed: not committed.
    assert_eq!(view.message_at(3).unwrap(), None);
}

#[test]
fn a_server_contradicting_itself_is_an_error_naming_the_response() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let (port, _h) = serve(
        CAPS,
        vec![
            step("LOGIN", &["{tag} OK logged in"]),
            step(
                "SELECT",
                &["* 2 EXISTS", "* OK [UIDVALIDITY 9] ok", "{tag} OK done"],
            ),
            // UIDs must ascend with sequence numbers.
            step(
                "FETCH 1:2",
                &[
                    "* 1 FETCH (UID 8 FLAGS ())",
                    "* 2 FETCH (UID 3 FLAGS ())",
                    "{tag} OK done",
                ],
            ),
        ],
    );
    let e = sync(&mut cache, &mut options(port, "pw")).unwrap_err();
    assert!(matches!(e, Error::Apply(_)), "{e}");
    assert_eq!(cache.view().exists(), Some(2), "the SELECT was committed");
}
