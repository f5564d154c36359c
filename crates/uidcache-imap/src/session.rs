//! Session semantics: which responses belong to which session, search context per command
//! tag, the HIGHESTMODSEQ rule, and commit points.

use uidcache_engine::{SelectOutcome, Transaction};

use crate::apply;
use crate::command::{parse_command, Command};
use crate::error::{Error, LineError, Result};
use crate::event::{CacheCode, Completion, Event};
use crate::response::parse_response;
use crate::seqset::{self, SeqNum};
use crate::start;

/// How many UIDs of a search answer are learned at once (a multiple of the engine's block
/// size, so that chunks fill whole blocks).
const LEARN_CHUNK: usize = 64 * 1024;

/// What the caller should do after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Step {
    /// Keep reading.
    Continue,
    /// A command completed: commit the transaction now.
    Commit,
    /// The input ended where nothing since the last commit point can be trusted (inside a
    /// SELECT/EXAMINE whose completion never came): drop the transaction uncommitted.
    Discard,
}

/// An outstanding `UID SEARCH a:b`.
#[derive(Debug)]
struct PendingSearch {
    tag: String,
    range: (SeqNum, SeqNum),
    esearch: bool,
    /// Which SELECT it was issued after; a new session discards older searches.
    epoch: u64,
    answer: Option<Answer>,
    /// An EXPUNGE or VANISHED arrived: its sequence numbers are ambiguous.
    tainted: bool,
}

#[derive(Debug)]
struct Answer {
    uids: Vec<(u32, u32)>,
    count_at: u32,
    pos: u64,
}

/// A SELECT/EXAMINE whose responses are held until it is known which session they belong to.
#[derive(Debug)]
struct PendingSelect {
    tag: String,
    qresync: bool,
    epoch: u64,
    closed_seen: bool,
    buffer: Vec<(u64, Event)>,
}

/// After a plain SELECT/EXAMINE of a cache that held records: their flags may be older than
/// the server's `[HIGHESTMODSEQ]`, so the stored value may not rise above `cap` (the value
/// from before the SELECT) until every flag changed since `cap` is fetched.
#[derive(Debug, Clone, Copy)]
struct Hold {
    cap: Option<u64>,
}

/// An outstanding [`Command::FlagsCatchUp`].
#[derive(Debug)]
struct CatchUp {
    tag: String,
    since: Option<u64>,
    /// Which SELECT it was issued after: it catches up only that session.
    epoch: u64,
}

/// The state of one IMAP connection as seen by the cache: feed it the client's commands and
/// the server's responses in order, and commit the transaction when it says
/// [`Step::Commit`]. See the crate docs for an example.
#[derive(Debug, Default)]
pub struct Session {
    searches: Vec<PendingSearch>,
    select: Option<PendingSelect>,
    epoch: u64,
    /// The last `[HIGHESTMODSEQ n]` (`Some(n)`) or `[NOMODSEQ]` (`None`) since the last
    /// tagged response.
    modseq_code: Option<Option<u64>>,
    /// The highest FETCH MODSEQ not yet safe to store: it waits for the completion of a
    /// command in which the server reports the expunges it held back.
    pending_modseq: Option<u64>,
    /// Tags of outstanding commands whose completion releases `pending_modseq`
    /// (SELECT/EXAMINE and [`Command::Poll`]).
    releasing: Vec<String>,
    /// The value of the last `[HIGHESTMODSEQ n]` code of a SELECT/EXAMINE on this connection.
    selected_modseq: Option<u64>,
    /// What the last SELECT/EXAMINE kept of the cache.
    last_select: Option<SelectOutcome>,
    /// Set while the records a plain SELECT kept are not proven current.
    hold: Option<Hold>,
    /// Outstanding flag catch-ups, which end the hold at their OK.
    catch_ups: Vec<CatchUp>,
    /// Whether the cache was looked at: a session that continues a cache (no SELECT first)
    /// cannot know whether its records were proven current, so it starts held.
    started: bool,
}

impl Session {
    /// A session that continues whatever the cache holds. Until its first SELECT/EXAMINE it
    /// cannot know whether the cache's records are current up to a newer value, so if the
    /// cache holds records, the stored HIGHESTMODSEQ is held as it is
    /// ([`Session::holding_modseq`]).
    pub fn new() -> Session {
        Session::default()
    }

    /// On the first look at the cache: holds its HIGHESTMODSEQ if it has records.
    fn start(&mut self, tx: &Transaction<'_>) {
        if !self.started {
            self.started = true;
            let view = tx.view();
            if view.record_count() > 0 {
                self.hold = Some(Hold {
                    cap: view.highestmodseq(),
                });
            }
        }
    }

    /// The client sent `line` (a command line without CRLF).
    pub fn command(&mut self, tx: &mut Transaction<'_>, line: &[u8]) -> Result<(), LineError> {
        self.start(tx);
        match parse_command(line) {
            Command::Select { tag, qresync } => {
                if let Some(old) = self.select.take() {
                    // Another SELECT before the first completed: the first one's responses
                    // are all in; resolve them as if it had completed.
                    self.resolve_select(tx, old)?;
                }
                self.epoch += 1;
                self.releasing.push(tag.clone());
                self.select = Some(PendingSelect {
                    tag,
                    qresync,
                    epoch: self.epoch,
                    closed_seen: false,
                    buffer: Vec::new(),
                });
            }
            Command::UidSearch {
                tag,
                range,
                esearch,
            } => self.searches.push(PendingSearch {
                tag,
                range,
                esearch,
                epoch: self.epoch,
                answer: None,
                tainted: false,
            }),
            Command::Poll { tag } => self.releasing.push(tag),
            Command::FlagsCatchUp { tag, since } => self.catch_ups.push(CatchUp {
                tag,
                since,
                epoch: self.epoch,
            }),
            Command::Other { .. } => {}
        }
        Ok(())
    }

    /// The server sent `line` (a response line without CRLF). `pos` (the line number in a
    /// transcript) is what errors report.
    pub fn response(
        &mut self,
        tx: &mut Transaction<'_>,
        pos: u64,
        line: &[u8],
    ) -> Result<Step, LineError> {
        let event = parse_response(line).map_err(|source| LineError { line: pos, source })?;
        self.event(tx, pos, event)
    }

    /// The end of the input (a transcript's end, a connection lost). Returns
    /// [`Step::Commit`] when what was applied since the last commit point stands, or
    /// [`Step::Discard`] when the input ended inside a SELECT/EXAMINE whose tagged completion
    /// never came: its responses are incomplete (a QRESYNC SELECT cut after `EXISTS`, before
    /// `VANISHED (EARLIER)`, would misplace every known message), so nothing since the last
    /// commit point may be committed.
    pub fn finish(&mut self) -> Step {
        if self.select.take().is_some() {
            return Step::Discard;
        }
        Step::Commit
    }

    /// Applies one parsed response.
    pub fn event(
        &mut self,
        tx: &mut Transaction<'_>,
        pos: u64,
        event: Event,
    ) -> Result<Step, LineError> {
        self.start(tx);
        let Some(sel) = self.select.as_mut() else {
            return self.apply(tx, pos, event);
        };
        match &event {
            Event::Tagged { tag, status, .. } if *tag == sel.tag => {
                if let Some(sel) = self.select.take() {
                    if *status == Completion::Ok || sel.closed_seen {
                        self.resolve_select(tx, sel)?;
                    } else {
                        // A failed SELECT and no [CLOSED]: the old session goes on.
                        self.apply_all(tx, sel.buffer)?;
                    }
                }
                self.apply(tx, pos, event)
            }
            Event::Code(CacheCode::Closed) if !sel.closed_seen => {
                sel.closed_seen = true;
                let held = std::mem::take(&mut sel.buffer);
                self.apply_all(tx, held)?;
                Ok(Step::Continue)
            }
            Event::Tagged { .. } => {
                // Another command completed first: a commit point. What came before [CLOSED]
                // is the old session's; after it, the new session starts here.
                if sel.closed_seen {
                    if let Some(sel) = self.select.take() {
                        self.resolve_select(tx, sel)?;
                    }
                } else {
                    let held = std::mem::take(&mut sel.buffer);
                    self.apply_all(tx, held)?;
                }
                self.apply(tx, pos, event)
            }
            _ => {
                sel.buffer.push((pos, event));
                Ok(Step::Continue)
            }
        }
    }

    fn apply_all(
        &mut self,
        tx: &mut Transaction<'_>,
        events: Vec<(u64, Event)>,
    ) -> Result<(), LineError> {
        for (pos, event) in events {
            // Held events are never tagged, so they never ask for a commit.
            let _ = self.apply(tx, pos, event)?;
        }
        Ok(())
    }

    /// Starts the new session with the responses of its SELECT.
    fn resolve_select(
        &mut self,
        tx: &mut Transaction<'_>,
        sel: PendingSelect,
    ) -> Result<(), LineError> {
        let epoch = sel.epoch;
        self.searches.retain(|s| s.epoch >= epoch);
        // MODSEQs seen before are the old session's; the SELECT reports its own state.
        self.pending_modseq = None;
        self.selected_modseq = sel.buffer.iter().rev().find_map(|(_, e)| match e {
            Event::Code(CacheCode::HighestModseq(n)) => Some(*n),
            _ => None,
        });
        self.catch_ups.retain(|c| c.epoch >= epoch);
        let before = tx.view().highestmodseq();
        let started = start::start_session(tx, sel.qresync, sel.buffer)?;
        self.last_select = Some(started.outcome);
        // The kept records' flags may predate the SELECT's [HIGHESTMODSEQ n]; a cache that
        // held none (or was cleared) learns everything after the SELECT, so n is true.
        self.hold = started
            .outcome
            .unproven_flags
            .then_some(Hold { cap: before });
        self.apply_all(tx, started.rest)
    }

    /// The highest FETCH MODSEQ seen that is not yet stored because no command since has
    /// given the server the chance to report the expunges it held back. `Some` means the
    /// stored HIGHESTMODSEQ may lag the server: a `NOOP` would release it.
    pub fn pending_modseq(&self) -> Option<u64> {
        self.pending_modseq
    }

    /// What the last SELECT/EXAMINE on this connection kept of the cache (whether a new
    /// UIDVALIDITY dropped it, how many positions stayed placed), once its responses were
    /// resolved; `None` before any.
    pub fn last_select(&self) -> Option<SelectOutcome> {
        self.last_select
    }

    /// Whether the stored HIGHESTMODSEQ is held back: the last SELECT/EXAMINE was a plain one
    /// (no QRESYNC) of a cache that held records (or, before any SELECT, the session continues
    /// a cache that holds records), and their flags are not yet proven current.
    /// It ends at the OK of `FETCH 1:* (FLAGS) (CHANGEDSINCE m)` (or `UID FETCH`, or without
    /// `CHANGEDSINCE`) with `m` at most the held value, or at [`Session::flags_caught_up`].
    pub fn holding_modseq(&self) -> bool {
        self.hold.is_some()
    }

    /// Tells the session that every message's flags were fetched since the last
    /// SELECT/EXAMINE, by commands that completed `OK` (for example `FETCH a:b (UID FLAGS)`
    /// in blocks covering every sequence number): the records it kept are current, so the
    /// hold ends and the SELECT's `[HIGHESTMODSEQ n]` is stored (unless a code or
    /// `[NOMODSEQ]` lowered the value meanwhile). Calling it when some flags were not
    /// fetched makes the cache claim changes it never saw. Does nothing without a hold.
    pub fn flags_caught_up(&mut self, tx: &mut Transaction<'_>) -> Result<()> {
        self.start(tx);
        let Some(hold) = self.hold.take() else {
            return Ok(());
        };
        let stored = tx.view().highestmodseq();
        if stored == hold.cap {
            if let Some(n) = self.selected_modseq {
                if stored.is_none_or(|s| n > s) {
                    tx.set_highestmodseq(Some(n))?;
                }
            }
        }
        Ok(())
    }

    /// The `[HIGHESTMODSEQ n]` that the last SELECT/EXAMINE on this connection reported,
    /// if any: the mailbox's value when it was selected, which a cache's stored value must
    /// never exceed (a higher stored value means the cache claims changes it never saw).
    pub fn selected_modseq(&self) -> Option<u64> {
        self.selected_modseq
    }

    fn apply(
        &mut self,
        tx: &mut Transaction<'_>,
        pos: u64,
        event: Event,
    ) -> Result<Step, LineError> {
        let at = |source| LineError { line: pos, source };
        match event {
            Event::Exists(n) => apply::exists(tx, n).map_err(at)?,
            Event::Expunge(n) => {
                apply::expunge(tx, n).map_err(at)?;
                self.taint_searches();
            }
            Event::Vanished {
                earlier: true,
                uids,
            } => apply::vanished_earlier(tx, &uids).map_err(at)?,
            Event::Vanished {
                earlier: false,
                uids,
            } => {
                apply::vanished(tx, &uids).map_err(at)?;
                self.taint_searches();
            }
            Event::Fetch {
                seq,
                uid,
                flags,
                modseq,
            } => {
                if uid.is_none() && flags.is_some() {
                    // A flag change at a position the cache does not know may be an unplaced
                    // record's: it cannot be recorded, so nothing from its MODSEQ on may be
                    // claimed until the flags are caught up again, by a catch-up issued after
                    // it (one in flight may have read the flags before the change).
                    let view = tx.view();
                    let unknown = view.exists().is_some_and(|c| seq >= 1 && seq <= c)
                        && view.peek_message_at(seq).is_none()
                        && view.message_at(seq).map_err(|e| at(e.into()))?.is_none();
                    if unknown && view.unplaced_count() > 0 {
                        self.catch_ups.clear();
                        if self.hold.is_none() {
                            self.hold = Some(Hold {
                                cap: view.highestmodseq(),
                            });
                        }
                    }
                }
                apply::fetch(tx, seq, uid, flags.as_deref(), modseq).map_err(at)?;
                if let Some(m) = modseq {
                    self.pending_modseq = Some(self.pending_modseq.map_or(m, |x| x.max(m)));
                }
            }
            Event::Search(uids) => {
                let count_at = apply::count(tx);
                if let Some(s) = self
                    .searches
                    .iter_mut()
                    .find(|s| !s.esearch && s.answer.is_none())
                {
                    s.answer = Some(Answer {
                        uids: uids.iter().map(|u| (*u, *u)).collect(),
                        count_at,
                        pos,
                    });
                }
            }
            Event::Esearch {
                tag: Some(tag),
                uid: true,
                all,
            } => {
                let count_at = apply::count(tx);
                if let Some(s) = self
                    .searches
                    .iter_mut()
                    .find(|s| s.esearch && s.answer.is_none() && s.tag == tag)
                {
                    s.answer = Some(Answer {
                        uids: all.unwrap_or_default(),
                        count_at,
                        pos,
                    });
                }
            }
            Event::Esearch { .. } | Event::Ignored => {}
            Event::Code(code) => self.code(tx, code).map_err(at)?,
            Event::Tagged { tag, status, code } => {
                if let (Completion::Ok, Some(code)) = (status, code) {
                    self.code(tx, code).map_err(at)?;
                }
                self.complete_search(tx, &tag, status)?;
                self.modseq_rule(tx, &tag, status).map_err(at)?;
                return Ok(Step::Commit);
            }
        }
        Ok(Step::Continue)
    }

    fn taint_searches(&mut self) {
        for s in &mut self.searches {
            s.tainted = true;
        }
    }

    pub(crate) fn code(&mut self, tx: &mut Transaction<'_>, code: CacheCode) -> Result<()> {
        match code {
            CacheCode::UidValidity(v) => {
                if apply::uidvalidity(tx, v)? {
                    // MODSEQs seen so far were the old mailbox's; no record is left stale.
                    self.pending_modseq = None;
                    self.hold = None;
                }
            }
            CacheCode::UidNext(n) => tx.set_uidnext(Some(n))?,
            CacheCode::HighestModseq(n) => self.modseq_code = Some(Some(n)),
            CacheCode::NoModseq => self.modseq_code = Some(None),
            CacheCode::Closed => {}
        }
        Ok(())
    }

    /// The HIGHESTMODSEQ rule, at each tagged completion. RFC 7162 section 6 lets a client
    /// take the highest FETCH MODSEQ seen since the last tagged response, but a server may
    /// hold expunges back during FETCH, STORE and SEARCH (RFC 3501 7.4.1) while it reports
    /// other clients' flag changes with higher MODSEQs; storing those would make the next
    /// QRESYNC skip the held-back expunges for ever. So a code the server gave wins (even a
    /// lower one: Dovecot lowers it on purpose), and FETCH MODSEQs are stored only at the
    /// completion of a command in which the server reports what it held back. A stored
    /// value that lags only makes the next resync re-send a few changes.
    ///
    /// While a plain SELECT's kept records are unproven ([`Session::holding_modseq`]), no
    /// value above the one from before the SELECT is stored; a flag catch-up's OK ends that.
    fn modseq_rule(
        &mut self,
        tx: &mut Transaction<'_>,
        tag: &str,
        status: Completion,
    ) -> Result<()> {
        let releases = match self.releasing.iter().position(|t| t == tag) {
            Some(i) => {
                self.releasing.swap_remove(i);
                status == Completion::Ok
            }
            None => false,
        };
        if let Some(i) = self.catch_ups.iter().position(|c| c.tag == tag) {
            let c = self.catch_ups.swap_remove(i);
            if let Some(hold) = self.hold {
                let from_cap = c.since.unwrap_or(0) <= hold.cap.unwrap_or(0);
                if status == Completion::Ok && c.epoch == self.epoch && from_cap {
                    self.flags_caught_up(tx)?;
                }
            }
        }
        match self.modseq_code.take() {
            Some(value) => {
                let value = match (value, self.hold) {
                    (Some(v), Some(Hold { cap })) => cap.map(|c| v.min(c)),
                    (value, _) => value,
                };
                tx.set_highestmodseq(value)?;
                self.pending_modseq = None;
            }
            None if releases && self.hold.is_some() => {
                // Released, but not stored: the kept records may still be older.
                self.pending_modseq = None;
            }
            None if releases => {
                if let Some(m) = self.pending_modseq.take() {
                    if tx.view().highestmodseq().is_none_or(|s| m > s) {
                        tx.set_highestmodseq(Some(m))?;
                    }
                }
            }
            None => {}
        }
        Ok(())
    }

    fn complete_search(
        &mut self,
        tx: &mut Transaction<'_>,
        tag: &str,
        status: Completion,
    ) -> Result<(), LineError> {
        let Some(i) = self.searches.iter().position(|s| s.tag == tag) else {
            return Ok(());
        };
        let s = self.searches.remove(i);
        let Some(answer) = s.answer else {
            return Ok(());
        };
        if status != Completion::Ok || s.tainted {
            return Ok(());
        }
        let at = |source| LineError {
            line: answer.pos,
            source,
        };
        let count = answer.count_at;
        let resolve = |n: SeqNum| match n {
            SeqNum::Value(v) => v,
            SeqNum::Star => count,
        };
        let (a, b) = (resolve(s.range.0), resolve(s.range.1));
        let (lo, hi) = (a.min(b), a.max(b));
        let expected = if lo == 0 || lo > count {
            0
        } else {
            u64::from(hi.min(count) - lo) + 1
        };
        // A count that does not fit the range means an expunge the server has not reported
        // yet: Cyrus leaves a message it holds back as expunged out of UID SEARCH answers
        // (RFC 3501 7.4.1 lets it hold the EXPUNGE back). The answer's positions are then
        // unknowable, as after an EXPUNGE during the search; it is not learned, and asked
        // again after the server has reported what it held back.
        if seqset::count(&answer.uids) != expected {
            return Ok(());
        }
        if expected == 0 {
            return Ok(());
        }
        // The answer stays ranges; it is expanded a chunk at a time, so that a 10M-UID
        // answer costs the memory of one chunk, not of every UID at once.
        let mut seq = lo;
        let mut chunk = Vec::with_capacity(LEARN_CHUNK);
        for uid in answer.uids.iter().flat_map(|&(a, b)| a..=b) {
            chunk.push(uid);
            if chunk.len() == LEARN_CHUNK {
                tx.learn_range(seq, &chunk)
                    .map_err(|e| at(Error::from_learn(e)))?;
                seq += LEARN_CHUNK as u32;
                chunk.clear();
            }
        }
        tx.learn_range(seq, &chunk)
            .map_err(|e| at(Error::from_learn(e)))
    }
}
