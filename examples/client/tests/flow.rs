//! The example's whole flow against a temporary directory, with this package's binary as
//! the reader process: what the UI showed after each connection, and what the cache holds
//! at the end.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::path::Path;

use uidcache::{Cache, UidPosition};
use uidcache_example_client::page::{render, Row};
use uidcache_example_client::server::SECOND_QRESYNC;
use uidcache_example_client::{run, Flow, PAGE};

/// The binary that cargo built for this test: `main` in reader mode is the second process.
const EXE: &str = env!("CARGO_BIN_EXE_uidcache-example-client");

fn played() -> (tempfile::TempDir, Flow, String) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("INBOX");
    let mut out = Vec::new();
    let flow = run(&dir, Path::new(EXE), &mut out).unwrap();
    (temp, flow, String::from_utf8(out).unwrap())
}

fn uids(rows: &[Row]) -> Vec<u32> {
    rows.iter().map(|r| r.uid).collect()
}

fn row(rows: &[Row], uid: u32) -> &Row {
    rows.iter().find(|r| r.uid == uid).unwrap()
}

fn unread_uids(rows: &[Row]) -> Vec<u32> {
    rows.iter()
        .filter(|r| r.unread == Some(true))
        .map(|r| r.uid)
        .collect()
}

#[test]
fn the_client_flow_shows_what_the_server_holds_after_each_connection() {
    let (temp, flow, printed) = played();

    // 1. First SELECT, fill, flags; the user read UID 175, another client flagged 152,
    //    UID 231 arrived.
    let first = &flow.first;
    assert_eq!(first.exists, Some(121));
    assert_eq!(first.unread, 24);
    let expected: Vec<u32> = (151..=160).chain(171..=210).collect();
    assert_eq!(uids(&first.rows), expected);
    assert_eq!(first.rows[0].seq, 51);
    assert_eq!(row(&first.rows, 175).unread, Some(false));
    assert_eq!(row(&first.rows, 152).flagged, Some(true));
    assert_eq!(
        unread_uids(&first.rows),
        [155, 160, 180, 185, 190, 195, 200, 205, 210]
    );
    // Every row's flags were fetched: no "?" on the page.
    assert!(first
        .rows
        .iter()
        .all(|r| r.unread.is_some() && r.flagged.is_some()));

    // 2. QRESYNC: the parameter names every known UID; the SELECT kept the 121 known
    //    positions minus the 4 VANISHED (EARLIER) ones; `VANISHED 150:152` then removed
    //    three more.
    assert_eq!(
        flow.qresync_select,
        format!("SELECT INBOX {SECOND_QRESYNC}")
    );
    assert_eq!(flow.kept_by_qresync, Some(117));
    let second = &flow.second;
    assert_eq!(second.exists, Some(115));
    assert_eq!(second.unread, 21);
    let expected: Vec<u32> = (157..=160).chain(171..=189).chain(191..=217).collect();
    assert_eq!(uids(&second.rows), expected);
    assert_eq!(row(&second.rows, 200).unread, Some(false), "read elsewhere");
    assert_eq!(
        unread_uids(&second.rows),
        [160, 180, 185, 195, 205, 210, 215]
    );

    // 3. Plain SELECT: no position kept, so the page is empty until the client searched
    //    again; then every row is back, with the flags kept by UID and the one change
    //    fetched with CHANGEDSINCE.
    assert_eq!(flow.kept_by_plain, Some(0));
    assert_eq!(flow.after_plain_select, []);
    let third = &flow.third;
    assert_eq!(third.exists, Some(114));
    assert_eq!(third.unread, 20);
    let expected: Vec<u32> = (158..=160).chain(171..=189).chain(191..=218).collect();
    assert_eq!(uids(&third.rows), expected);
    assert_eq!(row(&third.rows, 160).unread, Some(false));
    assert_eq!(row(&third.rows, 195).flagged, Some(true));

    // The reader process printed the writer's page, row for row.
    assert_eq!(flow.reader, render(&third.rows));
    assert_eq!(flow.reader.lines().count(), PAGE.count());
    assert!(
        printed.ends_with(&format!("{}\n", flow.reader)),
        "{printed}"
    );

    // What the cache holds once the writer has closed it.
    let cache = Cache::open_read_only(temp.path().join("INBOX")).unwrap();
    let view = cache.view();
    // Another client's expunge of message 1 moved every position: the cache follows the
    // server, not its old map (message 1 was UID 101).
    assert_eq!(view.message_at(1).unwrap().unwrap().uid, 102);
    for gone in [101, 105, 106, 107, 150, 151, 152, 190] {
        assert_eq!(
            view.position_of_uid(gone).unwrap(),
            UidPosition::Absent,
            "UID {gone}"
        );
    }
    let placed = view.placed_messages().unwrap();
    assert_eq!(placed.len(), 114, "every position known");
    assert!(view.unplaced_messages().unwrap().is_empty());
    let last = view.message_at(114).unwrap().unwrap();
    assert_eq!((last.uid, last.modseq), (232, Some(515)));
    assert_eq!(view.highestmodseq(), Some(530));
    assert_eq!(view.uidnext(), Some(233));
}

/// The reader mode on its own: a cache the writer still holds open prints the same page
/// the writer's view gives.
#[test]
fn the_reader_process_reads_beside_an_open_writer() {
    let (temp, _, _) = played();
    let dir = temp.path().join("INBOX");
    let writer = Cache::open(&dir).unwrap();
    let printed = uidcache_example_client::reader::spawn(Path::new(EXE), &dir, 90..=92).unwrap();
    let rows = uidcache_example_client::page::page(&writer.view(), 90..=92).unwrap();
    assert_eq!(printed, render(&rows));
    assert_eq!(
        printed,
        "   90  UID 208           flagged\n   91  UID 209\n   92  UID 210   unread\n"
    );
}
