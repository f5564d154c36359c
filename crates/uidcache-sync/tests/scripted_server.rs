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

mod support;

use support::{options, serve, serve_many, step, Step};
use uidcache_engine::Cache;
use uidcache_sync::{sync, Error};

const CAPS: &str = "* OK [CAPABILITY IMAP4rev1 ESEARCH] ready";
/// A LOGIN completion carrying the capabilities (without them the client asks CAPABILITY).
const LOGGED_IN: &str = "{tag} OK [CAPABILITY IMAP4rev1 ESEARCH] logged in";

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
            step("LOGIN", &[LOGGED_IN]),
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
            step("LOGIN", &[LOGGED_IN]),
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

const QRESYNC_CAPS: &str = "* OK [CAPABILITY IMAP4rev1 ESEARCH CONDSTORE QRESYNC] ready";
const LOGGED_IN_QRESYNC: &str =
    "{tag} OK [CAPABILITY IMAP4rev1 ESEARCH CONDSTORE QRESYNC] logged in";

/// A cache of UIDVALIDITY 7 with `uids` at 1.., no flags set, MODSEQ 5 each, and
/// HIGHESTMODSEQ `modseq`: what an earlier sync left, wrong in a way the test chooses.
fn cache_with(dir: &std::path::Path, uids: &[u32], modseq: u64) -> Cache {
    let mut cache = Cache::open(dir).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_uidvalidity(Some(7)).unwrap();
    tx.set_uidnext(Some(4)).unwrap();
    tx.set_exists(uids.len() as u32).unwrap();
    tx.learn_range(1, uids).unwrap();
    for seq in 1..=uids.len() as u32 {
        let update = uidcache_engine::Update {
            flags: Some(&[]),
            modseq: Some(5),
        };
        tx.update_seq(seq, update).unwrap();
    }
    tx.set_highestmodseq(Some(modseq)).unwrap();
    tx.commit().unwrap();
    cache
}

/// `script` after the LOGIN and `ENABLE QRESYNC` every QRESYNC-capable session starts with.
fn with_qresync_login(script: Vec<Step>) -> Vec<Step> {
    let mut steps = vec![
        step("LOGIN", &[LOGGED_IN_QRESYNC]),
        step("ENABLE QRESYNC", &["* ENABLED QRESYNC", "{tag} OK enabled"]),
    ];
    steps.extend(script);
    steps
}

/// The second connection of a healing sync: no HIGHESTMODSEQ to resync from, so CONDSTORE
/// SELECT, every message fetched, a NOOP to release the FETCH MODSEQs, LOGOUT.
fn full_resync_script() -> Vec<Step> {
    with_qresync_login(vec![
        step(
            "SELECT \"INBOX\" (CONDSTORE)",
            &[
                "* 3 EXISTS",
                "* OK [UIDVALIDITY 7] ok",
                "* OK [UIDNEXT 4] ok",
                "* OK [HIGHESTMODSEQ 12] ok",
                "{tag} OK [READ-WRITE] done",
            ],
        ),
        step(
            "FETCH 1:3 (UID FLAGS MODSEQ)",
            &[
                "* 1 FETCH (UID 1 FLAGS () MODSEQ (5))",
                "* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (11))",
                "* 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (12))",
                "{tag} OK done",
            ],
        ),
        step("NOOP", &["{tag} OK done"]),
        step("LOGOUT", &["* BYE bye", "{tag} OK done"]),
    ])
}

const TRUTH: &str = "uidvalidity 7\nuidnext 4\nhighestmodseq 12\nexists 3\n\
                     1 1 () 5\n2 2 (\\Seen) 11\n3 3 (\\Flagged) 12\n";

fn dump(cache: &Cache) -> String {
    uidcache_imap::dump_to_string(&cache.view()).unwrap()
}

/// A cache whose HIGHESTMODSEQ (50) is ahead of the server's (12) claims changes it never
/// saw (here message 2's \Seen at MODSEQ 11). The QRESYNC SELECT shows it; the sync drops the
/// positions and HIGHESTMODSEQ, resyncs every message on a new connection, and says so.
#[test]
fn a_cache_ahead_of_the_server_heals_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = cache_with(dir.path(), &[1, 2, 3], 50);
    let first = with_qresync_login(vec![step(
        "(QRESYNC (7 50",
        &[
            "* 3 EXISTS",
            "* OK [UIDVALIDITY 7] ok",
            "* OK [UIDNEXT 4] ok",
            "* OK [HIGHESTMODSEQ 12] ok",
            "{tag} OK [READ-WRITE] done",
        ],
    )]);
    let (port, h) = serve_many(QRESYNC_CAPS, vec![first, full_resync_script()]);
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut o = options(port, "pw");
    let sink = std::sync::Arc::clone(&events);
    o.on_event = Some(Box::new(move |e| sink.lock().unwrap().push(e.to_string())));
    let s = sync(&mut cache, &mut o).unwrap();
    h.join().unwrap();
    assert_eq!(dump(&cache), TRUTH);
    let why = s.healed.clone().unwrap();
    assert!(
        why.contains("HIGHESTMODSEQ 12 is below the cache's 50"),
        "{why}"
    );
    assert!(s.to_string().contains("resynced"), "{s}");
    let events = events.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| e.contains("resynchronizing")),
        "{events:?}"
    );
}

/// A wrong UID at a position (3 holds UID 4 in the cache, UID 3 on the server) shows when
/// the server reports a change of message 3; the sync heals instead of failing for ever.
#[test]
fn a_wrong_uid_at_a_position_heals_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = cache_with(dir.path(), &[1, 2, 4], 10);
    let first = with_qresync_login(vec![step(
        "(QRESYNC (7 10",
        &[
            "* 3 EXISTS",
            "* OK [UIDVALIDITY 7] ok",
            "* OK [UIDNEXT 4] ok",
            "* OK [HIGHESTMODSEQ 12] ok",
            "* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (11))",
            "* 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (12))",
            "{tag} OK [READ-WRITE] done",
        ],
    )]);
    let (port, h) = serve_many(QRESYNC_CAPS, vec![first, full_resync_script()]);
    let s = sync(&mut cache, &mut options(port, "pw")).unwrap();
    h.join().unwrap();
    assert_eq!(dump(&cache), TRUTH);
    assert!(s.healed.is_some(), "{s}");
}

/// After the heal the cache trusts nothing it knew; a server that then contradicts itself
/// is an error (exit 1 from the command), not a loop of resyncs.
#[test]
fn a_server_contradicting_itself_after_a_heal_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = cache_with(dir.path(), &[1, 2, 3], 50);
    let first = with_qresync_login(vec![step(
        "(QRESYNC (7 50",
        &[
            "* 3 EXISTS",
            "* OK [UIDVALIDITY 7] ok",
            "* OK [HIGHESTMODSEQ 12] ok",
            "{tag} OK done",
        ],
    )]);
    let second = with_qresync_login(vec![
        step(
            "SELECT",
            &[
                "* 3 EXISTS",
                "* OK [UIDVALIDITY 7] ok",
                "* OK [HIGHESTMODSEQ 12] ok",
                "{tag} OK done",
            ],
        ),
        step(
            "FETCH 1:3",
            &[
                "* 1 FETCH (UID 8 FLAGS () MODSEQ (5))",
                "* 2 FETCH (UID 3 FLAGS () MODSEQ (5))",
                "{tag} OK done",
            ],
        ),
    ]);
    let (port, _h) = serve_many(QRESYNC_CAPS, vec![first, second]);
    let e = sync(&mut cache, &mut options(port, "pw")).unwrap_err();
    assert!(matches!(e, Error::Apply(_)), "{e}");
}

/// `--uids-only` with a CONDSTORE resync learns positions only: the newer HIGHESTMODSEQ of
/// the SELECT covers flag changes it never fetched, so the old value stays, and the next
/// sync with flags asks for the changes since then.
#[test]
fn uids_only_keeps_the_old_highestmodseq() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = cache_with(dir.path(), &[1, 2, 3], 10);
    let script = vec![
        step("LOGIN", &[LOGGED_IN_QRESYNC]),
        step(
            "SELECT \"INBOX\" (CONDSTORE)",
            &[
                "* 3 EXISTS",
                "* OK [UIDVALIDITY 7] ok",
                "* OK [HIGHESTMODSEQ 12] ok",
                "{tag} OK [READ-WRITE] done",
            ],
        ),
        step(
            "UID SEARCH RETURN (ALL) 1:3",
            &["* ESEARCH (TAG \"{tag}\") UID ALL 1:3", "{tag} OK done"],
        ),
        step("LOGOUT", &["* BYE bye", "{tag} OK done"]),
    ];
    let (port, h) = serve_many(QRESYNC_CAPS, vec![script]);
    let mut o = options(port, "pw");
    o.uids_only = true;
    o.resync = uidcache_sync::Resync::Condstore;
    let s = sync(&mut cache, &mut o).unwrap();
    h.join().unwrap();
    assert_eq!(s.highestmodseq, Some(10), "{s}");
    assert_eq!(cache.view().message_at(3).unwrap().map(|m| m.uid), Some(3));
}

/// The Cyrus case: the cache's HIGHESTMODSEQ equals the server's, but an expunge below it
/// was never reported (it was held back when an earlier sync stored the value). The QRESYNC
/// SELECT shows one message fewer and no VANISHED; the sync heals instead of placing UIDs
/// onto the wrong messages.
#[test]
fn an_unreported_expunge_heals_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = cache_with(dir.path(), &[1, 2, 3, 4], 12);
    let first = with_qresync_login(vec![step(
        "(QRESYNC (7 12",
        &[
            "* 3 EXISTS",
            "* OK [UIDVALIDITY 7] ok",
            "* OK [UIDNEXT 5] ok",
            "* OK [HIGHESTMODSEQ 12] ok",
            "{tag} OK [READ-WRITE] done",
        ],
    )]);
    let mut second = full_resync_script();
    second[2] = step(
        "SELECT \"INBOX\" (CONDSTORE)",
        &[
            "* 3 EXISTS",
            "* OK [UIDVALIDITY 7] ok",
            "* OK [UIDNEXT 4] ok",
            "* OK [HIGHESTMODSEQ 12] ok",
            "{tag} OK [READ-WRITE] done",
        ],
    );
    let (port, h) = serve_many(QRESYNC_CAPS, vec![first, second]);
    let s = sync(&mut cache, &mut options(port, "pw")).unwrap();
    h.join().unwrap();
    assert_eq!(dump(&cache), TRUTH);
    assert!(
        s.healed.as_deref().is_some_and(|w| w.contains("never saw")),
        "{s}"
    );
}

/// A CONDSTORE catch-up leans on the session's hold (format-spec 9.1): the SELECT's newer
/// HIGHESTMODSEQ (20) is stored only once `FETCH 1:* ... (CHANGEDSINCE 10)` has brought
/// message 2's `\Seen` (MODSEQ 15); a connection lost before that leaves the old value, so
/// the next sync asks for the change again.
#[test]
fn a_condstore_catch_up_stores_the_new_value_only_after_changedsince() {
    let select = || {
        step(
            "SELECT \"INBOX\" (CONDSTORE)",
            &[
                "* 3 EXISTS",
                "* OK [UIDVALIDITY 7] ok",
                "* OK [HIGHESTMODSEQ 20] ok",
                "{tag} OK [READ-WRITE] done",
            ],
        )
    };
    let search = || {
        step(
            "UID SEARCH RETURN (ALL) 1:3",
            &["* ESEARCH (TAG \"{tag}\") UID ALL 1:3", "{tag} OK done"],
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cache = cache_with(dir.path(), &[1, 2, 3], 10);
    let cut = vec![step("LOGIN", &[LOGGED_IN_QRESYNC]), select(), search()];
    let (port, h) = serve_many(QRESYNC_CAPS, vec![cut]);
    let mut o = options(port, "pw");
    o.resync = uidcache_sync::Resync::Condstore;
    assert!(sync(&mut cache, &mut o).is_err());
    h.join().unwrap();
    assert_eq!(cache.view().highestmodseq(), Some(10));

    let whole = vec![
        step("LOGIN", &[LOGGED_IN_QRESYNC]),
        select(),
        search(),
        step(
            "FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 10)",
            &[
                "* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (15))",
                "{tag} OK done",
            ],
        ),
        step("NOOP", &["{tag} OK done"]),
        step("LOGOUT", &["* BYE bye", "{tag} OK done"]),
    ];
    let (port, h) = serve_many(QRESYNC_CAPS, vec![whole]);
    let mut o = options(port, "pw");
    o.resync = uidcache_sync::Resync::Condstore;
    let s = sync(&mut cache, &mut o).unwrap();
    h.join().unwrap();
    assert_eq!(s.highestmodseq, Some(20), "{s}");
    assert_eq!(
        dump(&cache),
        "uidvalidity 7\nuidnext 4\nhighestmodseq 20\nexists 3\n\
         1 1 () 5\n2 2 (\\Seen) 15\n3 3 () 5\n"
    );
}

/// Issue 12: a QRESYNC sync that learns nothing does not read the mailbox to work out the
/// SELECT parameter, what to fetch or what changed. The one pass left is the search for
/// messages whose flags were never learned (the index does not record it), so at most one
/// record walked per message: the snapshots, parameter and plan of before walked four.
#[test]
fn an_unchanged_qresync_sync_walks_the_mailbox_at_most_once() {
    const N: u32 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_uidvalidity(Some(7)).unwrap();
    tx.set_uidnext(Some(N + 1)).unwrap();
    tx.set_exists(N).unwrap();
    let seen: &[&[u8]] = &[b"\\Seen"];
    let entries: Vec<(u32, uidcache_engine::Update<'_>)> = (1..=N)
        .map(|uid| {
            let update = uidcache_engine::Update {
                flags: Some(seen),
                modseq: Some(5),
            };
            (uid, update)
        })
        .collect();
    tx.learn_many(1, &entries).unwrap();
    tx.set_highestmodseq(Some(50)).unwrap();
    tx.commit().unwrap();
    let script = with_qresync_login(vec![
        step(
            "SELECT \"INBOX\" (QRESYNC (7 50 1:100000 (",
            &[
                "* 100000 EXISTS",
                "* OK [UIDVALIDITY 7] ok",
                "* OK [UIDNEXT 100001] ok",
                "* OK [HIGHESTMODSEQ 50] ok",
                "{tag} OK [READ-WRITE] done",
            ],
        ),
        step("LOGOUT", &["* BYE bye", "{tag} OK done"]),
    ]);
    let (port, h) = serve_many(QRESYNC_CAPS, vec![script]);
    let walked = uidcache_engine::tools::records_walked();
    let s = sync(&mut cache, &mut options(port, "pw")).unwrap();
    let walked = uidcache_engine::tools::records_walked() - walked;
    h.join().unwrap();
    assert_eq!(s.changes, uidcache_sync::Changes::default(), "{s}");
    assert_eq!(s.messages, N);
    assert!(walked <= u64::from(N), "walked {walked} records");
}
