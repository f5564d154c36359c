//! Account sync against a scripted server on loopback: the STATUS-batch fallback (no
//! LIST-STATUS) and a mailbox that fails while the others sync (issue 13).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a test"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use uidcache_sync::account::{Account, AccountOptions, Outcome, Reason};
use uidcache_sync::{SyncOptions, Target};

/// Every line every client sent, in order, per connection.
type Log = Arc<Mutex<Vec<Vec<String>>>>;

/// What the server says about `Bad`: listed (0); not listed but STATUS answers (1); gone
/// (2: not listed, STATUS fails with NONEXISTENT).
type BadMode = Arc<AtomicU8>;

/// A server with mailboxes `A` (2 messages) and `Bad` (its SELECT fails), CONDSTORE but no
/// LIST-STATUS; it answers by command, so any number of connections in any order work.
fn server() -> (u16, Log, BadMode) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let mode: BadMode = Arc::default();
    let (shared, bad) = (Arc::clone(&log), Arc::clone(&mode));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (log, bad) = (Arc::clone(&shared), Arc::clone(&bad));
            std::thread::spawn(move || serve(stream.unwrap(), &log, &bad));
        }
    });
    (port, log, mode)
}

fn serve(stream: TcpStream, log: &Log, bad: &AtomicU8) {
    let index = {
        let mut l = log.lock().unwrap();
        l.push(Vec::new());
        l.len() - 1
    };
    let mut out = stream.try_clone().unwrap();
    let mut say = |line: &str| out.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    say("* OK [CAPABILITY IMAP4rev1 CONDSTORE] scripted");
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        log.lock().unwrap()[index].push(line.clone());
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let verb = rest.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "LOGIN" => say(&format!("{tag} OK [CAPABILITY IMAP4rev1 CONDSTORE] in")),
            "LIST" => {
                say(r#"* LIST (\HasNoChildren) "/" "A""#);
                if bad.load(Ordering::SeqCst) == 0 {
                    say(r#"* LIST (\HasNoChildren) "/" "Bad""#);
                }
                say(&format!("{tag} OK listed"));
            }
            "STATUS" if rest.contains("\"A\"") => {
                say("* STATUS \"A\" (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 7 HIGHESTMODSEQ 5)");
                say(&format!("{tag} OK status"));
            }
            "STATUS" if bad.load(Ordering::SeqCst) == 2 => {
                say(&format!("{tag} NO [NONEXISTENT] no such mailbox"));
            }
            "STATUS" => {
                say("* STATUS \"Bad\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 9 HIGHESTMODSEQ 4)");
                say(&format!("{tag} OK status"));
            }
            "SELECT" if rest.contains("\"A\"") => {
                for l in [
                    "* 2 EXISTS",
                    "* OK [UIDVALIDITY 7] v",
                    "* OK [UIDNEXT 3] n",
                    "* OK [HIGHESTMODSEQ 5] m",
                ] {
                    say(l);
                }
                say(&format!("{tag} OK [READ-WRITE] selected"));
            }
            "SELECT" => say(&format!("{tag} NO [SERVERBUG] this one is broken")),
            "FETCH" => {
                say("* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (3))");
                say("* 2 FETCH (UID 2 FLAGS () MODSEQ (5))");
                say(&format!("{tag} OK fetched"));
            }
            "LOGOUT" => {
                say("* BYE bye");
                say(&format!("{tag} OK out"));
                return;
            }
            _ => say(&format!("{tag} OK done")),
        }
    }
}

fn options(port: u16) -> AccountOptions {
    let target = Target::parse(&format!("imap://u@127.0.0.1:{port}/")).unwrap();
    let mut sync = SyncOptions::new(target, "pw".into());
    sync.durability = uidcache_engine::Durability::NoSync;
    let mut o = AccountOptions::new(sync);
    o.jobs = 2;
    o
}

#[test]
fn without_list_status_statuses_go_in_one_batch_and_a_failing_mailbox_stops_no_other() {
    let (port, log, _) = server();
    let dir = tempfile::tempdir().unwrap();
    let mut account = Account::open(dir.path()).unwrap();
    let mut opts = options(port);
    let plan = account.check(&opts).unwrap();
    assert_eq!(plan.mailboxes.len(), 2);
    assert!(plan.mailboxes.iter().all(|p| p.behind == Some(Reason::New)));
    // The listing connection: LIST, then both STATUS commands sent before any answer was
    // read (one round trip), then LOGOUT.
    let listing = log.lock().unwrap()[0].clone();
    let verbs: Vec<&str> = listing
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(verbs, ["LOGIN", "LIST", "STATUS", "STATUS", "LOGOUT"]);
    assert!(!listing[1].contains("RETURN"), "{listing:?}");
    assert_eq!(plan.traffic.round_trips - plan.login_round_trips, 3);

    let summary = account.sync(&mut opts).unwrap();
    let outcome = |name: &str| {
        &summary
            .mailboxes
            .iter()
            .find(|m| m.name == name)
            .unwrap()
            .outcome
    };
    assert_eq!(outcome("A").method_name(), "first");
    assert!(
        matches!(outcome("Bad"), Outcome::Failed(e) if e.to_string().contains("SERVERBUG")),
        "{:?}",
        outcome("Bad")
    );
    assert_eq!(summary.failures(), 1);
    assert_eq!(summary.mailboxes[0].messages, 2);

    // Again: A is proven current (STATUS equals what its sync recorded and its cache), so
    // only Bad is selected.
    let before = log.lock().unwrap().len();
    let summary = account.sync(&mut opts).unwrap();
    assert!(matches!(summary.mailboxes[0].outcome, Outcome::Unchanged));
    assert_eq!(summary.failures(), 1);
    let selects: Vec<String> = log.lock().unwrap()[before..]
        .iter()
        .flatten()
        .filter(|l| l.contains("SELECT"))
        .cloned()
        .collect();
    assert_eq!(selects.len(), 1, "{selects:?}");
    assert!(selects[0].contains("\"Bad\""));
    // The account file records A's counters and not Bad's.
    let reopened = Account::open(dir.path()).unwrap();
    let synced: Vec<bool> = reopened
        .entries()
        .iter()
        .map(|e| e.synced.is_some())
        .collect();
    assert_eq!(synced, [true, false]);
}

#[test]
fn a_mailbox_missing_from_list_keeps_its_cache_until_the_server_confirms_it_is_gone() {
    let (port, _, mode) = server();
    let dir = tempfile::tempdir().unwrap();
    let mut account = Account::open(dir.path()).unwrap();
    let mut opts = options(port);
    account.sync(&mut opts).unwrap();
    let bad = dir.path().join("mailboxes").join("_bad");
    assert!(bad.exists());
    // Not listed, but STATUS still answers: not confirmed gone.
    mode.store(1, Ordering::SeqCst);
    let plan = account.check(&opts).unwrap();
    mode.store(2, Ordering::SeqCst);
    assert!(plan.removed.is_empty(), "{:?}", plan.removed);
    assert!(bad.exists());
    assert!(account.entries().iter().any(|e| e.name == "Bad"));
    // Not listed and STATUS fails: gone, and so is its cache.
    let plan = account.check(&opts).unwrap();
    mode.store(0, Ordering::SeqCst);
    assert_eq!(plan.removed, ["Bad"]);
    assert!(!bad.exists());
    assert!(!account.entries().iter().any(|e| e.name == "Bad"));
    assert_eq!(plan.mailboxes.len(), 1);
}
