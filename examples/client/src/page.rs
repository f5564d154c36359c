//! What the UI shows: a page of the message list, read through [`View::range`], with an
//! unread mark from [`View::has_flag`].

use std::fmt::Write as _;
use std::ops::RangeInclusive;

use uidcache::View;

/// One row of the message list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The message sequence number (its place in the list).
    pub seq: u32,
    /// The UID (what the client asks the server for when the user opens the message).
    pub uid: u32,
    /// `Some(true)` when unread (no `\Seen`); `None` when its FLAGS were never fetched.
    pub unread: Option<bool>,
    /// Whether it carries `\Flagged`; `None` when its FLAGS were never fetched.
    pub flagged: Option<bool>,
}

/// The known messages of `seqs` (a page such as `51..=100`), ascending. Positions the cache
/// does not know are left out: after a plain SELECT, before the client searched again, the
/// page is empty, and `View::fetch_plan` says what to ask the server.
pub fn page(view: &View<'_>, seqs: RangeInclusive<u32>) -> uidcache::Result<Vec<Row>> {
    // `range` streams the rows from the mapped blocks: no allocation per row, so a UI can
    // call it for every redraw.
    view.range(seqs)
        .map(|row| {
            let (seq, m) = row?;
            Ok(Row {
                seq,
                uid: m.uid,
                // `has_flag` compares system flags case-insensitively (`\SEEN` is `\Seen`).
                unread: view.has_flag(&m, b"\\Seen").map(|seen| !seen),
                flagged: view.has_flag(&m, b"\\Flagged"),
            })
        })
        .collect()
}

/// How many known messages of the whole mailbox are unread (the count beside "Inbox").
pub fn unread_count(view: &View<'_>) -> uidcache::Result<u32> {
    let mut unread = 0;
    for row in view.messages() {
        let (_, m) = row?;
        if view.has_flag(&m, b"\\Seen") == Some(false) {
            unread += 1;
        }
    }
    Ok(unread)
}

/// The page as text, one line per row: `  51  UID 157  unread  flagged`.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        let mark = |flag: Option<bool>, word: &str| match flag {
            Some(true) => word.to_string(),
            Some(false) => String::new(),
            None => "?".to_string(),
        };
        let line = format!(
            "{:5}  UID {:<5} {:<7} {}",
            row.seq,
            row.uid,
            mark(row.unread, "unread"),
            mark(row.flagged, "flagged")
        );
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
