//! Logging in with SASL against scripted servers (issue 13): PLAIN with and without SASL-IR,
//! OAUTHBEARER and XOAUTH2 accepted and rejected (the server's JSON error decoded),
//! LOGINDISABLED, capabilities re-read after the login, and no secret in the transcript.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a test"
)]

mod support;

use std::sync::Arc;

use base64::Engine as _;
use support::{options, serve, step, Step};
use uidcache_engine::Cache;
use uidcache_sync::{sync, Error, Mechanism, SyncOptions};

const TOKEN: &str = "ya29.secret-token";
/// RFC 7628 4.3's error: `{"status":"invalid_token","scope":"example_scope",...}`.
const JSON_ERROR: &str = "+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap(),
    )
    .unwrap()
}

/// The rest of a session after a successful login: an empty INBOX, LOGOUT.
fn empty_inbox() -> Vec<Step> {
    vec![
        step(
            "SELECT \"INBOX\"",
            &["* 0 EXISTS", "* OK [UIDVALIDITY 9] ok", "{tag} OK done"],
        ),
        step("LOGOUT", &["* BYE bye", "{tag} OK done"]),
    ]
}

fn script(login: Vec<Step>) -> Vec<Step> {
    let mut s = login;
    s.extend(empty_inbox());
    s
}

fn with_token(port: u16) -> SyncOptions {
    let mut o = options(port, "");
    o.login.oauth2_token = Some(Arc::new(|| Ok(TOKEN.to_string())));
    o
}

const OK_CAPS: &str = "{tag} OK [CAPABILITY IMAP4rev1 ESEARCH] logged in";
/// The same after a continuation: the line answered is not the command, so its tag is
/// written out (the first command of a connection is u1).
const U1_OK_CAPS: &str = "u1 OK [CAPABILITY IMAP4rev1 ESEARCH] logged in";

#[test]
fn plain_goes_in_the_command_with_sasl_ir() {
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("t");
    let mut cache = Cache::open(dir.path().join("c")).unwrap();
    let (port, h) = serve(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN] ready",
        script(vec![step("AUTHENTICATE PLAIN ", &[OK_CAPS])]),
    );
    let mut o = options(port, "pässword");
    o.transcript = Some(transcript.clone());
    sync(&mut cache, &mut o).unwrap();
    let seen = h.join().unwrap();
    let ir = seen[0].rsplit(' ').next().unwrap();
    assert_eq!(unb64(ir), "\0tester\0pässword");
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(text.contains("C: u1 AUTHENTICATE PLAIN ***\n"), "{text}");
    assert!(!text.contains(ir), "the PLAIN payload leaked: {text}");
}

#[test]
fn plain_without_sasl_ir_waits_for_the_continuation_and_rereads_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("t");
    let mut cache = Cache::open(dir.path().join("c")).unwrap();
    let payload = b64(b"\0tester\0pw");
    let (port, h) = serve(
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready",
        script(vec![
            step("AUTHENTICATE PLAIN", &["+ "]),
            step("AHRlc3RlcgBwdw==", &["u1 OK logged in"]),
            // The OK carried no capabilities: they may have changed, so they are asked for.
            step(
                "CAPABILITY",
                &["* CAPABILITY IMAP4rev1 ESEARCH", "{tag} OK done"],
            ),
        ]),
    );
    let mut o = options(port, "pw");
    o.transcript = Some(transcript.clone());
    sync(&mut cache, &mut o).unwrap();
    let seen = h.join().unwrap();
    assert!(seen[0].ends_with("AUTHENTICATE PLAIN"), "{seen:?}");
    assert_eq!(seen[1], payload);
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(!text.contains(&payload), "the PLAIN payload leaked: {text}");
    assert!(text.contains("# a SASL response, not shown"), "{text}");
}

#[test]
fn oauthbearer_is_preferred_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("t");
    let mut cache = Cache::open(dir.path().join("c")).unwrap();
    let (port, h) = serve(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER] ready",
        script(vec![step("AUTHENTICATE OAUTHBEARER ", &[OK_CAPS])]),
    );
    let mut o = with_token(port);
    o.transcript = Some(transcript.clone());
    sync(&mut cache, &mut o).unwrap();
    let seen = h.join().unwrap();
    let ir = unb64(seen[0].rsplit(' ').next().unwrap());
    assert_eq!(
        ir,
        format!("n,a=tester,\x01host=127.0.0.1\x01port={port}\x01auth=Bearer {TOKEN}\x01\x01")
    );
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(text.contains("AUTHENTICATE OAUTHBEARER ***"), "{text}");
    assert!(
        !text.contains(seen[0].rsplit(' ').next().unwrap()),
        "{text}"
    );
}

#[test]
fn a_rejected_oauthbearer_token_reports_the_decoded_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let (port, h) = serve(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] ready",
        vec![
            step("AUTHENTICATE OAUTHBEARER ", &[JSON_ERROR]),
            // RFC 7628 3.2.3: the client answers the error with a single %x01.
            step("AQ==", &["u1 NO [AUTHENTICATIONFAILED] token expired"]),
        ],
    );
    let e = sync(&mut cache, &mut with_token(port)).unwrap_err();
    let seen = h.join().unwrap();
    assert_eq!(seen[1], "AQ==");
    let Error::Rejected {
        mechanism, sasl, ..
    } = &e
    else {
        panic!("not a rejection: {e}")
    };
    assert_eq!(mechanism, "OAUTHBEARER");
    assert!(
        sasl.as_deref().is_some_and(
            |s| s.contains("status invalid_token") && s.contains("scope example_scope")
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("token expired"), "{text}");
    assert!(
        !e.is_transient(),
        "a rejected token must not be retried: {text}"
    );
}

#[test]
fn xoauth2_without_sasl_ir_and_its_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let (port, h) = serve(
        "* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready",
        vec![
            step("AUTHENTICATE XOAUTH2", &["+ "]),
            step("", &[JSON_ERROR]),
            // Google's and Microsoft's XOAUTH2: an empty response acknowledges the error.
            step("", &["u1 NO [AUTHENTICATIONFAILED] Invalid credentials"]),
        ],
    );
    let e = sync(&mut cache, &mut with_token(port)).unwrap_err();
    let seen = h.join().unwrap();
    assert!(seen[0].ends_with("AUTHENTICATE XOAUTH2"), "{seen:?}");
    assert_eq!(
        unb64(&seen[1]),
        format!("user=tester\x01auth=Bearer {TOKEN}\x01\x01")
    );
    assert_eq!(seen[2], "");
    let text = e.to_string();
    assert!(text.contains("Invalid credentials"), "{text}");
    assert!(text.contains("status invalid_token"), "{text}");
}

#[test]
fn logindisabled_never_gets_login() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    // Without PLAIN there is nothing to log in with: an error before sending anything.
    let (port, h) = serve("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready", vec![]);
    let e = sync(&mut cache, &mut options(port, "pw")).unwrap_err();
    assert!(matches!(e, Error::Login(_)), "{e}");
    assert!(e.to_string().contains("LOGINDISABLED"), "{e}");
    assert!(h.join().unwrap().is_empty());
    // Asking for LOGIN explicitly does not override it either.
    let (port, h) = serve(
        "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] ready",
        vec![],
    );
    let mut o = options(port, "pw");
    o.login.mechanism = Some(Mechanism::Login);
    assert!(matches!(sync(&mut cache, &mut o), Err(Error::Login(_))));
    assert!(h.join().unwrap().is_empty());
    // With PLAIN offered, PLAIN is used.
    let (port, h) = serve(
        "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] ready",
        script(vec![
            step("AUTHENTICATE PLAIN", &["+"]),
            step("AHRlc3RlcgBwdw==", &[U1_OK_CAPS]),
        ]),
    );
    sync(&mut cache, &mut options(port, "pw")).unwrap();
    assert!(h.join().unwrap()[0].ends_with("AUTHENTICATE PLAIN"));
}

#[test]
fn a_failing_token_source_is_a_clear_error_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let (port, h) = serve("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready", vec![]);
    let mut o = options(port, "");
    o.login.oauth2_token = Some(Arc::new(|| Err("the vault is locked".to_string())));
    let e = sync(&mut cache, &mut o).unwrap_err();
    assert!(matches!(e, Error::Login(_)), "{e}");
    assert!(e.to_string().contains("the vault is locked"), "{e}");
    assert!(h.join().unwrap().is_empty());
}
