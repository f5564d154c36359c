//! Reads of a mailbox state: the same code serves a [`crate::Cache`] and an open
//! [`crate::Transaction`].

use std::ops::{RangeBounds, RangeInclusive};

use uidcache_format::{Record, FLAGS_UNKNOWN, MODSEQ_UNKNOWN};

use crate::blocks::WithPending;
use crate::error::Result;
use crate::flags::FlagSetId;
use crate::iter::{ChangedSince, Messages};
use crate::slice::Slice;
use crate::state::{Meta, State};

/// One message as the cache knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Message {
    /// The UID.
    pub uid: u32,
    /// The flag set, or `None` when FLAGS were never learned.
    pub flags: Option<FlagSetId>,
    /// The MODSEQ, or `None` when it was never learned.
    pub modseq: Option<u64>,
}

/// Where a UID stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UidPosition {
    /// At this sequence number.
    Placed(u32),
    /// Not known, but if the message exists it is at one of these sequence numbers.
    InHole {
        /// First sequence number of the hole.
        first: u32,
        /// Last sequence number of the hole.
        last: u32,
    },
    /// Known as an unplaced record; it may also lie in a hole, see `hole`.
    Unplaced {
        /// The hole it must lie in if it exists, as for [`UidPosition::InHole`].
        hole: Option<(u32, u32)>,
    },
    /// Placed knowledge proves no message with this UID exists.
    Absent,
}

/// A maximal run of known or unknown sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Every sequence number in the range has a record.
    Known(u32, u32),
    /// No sequence number in the range has a record.
    Hole(u32, u32),
}

/// Read access to a mailbox state.
pub struct View<'a> {
    pub(crate) state: &'a State,
    pub(crate) src: WithPending<'a>,
}

impl std::fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("uidvalidity", &self.uidvalidity())
            .field("uidnext", &self.uidnext())
            .field("highestmodseq", &self.highestmodseq())
            .field("exists", &self.exists())
            .finish_non_exhaustive()
    }
}

#[inline(always)]
pub(crate) fn message_of(record: &Record, overlay: Option<&Meta>) -> Message {
    let base = Meta::of(record);
    let meta = overlay.map_or(base, |o| o.over(base));
    Message {
        uid: record.uid.get(),
        flags: (meta.flags != FLAGS_UNKNOWN).then_some(FlagSetId(meta.flags)),
        modseq: (meta.modseq != MODSEQ_UNKNOWN).then_some(meta.modseq),
    }
}

/// `View::message_at` when the read index cannot answer alone: a bucket that straddles
/// slices, an overlay to consult, a first read of a block, a hole, damage. The view's parts
/// are passed one by one, so that the inlined fast path never has to build a `View` in
/// memory.
#[inline(never)]
fn message_at_slow(
    state: &State,
    store: &crate::blocks::BlockStore,
    pending: &[(u64, Vec<Record>)],
    seq: u32,
) -> Result<Option<Message>> {
    if let Some(r) = state.placed.built_index().and_then(|x| x.record_at(seq)) {
        return Ok(Some(message_of(r, overlay_of(state, r))));
    }
    let src = WithPending { store, pending };
    Ok(state
        .block_record_at(seq, &src)?
        .map(|r| message_of(&r, overlay_of(state, &r))))
}

/// The overlay entry of `record`'s UID, if any (none at all is the common case).
#[inline(always)]
fn overlay_of<'s>(state: &'s State, record: &Record) -> Option<&'s Meta> {
    if state.overlay.is_empty() {
        None
    } else {
        state.overlay.get(&record.uid.get())
    }
}

impl<'a> View<'a> {
    /// UIDVALIDITY, if known.
    pub fn uidvalidity(&self) -> Option<u32> {
        self.state.header.uidvalidity
    }

    /// UIDNEXT, if known.
    pub fn uidnext(&self) -> Option<u32> {
        self.state.header.uidnext
    }

    /// HIGHESTMODSEQ, if known.
    pub fn highestmodseq(&self) -> Option<u64> {
        self.state.header.highestmodseq
    }

    /// The message count (EXISTS), if known.
    pub fn exists(&self) -> Option<u32> {
        self.state.header.exists
    }

    /// How many records the cache holds, placed and unplaced.
    pub fn record_count(&self) -> u64 {
        self.state.record_count()
    }

    /// How many records the cache holds unplaced (kept by UID without a position).
    pub fn unplaced_count(&self) -> u64 {
        self.state.unplaced.iter().map(|s| u64::from(s.len)).sum()
    }

    #[inline(always)]
    pub(crate) fn message(&self, record: &Record) -> Message {
        message_of(record, overlay_of(self.state, record))
    }

    /// The message at `seq`, or `None` when that sequence number is unknown (or out of range).
    // The read index's answer (`peek_message_at`) is inlined into callers, also across
    // crates: a dozen instructions, no stores and no call, so that a loop of lookups
    // overlaps many cache misses. Everything else is out of line.
    #[inline(always)]
    pub fn message_at(&self, seq: u32) -> Result<Option<Message>> {
        match self.peek_message_at(seq) {
            Some(m) => Ok(Some(m)),
            None => message_at_slow(self.state, self.src.store, self.src.pending, seq),
        }
    }

    /// The message at `seq` if this handle can answer from memory at once: when a read
    /// before this one already mapped the record's block and no flag change waits in the
    /// overlay. `None` means "ask [`View::message_at`]", which is the complete answer (it
    /// may be `Some` there). Never fails, never opens or reads a file, never makes a system
    /// call (a mapped page that the kernel evicted is still read back from the disk on
    /// touch, as for any mapping).
    ///
    /// For loops of many lookups: try this first and call `message_at` only on `None`, from
    /// a separate function. That keeps the common path free of the stack frame that
    /// `message_at`'s large `Result` needs (measured in BENCHMARKS.md, "seq→record").
    #[inline(always)]
    pub fn peek_message_at(&self, seq: u32) -> Option<Message> {
        if !self.state.overlay.is_empty() {
            return None;
        }
        let record = self.state.placed.built_index()?.bucket_record(seq)?;
        Some(message_of(record, None))
    }

    /// Where `uid` stands.
    pub fn position_of_uid(&self, uid: u32) -> Result<UidPosition> {
        // Reads build the read index, which `seq_of_uid` then uses.
        self.state.placed.index();
        self.position_of_uid_unindexed(uid)
    }

    /// [`View::position_of_uid`] without building the read index: for a transaction, whose
    /// next change would drop the index again (building it costs O(slices) each time).
    pub(crate) fn position_of_uid_unindexed(&self, uid: u32) -> Result<UidPosition> {
        // One search of the slices' UID extents serves the placed answer and the hole.
        let at = self.state.placed_slice_of_uid(uid);
        if let Ok(i) = at {
            if let Some(seq) = self.state.seq_of_uid_in(i, uid, &self.src)? {
                return Ok(UidPosition::Placed(seq));
            }
        }
        let hole = self.state.hole_below(at);
        if self.state.unplaced_record(uid, &self.src)?.is_some() {
            return Ok(UidPosition::Unplaced { hole });
        }
        Ok(match hole {
            Some((first, last)) => UidPosition::InHole { first, last },
            None => UidPosition::Absent,
        })
    }

    /// The unplaced record with `uid`.
    pub fn unplaced_message(&self, uid: u32) -> Result<Option<Message>> {
        Ok(self
            .state
            .unplaced_record(uid, &self.src)?
            .map(|r| self.message(&r)))
    }

    /// Known runs and holes covering `1..=exists`, in order.
    pub fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut next = 1u32;
        for s in self.state.placed.iter() {
            if s.seq > next {
                out.push(Segment::Hole(next, s.seq - 1));
            }
            match out.last_mut() {
                Some(Segment::Known(_, last)) if *last + 1 == s.seq => *last = s.seq_end(),
                _ => out.push(Segment::Known(s.seq, s.seq_end())),
            }
            next = s.seq_end() + 1;
        }
        if next <= self.state.exists() {
            out.push(Segment::Hole(next, self.state.exists()));
        }
        out
    }

    fn each(&self, slices: &[Slice], f: &mut dyn FnMut(u32, Message)) -> Result<()> {
        for s in slices {
            let view = s.view(&self.src)?;
            crate::walked::add(view.records().len());
            for (k, r) in view.records().iter().enumerate() {
                f(
                    if s.seq == 0 { 0 } else { s.seq + k as u32 },
                    self.message(r),
                );
            }
        }
        Ok(())
    }

    /// Every placed message with its sequence number, ascending.
    pub fn placed_messages(&self) -> Result<Vec<(u32, Message)>> {
        let mut out = Vec::new();
        self.each(&self.state.placed, &mut |seq, m| out.push((seq, m)))?;
        Ok(out)
    }

    /// Every unplaced message, ascending by UID.
    pub fn unplaced_messages(&self) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        self.each(&self.state.unplaced, &mut |_, m| out.push(m))?;
        Ok(out)
    }

    /// The messages whose MODSEQ is known and above `modseq`, as a stream: `(Some(seq), _)`
    /// for placed ones (ascending), then `(None, _)` for unplaced ones (ascending by UID).
    pub fn changed_since(&self, modseq: u64) -> ChangedSince<'_> {
        ChangedSince::new(self, modseq)
    }

    /// The known messages with sequence numbers in `range` (`1..=50`, `..`, ...), ascending,
    /// as a stream of `(seq, message)`: the rows of a message-list page. Unknown positions
    /// are skipped ([`View::fetch_plan`] says what to fetch for them). Reads each block's
    /// records in place: no allocation per row.
    pub fn range(&self, range: impl RangeBounds<u32>) -> Messages<'_> {
        Messages::new(self, range)
    }

    /// Every known (placed) message, ascending by sequence number: [`View::range`] over
    /// the whole mailbox.
    pub fn messages(&self) -> Messages<'_> {
        Messages::new(self, ..)
    }

    /// The flag names of a flag set, sorted by bytes.
    pub fn flag_names(&self, id: FlagSetId) -> Option<Vec<&'a [u8]>> {
        self.state.flags.names(id)
    }

    /// Whether `message` has the flag `name`: `None` when its FLAGS were never learned.
    ///
    /// Names compare ASCII-case-insensitively, for system flags (`\SEEN` is `\Seen`: the
    /// IMAP grammar, RFC 3501 section 9 and RFC 9051 section 9, makes every alphabetic
    /// character case-insensitive unless noted) and for keywords alike (they are atoms of
    /// the same grammar, and the servers in use, Dovecot and Cyrus among them, match them
    /// so). The cache stores names as the server sent them.
    pub fn has_flag(&self, message: &Message, name: &[u8]) -> Option<bool> {
        let id = message.flags?;
        Some(self.state.flags.has_name(id, name))
    }

    /// The range a client should fetch next to learn `seq`: at most `max` sequence numbers,
    /// aligned to multiples of `max` so that clients walking a mailbox ask for the same
    /// blocks, and never overlapping what is known. `None` when `seq` is known or out of range.
    pub fn fetch_plan(&self, seq: u32, max: u32) -> Option<RangeInclusive<u32>> {
        let max = max.max(1);
        if seq == 0 || seq > self.state.exists() || self.state.placed_find(seq).is_ok() {
            return None;
        }
        let i = self.state.placed_find(seq).err()?;
        let hole_lo = i
            .checked_sub(1)
            .and_then(|p| self.state.placed.get(p))
            .map_or(1, |s| s.seq_end() + 1);
        let hole_hi = self
            .state
            .placed
            .get(i)
            .map_or(self.state.exists(), |s| s.seq - 1);
        let aligned = (seq - 1) / max * max + 1;
        let lo = aligned.max(hole_lo);
        let hi = aligned.saturating_add(max - 1).min(hole_hi);
        Some(lo..=hi)
    }
}
