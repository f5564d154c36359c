//! Changed mailboxes caught up on the listing connection in one pipelined batch (issue 13),
//! against a scripted QRESYNC server that keeps a model of its mailboxes: every cache ends
//! equal to the model, a NO to one SELECT fails that mailbox only, a server that sends no
//! `[CLOSED]` never gets one mailbox's responses applied to another's cache, and a mailbox
//! that changes between the LIST and its SELECT is never left claimed current when it is not.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a test"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use uidcache_engine::Cache;
use uidcache_sync::account::{Account, AccountOptions, Outcome};
use uidcache_sync::{SyncOptions, Target};

const CAPS: &str = "IMAP4rev1 CONDSTORE QRESYNC ENABLE LIST-STATUS";

#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg {
    uid: u32,
    flags: String,
    modseq: u64,
}

struct Mbox {
    name: &'static str,
    validity: u32,
    next: u32,
    modseq: u64,
    msgs: Vec<Msg>,
    /// Expunged UIDs with the MODSEQ of their expunge.
    gone: Vec<(u32, u64)>,
}

impl Mbox {
    fn new(name: &'static str, count: u32) -> Mbox {
        let mut m = Mbox {
            name,
            validity: 7,
            next: 1,
            modseq: 1,
            msgs: Vec::new(),
            gone: Vec::new(),
        };
        for _ in 0..count {
            m.append();
        }
        m
    }
    fn append(&mut self) {
        self.modseq += 1;
        self.msgs.push(Msg {
            uid: self.next,
            flags: String::new(),
            modseq: self.modseq,
        });
        self.next += 1;
    }
    fn flag(&mut self, uid: u32, flags: &str) {
        self.modseq += 1;
        let m = self.msgs.iter_mut().find(|m| m.uid == uid).unwrap();
        m.flags = flags.to_string();
        m.modseq = self.modseq;
    }
    fn expunge(&mut self, uid: u32) {
        self.modseq += 1;
        self.msgs.retain(|m| m.uid != uid);
        self.gone.push((uid, self.modseq));
    }
    /// One new message, one flag change, one expunge (as the benchmark's `change`).
    fn change(&mut self) {
        self.append();
        let uid = self.msgs[1].uid;
        self.flag(uid, "\\Answered");
        let uid = self.msgs[0].uid;
        self.expunge(uid);
    }
}

type Hook = Box<dyn FnMut(&mut World) + Send>;

struct World {
    boxes: Vec<Mbox>,
    /// Whether a SELECT that closes a mailbox says so with `* OK [CLOSED]`.
    closed: bool,
    /// A mailbox whose SELECT fails.
    refuse: Option<&'static str>,
    /// Whether a failed SELECT leaves the previous mailbox selected, without `[CLOSED]`
    /// (against RFC 9051 6.3.2).
    keep_on_refusal: bool,
    /// Runs once, right after the next LIST is answered.
    after_list: Option<Hook>,
    /// Connections made, and the commands of each.
    log: Vec<Vec<String>>,
}

type Shared = Arc<Mutex<World>>;

fn server(boxes: Vec<Mbox>) -> (u16, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let world = Arc::new(Mutex::new(World {
        boxes,
        closed: true,
        refuse: None,
        keep_on_refusal: false,
        after_list: None,
        log: Vec::new(),
    }));
    let shared = Arc::clone(&world);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let w = Arc::clone(&shared);
            std::thread::spawn(move || serve(stream.unwrap(), &w));
        }
    });
    (port, world)
}

fn quoted_name(rest: &str) -> &str {
    rest.split('"').nth(1).unwrap_or("")
}

/// The largest number in the QRESYNC parameter's known-UIDs set (Dovecot reports changes
/// only of the UIDs the client says it knows: new messages come by UID FETCH).
fn known_max(param: &str) -> Option<u32> {
    let inner = param.split("(QRESYNC (").nth(1)?;
    let set = inner.split(' ').nth(2)?;
    set.split([':', ',', ')'])
        .filter_map(|n| n.parse().ok())
        .max()
}

fn serve(stream: TcpStream, world: &Shared) {
    let index = {
        let mut w = world.lock().unwrap();
        w.log.push(Vec::new());
        w.log.len() - 1
    };
    let mut out = stream.try_clone().unwrap();
    let mut text = String::new();
    let mut say = |line: &str| {
        text.push_str(line);
        text.push_str("\r\n");
    };
    say(&format!("* OK [CAPABILITY {CAPS}] scripted"));
    out.write_all(text.as_bytes()).unwrap();
    let mut selected: Option<usize> = None;
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let mut text = String::new();
        let mut say = |l: &str| {
            text.push_str(l);
            text.push_str("\r\n");
        };
        let mut w = world.lock().unwrap();
        w.log[index].push(line.clone());
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let upper = rest.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("").to_string();
        let uid_fetch = upper.starts_with("UID FETCH");
        match verb.as_str() {
            "LOGIN" => say(&format!("{tag} OK [CAPABILITY {CAPS}] in")),
            "ENABLE" => {
                say("* ENABLED QRESYNC");
                say(&format!("{tag} OK enabled"));
            }
            "LIST" => {
                for b in &w.boxes {
                    say(&format!("* LIST (\\HasNoChildren) \"/\" \"{}\"", b.name));
                    say(&format!(
                        "* STATUS \"{}\" (MESSAGES {} UIDNEXT {} UIDVALIDITY {} HIGHESTMODSEQ {})",
                        b.name,
                        b.msgs.len(),
                        b.next,
                        b.validity,
                        b.modseq
                    ));
                }
                say(&format!("{tag} OK listed"));
                if let Some(mut hook) = w.after_list.take() {
                    hook(&mut w);
                }
            }
            "SELECT" => {
                let name = quoted_name(rest);
                if w.keep_on_refusal && w.refuse == Some(name) {
                    say(&format!("{tag} NO [SERVERBUG] cannot select"));
                    drop(w);
                    if out.write_all(text.as_bytes()).is_err() {
                        return;
                    }
                    continue;
                }
                if selected.take().is_some() && w.closed {
                    say("* OK [CLOSED] previous mailbox closed");
                }
                let found = w.boxes.iter().position(|b| b.name == name);
                match found {
                    Some(i) if w.refuse != Some(w.boxes[i].name) => {
                        let b = &w.boxes[i];
                        say("* FLAGS (\\Answered \\Seen)");
                        say(&format!("* {} EXISTS", b.msgs.len()));
                        say(&format!("* OK [UIDVALIDITY {}] v", b.validity));
                        say(&format!("* OK [UIDNEXT {}] n", b.next));
                        say(&format!("* OK [HIGHESTMODSEQ {}] m", b.modseq));
                        if let Some(p) = rest.split("(QRESYNC (").nth(1) {
                            let mut nums = p.split([' ', ')']);
                            let v: u32 = nums.next().unwrap().parse().unwrap();
                            let m: u64 = nums.next().unwrap().parse().unwrap();
                            let max = known_max(rest).unwrap_or(u32::MAX);
                            if v == b.validity {
                                let vanished: Vec<String> = b
                                    .gone
                                    .iter()
                                    .filter(|(_, s)| *s > m)
                                    .map(|(u, _)| u.to_string())
                                    .collect();
                                if !vanished.is_empty() {
                                    say(&format!("* VANISHED (EARLIER) {}", vanished.join(",")));
                                }
                                for (seq, msg) in b.msgs.iter().enumerate() {
                                    if msg.modseq > m && msg.uid <= max {
                                        say(&fetch_line(seq + 1, msg));
                                    }
                                }
                            }
                        }
                        say(&format!("{tag} OK [READ-WRITE] selected"));
                        selected = Some(i);
                    }
                    _ => say(&format!("{tag} NO [SERVERBUG] cannot select")),
                }
            }
            "FETCH" | "UID" if uid_fetch || verb == "FETCH" => match selected {
                None => say(&format!("{tag} BAD no mailbox selected")),
                Some(i) => {
                    let b = &w.boxes[i];
                    let range = upper.split(' ').nth(if uid_fetch { 2 } else { 1 }).unwrap();
                    let (lo, hi) = range.split_once(':').unwrap_or((range, range));
                    let lo: u32 = lo.parse().unwrap();
                    let hi: u32 = hi.parse().unwrap_or(u32::MAX);
                    let since: u64 = upper
                        .split("CHANGEDSINCE ")
                        .nth(1)
                        .map_or(0, |s| s.trim_end_matches(')').parse().unwrap());
                    let mut any = false;
                    for (seq, msg) in b.msgs.iter().enumerate() {
                        let key = if uid_fetch { msg.uid } else { seq as u32 + 1 };
                        if key >= lo && key <= hi && msg.modseq > since {
                            say(&fetch_line(seq + 1, msg));
                            any = true;
                        }
                    }
                    if uid_fetch && !any {
                        // `n:*` with n past the last UID still names the last message.
                        if let Some(last) = b.msgs.last() {
                            say(&fetch_line(b.msgs.len(), last));
                        }
                    }
                    say(&format!("{tag} OK fetched"));
                }
            },
            "LOGOUT" => {
                say("* BYE bye");
                say(&format!("{tag} OK out"));
                drop(w);
                out.write_all(text.as_bytes()).unwrap();
                return;
            }
            _ => say(&format!("{tag} OK done")),
        }
        drop(w);
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

fn fetch_line(seq: usize, m: &Msg) -> String {
    format!(
        "* {seq} FETCH (UID {} FLAGS ({}) MODSEQ ({}))",
        m.uid, m.flags, m.modseq
    )
}

fn options(port: u16) -> AccountOptions {
    let target = Target::parse(&format!("imap://u@127.0.0.1:{port}/")).unwrap();
    let mut sync = SyncOptions::new(target, "pw".into());
    sync.durability = uidcache_engine::Durability::NoSync;
    AccountOptions::new(sync)
}

/// Each cache's messages (UID, flags) against the model's; `name` of those that differ.
fn differing(account: &Account, world: &Shared) -> Vec<String> {
    let w = world.lock().unwrap();
    let mut out = Vec::new();
    for e in account.entries() {
        let b = w.boxes.iter().find(|b| b.name == e.name).unwrap();
        let cache = Cache::open_read_only(account.cache_dir(e)).unwrap();
        let view = cache.view();
        let got: Vec<(u32, String)> = view
            .placed_messages()
            .unwrap()
            .into_iter()
            .map(|(_, m)| {
                let flags = m
                    .flags
                    .and_then(|f| view.flag_names(f))
                    .unwrap_or_default()
                    .iter()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ");
                (m.uid, flags)
            })
            .collect();
        let want: Vec<(u32, String)> = b.msgs.iter().map(|m| (m.uid, m.flags.clone())).collect();
        if got != want || view.exists() != Some(b.msgs.len() as u32) {
            out.push(format!("{}: cache {got:?}, server {want:?}", e.name));
        }
    }
    out
}

fn boxes() -> Vec<Mbox> {
    ["A", "B", "C", "D"]
        .into_iter()
        .map(|n| Mbox::new(n, 6))
        .collect()
}

/// A server with four mailboxes of 6 messages, and an account synced with it once.
fn synced() -> (Shared, tempfile::TempDir, Account, AccountOptions) {
    let (port, world) = server(boxes());
    let dir = tempfile::tempdir().unwrap();
    let mut account = Account::open(dir.path()).unwrap();
    let mut opts = options(port);
    account.sync(&mut opts).unwrap();
    assert_eq!(differing(&account, &world), Vec::<String>::new());
    (world, dir, account, opts)
}

/// `Mbox::change` in every mailbox; the world stays locked for more changes.
fn change_all(world: &Shared) -> std::sync::MutexGuard<'_, World> {
    let mut w = world.lock().unwrap();
    for b in &mut w.boxes {
        b.change();
    }
    w
}

/// Syncs again; returns the summary and the commands of each connection it made.
fn second_sync(
    world: &Shared,
    account: &mut Account,
    opts: &mut AccountOptions,
) -> (uidcache_sync::account::AccountSummary, Vec<Vec<String>>) {
    let before = world.lock().unwrap().log.len();
    let summary = account.sync(opts).unwrap();
    let log = world.lock().unwrap().log[before..].to_vec();
    (summary, log)
}

#[test]
fn changed_mailboxes_are_caught_up_in_one_batch_on_the_listing_connection() {
    let (world, _dir, mut account, mut opts) = synced();
    {
        let mut w = world.lock().unwrap();
        w.boxes[0].change();
        w.boxes[2].change();
        w.boxes[2].append();
    }
    let (summary, log) = second_sync(&world, &mut account, &mut opts);
    assert_eq!(log.len(), 1, "one connection: {log:?}");
    let verbs: Vec<String> = log[0]
        .iter()
        .map(|l| l.split(' ').skip(1).take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        verbs,
        [
            "LOGIN u",
            "ENABLE QRESYNC",
            "LIST \"\"",
            "SELECT \"A\"",
            "UID FETCH",
            "SELECT \"C\"",
            "UID FETCH",
            "LOGOUT"
        ]
    );
    // LIST (with ENABLE), the batch, LOGOUT.
    assert_eq!(summary.traffic.round_trips - summary.login_round_trips, 3);
    let methods: Vec<&str> = summary
        .mailboxes
        .iter()
        .map(|m| m.outcome.method_name())
        .collect();
    assert_eq!(methods, ["qresync", "unchanged", "qresync", "unchanged"]);
    let Outcome::Synced(a) = &summary.mailboxes[0].outcome else {
        panic!()
    };
    assert_eq!(
        (a.changes.new, a.changes.gone, a.changes.changed),
        (1, 1, 1)
    );
    assert_eq!(differing(&account, &world), Vec::<String>::new());
    // Recorded as current: a third run selects nothing.
    let (summary, log) = second_sync(&world, &mut account, &mut opts);
    assert!(summary
        .mailboxes
        .iter()
        .all(|m| matches!(m.outcome, Outcome::Unchanged)));
    assert!(!log[0].iter().any(|l| l.contains("SELECT")), "{log:?}");
}

#[test]
fn a_no_to_one_select_of_the_batch_fails_that_mailbox_only() {
    let (world, _dir, mut account, mut opts) = synced();
    {
        let mut w = change_all(&world);
        w.refuse = Some("B");
    }
    let (summary, log) = second_sync(&world, &mut account, &mut opts);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(summary.failures(), 1);
    assert!(
        matches!(&summary.mailboxes[1].outcome, Outcome::Failed(e) if e.to_string().contains("SERVERBUG")),
        "{:?}",
        summary.mailboxes[1].outcome
    );
    let diff = differing(&account, &world);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].starts_with("B:"), "{diff:?}");
    // B is not recorded current: once the server lets it be selected, it syncs.
    world.lock().unwrap().refuse = None;
    let (summary, _) = second_sync(&world, &mut account, &mut opts);
    assert_eq!(summary.mailboxes[1].outcome.method_name(), "qresync");
    assert_eq!(differing(&account, &world), Vec::<String>::new());
}

#[test]
fn without_closed_no_mailbox_gets_another_ones_responses() {
    let (world, _dir, mut account, mut opts) = synced();
    {
        let mut w = change_all(&world);
        w.closed = false;
    }
    let (summary, log) = second_sync(&world, &mut account, &mut opts);
    assert_eq!(summary.failures(), 0);
    // The batch stopped at the first answer it could not attribute; job connections did
    // the rest.
    assert!(log.len() > 1, "{log:?}");
    assert_eq!(differing(&account, &world), Vec::<String>::new());
}

#[test]
fn a_mailbox_changed_between_list_and_select_is_never_left_claimed_current() {
    let (world, _dir, mut account, mut opts) = synced();
    {
        let mut w = world.lock().unwrap();
        w.boxes[0].change();
        w.boxes[1].change();
        // After the LIST (which showed A and B behind and C, D current), A changes again
        // before its SELECT, and C (thought current) changes too.
        w.after_list = Some(Box::new(|w: &mut World| {
            w.boxes[0].change();
            w.boxes[2].change();
        }));
    }
    let (summary, _) = second_sync(&world, &mut account, &mut opts);
    assert_eq!(summary.failures(), 0);
    // A and B were selected after the changes: equal to the server.
    let diff = differing(&account, &world);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].starts_with("C:"), "{diff:?}");
    // C was not selected; the next LIST shows it behind, and only it is synced.
    let plan = account.check(&opts).unwrap();
    let behind: Vec<&str> = plan
        .mailboxes
        .iter()
        .filter(|p| p.behind.is_some())
        .map(|p| p.entry.name.as_str())
        .collect();
    assert_eq!(behind, ["C"]);
    account.sync(&mut opts).unwrap();
    assert_eq!(differing(&account, &world), Vec::<String>::new());
}

#[test]
fn a_failed_select_that_keeps_the_old_mailbox_selected_stops_the_batch_safely() {
    let (world, _dir, mut account, mut opts) = synced();
    {
        let mut w = change_all(&world);
        w.refuse = Some("B");
        w.keep_on_refusal = true;
    }
    let (summary, log) = second_sync(&world, &mut account, &mut opts);
    // B's NO came while A might still own the connection: the batch stopped there, and the
    // job connections did C and D (and failed B again).
    assert!(log.len() > 1, "{log:?}");
    assert_eq!(summary.failures(), 1);
    let diff = differing(&account, &world);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].starts_with("B:"), "{diff:?}");
}
