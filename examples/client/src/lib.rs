//! A mail client's use of uidcache, from the first SELECT to a reconnect, written to be
//! copied. [`run`] plays three connections to a scripted server (literal IMAP response
//! lines, no network):
//!
//! 1. **First SELECT** on an empty cache (plain, with CONDSTORE): fill the UIDs of every
//!    position with `UID SEARCH RETURN (ALL)` in batches of 50, fetch FLAGS and MODSEQ, show
//!    messages 51..=100 with their unread marks, mark one message read, take another
//!    client's flag change and new mail from a NOOP.
//! 2. **Reconnect with QRESYNC**: send the parameter the cache builds, let the session
//!    record the SELECT (what stays placed, the `VANISHED (EARLIER)` UIDs gone, the changed
//!    FLAGS), fill the one new position, apply an unsolicited `VANISHED` range.
//! 3. **Reconnect without QRESYNC**: the SELECT drops every position (another client's
//!    expunge of message 1 moved them all), the client searches them again and fetches
//!    only the flags changed since its HIGHESTMODSEQ; then a **second process** (this
//!    example's binary in `reader` mode) prints the same page from the cache while the
//!    writer still holds it.
//!
//! Every server response goes through [`uidcache::imap::Session`] (the `imap` feature): it
//! records a SELECT with the reconnect rule (`Transaction::record_select`), applies
//! `VANISHED` ranges (`Transaction::remove_uids`), and stores HIGHESTMODSEQ only when it is
//! safe. The client decides what to ask, from the cache's [`uidcache::View`].
#![deny(missing_docs)]

pub mod connection;
pub mod mailbox;
pub mod page;
pub mod reader;
pub mod server;

use std::io::Write;
use std::ops::RangeInclusive;
use std::path::Path;

use uidcache::{Cache, OpenOptions};

use connection::Connection;
use page::Row;

/// The example's error: any error, with its message.
pub type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// The page of the message list the UI shows.
pub const PAGE: RangeInclusive<u32> = 51..=100;

/// What the UI showed at one point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// The message count.
    pub exists: Option<u32>,
    /// Unread messages in the whole mailbox.
    pub unread: u32,
    /// The rows of [`PAGE`] the cache knows.
    pub rows: Vec<Row>,
}

/// What the three connections showed, for `main` to print and the test to check.
#[derive(Debug)]
pub struct Flow {
    /// After the first connection.
    pub first: Screen,
    /// The SELECT sent on the second connection (with its QRESYNC parameter).
    pub qresync_select: String,
    /// Positions the QRESYNC SELECT kept.
    pub kept_by_qresync: Option<u32>,
    /// After the second connection.
    pub second: Screen,
    /// Positions the plain SELECT kept (none can be trusted).
    pub kept_by_plain: Option<u32>,
    /// The page right after the plain SELECT, before the client searched again.
    pub after_plain_select: Vec<Row>,
    /// After the third connection.
    pub third: Screen,
    /// What the reader process printed for [`PAGE`].
    pub reader: String,
}

/// Opens (or creates) the cache of one mailbox as its writer. One directory per mailbox
/// and account; one writer at a time (a second one that waited `LOCK_WAIT` gets an error
/// whose `is_locked()` is true), any number of readers.
pub fn open_mailbox(dir: &Path) -> Result<Cache> {
    // Every commit durable, compaction paid in bounded steps by the commits. The lock is
    // waited for briefly: a process this one forks (the reader, or any child of another
    // thread) holds a copy of the lock's descriptor until it execs, so a reopen right
    // after `close` can find it held for a moment.
    Ok(OpenOptions::new().lock_wait(Some(LOCK_WAIT)).open(dir)?)
}

/// How long [`open_mailbox`] waits for another writer's lock.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the UI shows now.
pub fn screen(cache: &Cache) -> uidcache::Result<Screen> {
    let view = cache.view();
    Ok(Screen {
        exists: view.exists(),
        unread: page::unread_count(&view)?,
        rows: page::page(&view, PAGE)?,
    })
}

/// Plays the three connections on the cache in `dir` (empty or missing at first), running
/// `reader_exe reader DIR 51 100` as the second process, and writes what a client would
/// show to `out`.
pub fn run(dir: &Path, reader_exe: &Path, out: &mut dyn Write) -> Result<Flow> {
    let first = first_connection(dir, out)?;
    let (qresync_select, kept_by_qresync, second) = qresync_reconnect(dir, out)?;
    let (kept_by_plain, after_plain_select, third, reader) = plain_reconnect(dir, reader_exe, out)?;
    Ok(Flow {
        first,
        qresync_select,
        kept_by_qresync,
        second,
        kept_by_plain,
        after_plain_select,
        third,
        reader,
    })
}

/// Connection 1: an empty cache, a plain SELECT, everything learned from the server.
fn first_connection(dir: &Path, out: &mut dyn Write) -> Result<Screen> {
    let mut cache = open_mailbox(dir)?;
    let mut conn = Connection::new(server::first_session(), 'a');
    // Nothing cached yet, so no QRESYNC parameter: a plain SELECT.
    let select = mailbox::select_command(&cache.view(), false)?;
    conn.run(&mut cache, &select)?;
    mailbox::fill_positions(&mut conn, &mut cache)?;
    mailbox::fetch_unknown_flags(&mut conn, &mut cache)?;
    show(
        out,
        "first connection, after the SELECT and the fill",
        &screen(&cache)?,
    )?;

    mailbox::mark_read(&mut conn, &mut cache, 175)?;
    // Idle time: a NOOP (or IDLE) brings other clients' changes and new mail.
    conn.run(&mut cache, "NOOP")?;
    mailbox::fill_positions(&mut conn, &mut cache)?;
    mailbox::fetch_unknown_flags(&mut conn, &mut cache)?;
    conn.run(&mut cache, "LOGOUT")?;
    finished(&conn)?;
    let shown = screen(&cache)?;
    show(out, "first connection, at logout", &shown)?;
    log(out, &conn)?;
    // `close` checkpoints and reports errors; a drop does the checkpoint silently.
    cache.close()?;
    Ok(shown)
}

/// Connection 2: QRESYNC. The server reports what changed since the cache's
/// HIGHESTMODSEQ; the known positions stay.
fn qresync_reconnect(dir: &Path, out: &mut dyn Write) -> Result<(String, Option<u32>, Screen)> {
    let mut cache = open_mailbox(dir)?;
    let mut conn = Connection::new(server::second_session(), 'b');
    conn.run(&mut cache, "ENABLE QRESYNC")?;
    let select = mailbox::select_command(&cache.view(), true)?;
    conn.run(&mut cache, &select)?;
    // Only the new message's position and flags are unknown.
    mailbox::fill_positions(&mut conn, &mut cache)?;
    mailbox::fetch_unknown_flags(&mut conn, &mut cache)?;
    // Another client deletes messages: `* VANISHED 150:152` removes them, and the
    // messages after them move up.
    conn.run(&mut cache, "NOOP")?;
    conn.run(&mut cache, "LOGOUT")?;
    finished(&conn)?;
    let shown = screen(&cache)?;
    show(out, "second connection (QRESYNC), at logout", &shown)?;
    log(out, &conn)?;
    let kept = conn.kept_by_select();
    cache.close()?;
    Ok((select, kept, shown))
}

/// Connection 3: a server without QRESYNC. The SELECT proves no position, so the client
/// searches them all again (records come back with their flags) and fetches only the
/// flags changed since its HIGHESTMODSEQ. A reader process then shows the page.
fn plain_reconnect(
    dir: &Path,
    reader_exe: &Path,
    out: &mut dyn Write,
) -> Result<(Option<u32>, Vec<Row>, Screen, String)> {
    let mut cache = open_mailbox(dir)?;
    let mut conn = Connection::new(server::third_session(), 'c');
    // Read before the SELECT: its `[HIGHESTMODSEQ n]` is stored when it completes.
    let known_modseq = cache.view().highestmodseq();
    let select = mailbox::select_command(&cache.view(), false)?;
    conn.run(&mut cache, &select)?;
    let after_select = page::page(&cache.view(), PAGE)?;
    mailbox::fill_positions(&mut conn, &mut cache)?;
    match known_modseq {
        Some(m) => mailbox::fetch_changes_since(&mut conn, &mut cache, m)?,
        // No MODSEQ to start from: every message's flags.
        None => mailbox::fetch_unknown_flags(&mut conn, &mut cache)?,
    }
    conn.run(&mut cache, "LOGOUT")?;
    finished(&conn)?;
    let shown = screen(&cache)?;
    show(
        out,
        "third connection (no QRESYNC), after the refill",
        &shown,
    )?;
    log(out, &conn)?;
    // The writer still holds the cache: the reader opens it read-only beside it.
    let reader = reader::spawn(reader_exe, dir, PAGE)?;
    writeln!(
        out,
        "== a second process, reading messages {PAGE:?}:\n{reader}"
    )?;
    let kept = conn.kept_by_select();
    cache.close()?;
    Ok((kept, after_select, shown, reader))
}

/// Fails when the client stopped before the script's end (it skipped a command).
fn finished(conn: &Connection) -> Result<()> {
    if conn.script_done() {
        Ok(())
    } else {
        Err("the client logged out before the server's script ended".into())
    }
}

/// Prints a screen as the UI would draw it.
fn show(out: &mut dyn Write, when: &str, screen: &Screen) -> std::io::Result<()> {
    writeln!(
        out,
        "== {when}: INBOX, {} messages, {} unread; messages {PAGE:?}:",
        screen.exists.unwrap_or(0),
        screen.unread
    )?;
    write!(out, "{}", page::render(&screen.rows))
}

/// Prints the commands the client sent.
fn log(out: &mut dyn Write, conn: &Connection) -> std::io::Result<()> {
    for line in conn.transcript.iter().filter(|l| l.starts_with("C: ")) {
        writeln!(out, "   {line}")?;
    }
    Ok(())
}
