//! Transactions: a group of changes that commits atomically as one journal frame.

use std::ops::RangeInclusive;

use uidcache_format::{HeaderField, Op, Record, FLAGS_UNKNOWN, MODSEQ_UNKNOWN};

use crate::blocks::{RecordSource, WithPending};
use crate::cache::Cache;
use crate::error::{Error, ErrorKind, InvalidOp, Result};
use crate::options::Durability;
use crate::pending::Pending;
use crate::remove::Removed;
use crate::slice::uids_leave_room;
use crate::state::{Meta, State};
use crate::view::{UidPosition, View};

/// Commits that learn at most this many new records keep them in the journal frame
/// (4 KiB of records) rather than in a new block file.
pub const INLINE_RECORDS: usize = 256;

/// The most messages a cache holds (2^28): [`Transaction::set_exists`] refuses a larger
/// count. The format's 32-bit sequence numbers would allow 2^32 - 2, but a cache that size
/// is 64 GiB of records in two million block files; 2^28 is 4 GiB in 131,072 files, and
/// still far above the largest mailboxes servers hold. A hostile or broken server's count
/// then costs an error, not the disk or the memory it claims.
pub const MAX_MESSAGES: u32 = 1 << 28;

/// What [`Transaction::remove_uid`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The record at this sequence number; later ones shifted down.
    Placed(u32),
    /// Nothing known, but the UID had to lie in the hole at this sequence number, which
    /// shrank by one (and an unplaced record with that UID, if any, was dropped).
    Hole(u32),
    /// An unplaced record, which no hole can hold; the count is unchanged.
    Unplaced,
    /// Nothing: placed knowledge proves the UID is not in the mailbox.
    Absent,
}

/// Flags and MODSEQ to learn or set; `None` leaves the stored value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Update<'f> {
    /// The complete FLAGS of the message (bytes as received; `\Recent` is dropped).
    pub flags: Option<&'f [&'f [u8]]>,
    /// The MODSEQ.
    pub modseq: Option<u64>,
}

/// Changes to a [`Cache`] that become visible to other handles, and durable, at
/// [`Transaction::commit`]. Dropping a transaction without committing discards it.
///
/// Every method either makes its whole change or, returning an error, none of it. An I/O
/// error while reading blocks breaks the transaction: later calls and `commit` fail.
#[must_use = "a transaction is discarded when dropped: call `commit`"]
pub struct Transaction<'c> {
    cache: &'c mut Cache,
    ops: Vec<Op>,
    pending: Pending,
    broken: bool,
    done: bool,
}

impl Cache {
    /// Starts a transaction. Fails on a read-only or poisoned handle.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        self.writable()?;
        self.begin_leaving_clean().map_err(|e| self.poison(e))?;
        Ok(Transaction {
            cache: self,
            ops: Vec::new(),
            pending: Pending::default(),
            broken: false,
            done: false,
        })
    }
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("ops", &self.ops.len())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done && (!self.ops.is_empty() || self.broken) {
            // The state was changed in place; the files still hold the last commit.
            if let Err(e) = self.cache.refresh() {
                drop(self.cache.poison(e));
            }
            self.pending.discard(self.cache);
        }
    }
}

impl<'c> Transaction<'c> {
    /// Number of records, placed and unplaced, as the transaction stands.
    pub(crate) fn record_count(&self) -> u64 {
        self.cache.state.record_count()
    }

    /// Reads of the state as this transaction has changed it so far.
    pub fn view(&self) -> View<'_> {
        View {
            state: &self.cache.state,
            src: WithPending {
                store: &self.cache.store,
                pending: &self.pending.blocks,
            },
        }
    }

    fn push(&mut self, op: Op) -> Result<()> {
        self.push_applied(op, |state, op, src| state.apply(op, src))
    }

    /// [`Transaction::push`] with `apply` in place of `State::apply`: for a caller that has
    /// already looked up what the op will touch, and whose `apply` has the same effect as
    /// `State::apply(op)` on the current state (the journal records `op`, and a replay
    /// applies it the ordinary way).
    fn push_applied(
        &mut self,
        op: Op,
        apply: impl FnOnce(&mut State, &Op, &dyn RecordSource) -> Result<()>,
    ) -> Result<()> {
        if self.broken {
            return Err(ErrorKind::Poisoned.into());
        }
        let src = WithPending {
            store: &self.cache.store,
            pending: &self.pending.blocks,
        };
        let unplaced_before = match self.cache.tracker.as_mut() {
            Some(t) => t.before(&self.cache.state, &op, &src)?,
            None => None,
        };
        match apply(&mut self.cache.state, &op, &src) {
            Ok(()) => {
                self.ops.push(op);
                if let (Some(t), Some(before)) = (self.cache.tracker.as_mut(), unplaced_before) {
                    // The op is applied: a failed read here leaves the count unknown, and
                    // the transaction with it.
                    if let Err(e) = t.after(&self.cache.state, &before, &src) {
                        self.broken = true;
                        return Err(e);
                    }
                }
                Ok(())
            }
            Err(e) if e.invalid_op().is_some() => Err(e),
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    /// Whether a record with `uid` is known, placed or unplaced.
    fn knows_uid(&self, uid: u32) -> Result<bool> {
        let v = self.view();
        Ok(v.state.seq_of_uid(uid, &v.src)?.is_some()
            || v.state.unplaced_record(uid, &v.src)?.is_some())
    }

    fn check_open(&self) -> Result<()> {
        if self.broken {
            return Err(ErrorKind::Poisoned.into());
        }
        Ok(())
    }

    /// Sets or forgets UIDVALIDITY. Changing it does not drop records: call
    /// [`Transaction::clear`] first when the server's UIDVALIDITY differs.
    pub fn set_uidvalidity(&mut self, value: Option<u32>) -> Result<()> {
        self.push(Op::SetHeader {
            field: HeaderField::UidValidity,
            value: value.map(u64::from),
        })
    }

    /// Sets or forgets UIDNEXT.
    pub fn set_uidnext(&mut self, value: Option<u32>) -> Result<()> {
        self.push(Op::SetHeader {
            field: HeaderField::UidNext,
            value: value.map(u64::from),
        })
    }

    /// Sets or forgets HIGHESTMODSEQ. Set it in the same transaction as (or after) the
    /// record changes it covers: a commit is atomic, so it is never persisted ahead of them.
    pub fn set_highestmodseq(&mut self, value: Option<u64>) -> Result<()> {
        self.push(Op::SetHeader {
            field: HeaderField::HighestModseq,
            value,
        })
    }

    /// Sets the message count. Growing adds unknown messages at the end; shrinking is only
    /// allowed over trailing unknown messages. A count above [`MAX_MESSAGES`] is refused
    /// ([`InvalidOp::TooManyMessages`]).
    pub fn set_exists(&mut self, count: u32) -> Result<()> {
        if count > MAX_MESSAGES {
            return Err(InvalidOp::TooManyMessages { count }.into());
        }
        self.push(Op::SetExists { count })
    }

    /// Forgets everything: header, records, unplaced records (a UIDVALIDITY change).
    pub fn clear(&mut self) -> Result<()> {
        self.push(Op::Clear)
    }

    /// Learns that sequence numbers `seq..seq + uids.len()` hold `uids` (the answer to
    /// `UID SEARCH seq:...`). Positions already known must agree.
    pub fn learn_range(&mut self, seq: u32, uids: &[u32]) -> Result<()> {
        let entries: Vec<(u32, Update<'_>)> =
            uids.iter().map(|u| (*u, Update::default())).collect();
        self.learn_many(seq, &entries)
    }

    /// Learns one message: `seq` holds `uid`, with flags and MODSEQ when given.
    pub fn learn(&mut self, seq: u32, uid: u32, update: Update<'_>) -> Result<()> {
        self.learn_many(seq, &[(uid, update)])
    }

    /// Learns consecutive messages from `seq` on, each with its own flags and MODSEQ.
    pub fn learn_many(&mut self, seq: u32, entries: &[(u32, Update<'_>)]) -> Result<()> {
        self.check_open()?;
        let Some(last) = entries.len().checked_sub(1) else {
            return Ok(());
        };
        let exists = self.cache.state.exists();
        let end = u64::from(seq) + last as u64;
        if seq == 0 || end > u64::from(exists) {
            return Err(InvalidOp::SeqOutOfRange {
                seq: end.max(u64::from(seq)),
                exists,
            }
            .into());
        }
        let mut prev_uid = 0;
        for (k, (uid, _)) in entries.iter().enumerate() {
            let s = seq + k as u32;
            if *uid == 0 {
                return Err(InvalidOp::ZeroUid { seq: s }.into());
            }
            if *uid <= prev_uid {
                return Err(InvalidOp::UidOrder {
                    seq: s,
                    uid: *uid,
                    neighbour_seq: s - 1,
                    neighbour_uid: prev_uid,
                }
                .into());
            }
            prev_uid = *uid;
        }
        // Which positions are new, and do the known ones agree?
        let mut known = Vec::with_capacity(entries.len());
        let v = self.view();
        for (k, (uid, _)) in entries.iter().enumerate() {
            let s = seq + k as u32;
            let have = v.state.uid_at(s, &v.src)?;
            if let Some(have) = have {
                if have != *uid {
                    return Err(InvalidOp::Conflict {
                        seq: s,
                        known: have,
                        given: *uid,
                    }
                    .into());
                }
            }
            known.push(have.is_some());
        }
        self.check_neighbours(seq, entries)?;
        // Resolve flag sets first so that the records can name them.
        let mut metas = Vec::with_capacity(entries.len());
        for (_, update) in entries {
            let flags = match update.flags {
                Some(names) => self.intern(names)?,
                None => FLAGS_UNKNOWN,
            };
            metas.push(Meta {
                flags,
                modseq: update.modseq.unwrap_or(MODSEQ_UNKNOWN),
            });
        }
        let mut run: Vec<Record> = Vec::new();
        let mut run_seq = seq;
        for (k, ((uid, _), meta)) in entries.iter().zip(&metas).enumerate() {
            let s = seq + k as u32;
            if known.get(k).copied().unwrap_or(false) {
                self.flush_run(run_seq, &mut run)?;
                if *meta
                    != (Meta {
                        flags: FLAGS_UNKNOWN,
                        modseq: MODSEQ_UNKNOWN,
                    })
                {
                    self.set_meta(*uid, *meta)?;
                }
                continue;
            }
            if run.is_empty() {
                run_seq = s;
            }
            // An unplaced record is placed again with what is known of it; an overlay entry
            // of a UID that is not unplaced is stale (its record was dropped) and ignored.
            let v = self.view();
            let base = match v.state.unplaced_record(*uid, &v.src)? {
                Some(r) => v
                    .state
                    .overlay
                    .get(uid)
                    .map_or(Meta::of(&r), |o| o.over(Meta::of(&r))),
                None => Meta {
                    flags: FLAGS_UNKNOWN,
                    modseq: MODSEQ_UNKNOWN,
                },
            };
            let meta = meta.over(base);
            run.push(Record::new(*uid, meta.flags, meta.modseq));
        }
        self.flush_run(run_seq, &mut run)
    }

    /// Refuses UIDs that leave no room for the sequence numbers between them and their
    /// known neighbours, before anything changes.
    fn check_neighbours(&self, seq: u32, entries: &[(u32, Update<'_>)]) -> Result<()> {
        let state = &self.cache.state;
        let end = seq + entries.len() as u32 - 1;
        let (Some((first, _)), Some((last, _))) = (entries.first(), entries.last()) else {
            return Ok(());
        };
        let before = state.placed.partition_point(|s| s.seq_end() < seq);
        if let Some(p) = before.checked_sub(1).and_then(|i| state.placed.get(i)) {
            if !uids_leave_room((p.seq_end(), p.last_uid), (seq, *first)) {
                return Err(InvalidOp::UidOrder {
                    seq,
                    uid: *first,
                    neighbour_seq: p.seq_end(),
                    neighbour_uid: p.last_uid,
                }
                .into());
            }
        }
        let after = state.placed.partition_point(|s| s.seq <= end);
        if let Some(n) = state.placed.get(after) {
            if !uids_leave_room((end, *last), (n.seq, n.first_uid)) {
                return Err(InvalidOp::UidOrder {
                    seq: end,
                    uid: *last,
                    neighbour_seq: n.seq,
                    neighbour_uid: n.first_uid,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Writes `run` into pending blocks and places it at `seq`.
    fn flush_run(&mut self, seq: u32, run: &mut Vec<Record>) -> Result<()> {
        let mut seq = seq;
        let mut rest: &[Record] = run;
        while !rest.is_empty() {
            let room = match self.pending.block_with_room(self.cache) {
                Ok(room) => room,
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            };
            let (now, later) = rest.split_at(room.min(rest.len()));
            let Some((id, block)) = self.pending.blocks.last_mut() else {
                break;
            };
            let first_record = block.len() as u32;
            block.extend_from_slice(now);
            let op = Op::Learn {
                seq,
                block_id: *id,
                first_record,
                len: now.len() as u32,
                first_uid: now.first().map_or(0, |r| r.uid.get()),
                last_uid: now.last().map_or(0, |r| r.uid.get()),
            };
            if let Err(e) = self.push(op) {
                self.broken = true;
                return Err(e);
            }
            seq += now.len() as u32;
            rest = later;
        }
        run.clear();
        Ok(())
    }

    fn intern(&mut self, names: &[&[u8]]) -> Result<u32> {
        let (id, defs) = self.cache.state.flags.lookup_or_plan(names)?;
        for op in defs {
            self.push(op)?;
        }
        Ok(id)
    }

    fn set_meta(&mut self, uid: u32, meta: Meta) -> Result<()> {
        let merged = self
            .cache
            .state
            .overlay
            .get(&uid)
            .map_or(meta, |o| meta.over(*o));
        self.push(Op::SetMeta {
            uid,
            flags: merged.flags,
            modseq: merged.modseq,
        })
    }

    /// Changes the flags and/or MODSEQ of the message at `seq`, which must be known.
    pub fn update_seq(&mut self, seq: u32, update: Update<'_>) -> Result<()> {
        self.check_open()?;
        let v = self.view();
        let uid = v.state.uid_at(seq, &v.src)?;
        let uid = uid.ok_or(InvalidOp::UnknownSeq { seq })?;
        self.update_known(uid, update)
    }

    /// Changes the flags and/or MODSEQ of the message with `uid`, placed or unplaced.
    pub fn update_uid(&mut self, uid: u32, update: Update<'_>) -> Result<()> {
        self.check_open()?;
        let present = self.knows_uid(uid)?;
        if !present {
            return Err(InvalidOp::UnknownUid { uid }.into());
        }
        self.update_known(uid, update)
    }

    fn update_known(&mut self, uid: u32, update: Update<'_>) -> Result<()> {
        let flags = match update.flags {
            Some(names) => self.intern(names)?,
            None => FLAGS_UNKNOWN,
        };
        let meta = Meta {
            flags,
            modseq: update.modseq.unwrap_or(MODSEQ_UNKNOWN),
        };
        if meta
            == (Meta {
                flags: FLAGS_UNKNOWN,
                modseq: MODSEQ_UNKNOWN,
            })
        {
            return Ok(());
        }
        self.set_meta(uid, meta)
    }

    /// Removes sequence number `seq` (EXPUNGE); later messages shift down by one.
    pub fn expunge(&mut self, seq: u32) -> Result<()> {
        self.push(Op::Expunge { seq })
    }

    /// Removes the message with `uid` (VANISHED): see [`Removal`] for the cases. The case is
    /// decided against the state as it is now: for a set of UIDs (a whole VANISHED
    /// response) use [`Transaction::remove_uids`], which decides them all before removing any.
    pub fn remove_uid(&mut self, uid: u32) -> Result<Removal> {
        self.check_open()?;
        if uid == 0 {
            return Ok(Removal::Absent);
        }
        let v = self.view();
        let removal = if let Some(seq) = v.state.seq_of_uid(uid, &v.src)? {
            Removal::Placed(seq)
        } else if let Some((hole, _)) = v.state.hole_for_uid(uid) {
            Removal::Hole(hole)
        } else if v.state.unplaced_record(uid, &v.src)?.is_some() {
            Removal::Unplaced
        } else {
            Removal::Absent
        };
        match removal {
            Removal::Absent => {}
            // `State::apply` of this op would look the UID up again (a block read and a
            // binary search) to find the same sequence number: a VANISHED set after a
            // reopen spends most of its time on lookups.
            Removal::Placed(seq) => self.remove_placed(uid, seq)?,
            _ => self.push(Op::RemoveUid { uid })?,
        }
        Ok(removal)
    }

    /// [`Transaction::remove_uid`] of `uid`, which the caller has just found placed at `seq`:
    /// `State::apply` of `RemoveUid` expunges the UID's position, which is `seq`.
    pub(crate) fn remove_placed(&mut self, uid: u32, seq: u32) -> Result<()> {
        self.check_open()?;
        self.push_applied(Op::RemoveUid { uid }, |state, _, src| {
            state.expunge(seq, src)
        })
    }

    /// Applies a removal plan (`removal_plan.rs`) found in this transaction's state: its
    /// steps one op each, highest sequence number first, or, for a large plan, all of them
    /// in one pass ([`State::apply_plan`]) with the same ops journaled for a replay.
    pub(crate) fn apply_plan(&mut self, plan: &crate::removal_plan::Plan) -> Result<()> {
        use crate::removal_plan::Step;
        self.check_open()?;
        if !plan.one_pass {
            for step in plan.steps() {
                match step {
                    Step::Record(h) => self.remove_placed(h.uid, h.seq)?,
                    Step::Hole(t) if t.trailing => {
                        let count = self.cache.state.exists().saturating_sub(t.count);
                        self.set_exists(count)?;
                    }
                    Step::Hole(t) => {
                        for _ in 0..t.count {
                            self.expunge(t.first_seq)?;
                        }
                    }
                }
            }
            return Ok(());
        }
        if self.broken {
            return Err(ErrorKind::Poisoned.into());
        }
        let src = WithPending {
            store: &self.cache.store,
            pending: &self.pending.blocks,
        };
        let mut exists = self.cache.state.exists();
        let result = (|| {
            if let Some(t) = self.cache.tracker.as_mut() {
                // No unplaced records (the plan's precondition): nothing for `after`. The
                // records the plan read are remembered as they are; only a dense slice's
                // are looked up.
                for h in &plan.hits {
                    match &h.record {
                        Some(r) => t.remember_record(&self.cache.state, r),
                        None => {
                            t.before(&self.cache.state, &Op::RemoveUid { uid: h.uid }, &src)?;
                        }
                    }
                }
            }
            self.cache.state.apply_plan(plan)
        })();
        if let Err(e) = result {
            self.broken = true;
            return Err(e);
        }
        for step in plan.steps() {
            match step {
                Step::Record(h) => {
                    self.ops.push(Op::RemoveUid { uid: h.uid });
                    exists -= 1;
                }
                Step::Hole(t) if t.trailing => {
                    exists -= t.count;
                    self.ops.push(Op::SetExists { count: exists });
                }
                Step::Hole(t) => {
                    exists -= t.count;
                    self.ops.extend(std::iter::repeat_n(
                        Op::Expunge { seq: t.first_seq },
                        t.count as usize,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Removes every message whose UID lies in one of `ranges` (an unsolicited `VANISHED`),
    /// with the cases of [`Removal`]: placed records go and later messages shift down; an
    /// unknown UID that must lie in a hole takes one of its positions (a hole gives at most
    /// its size); unplaced records go. UIDs the cache proves absent are skipped.
    ///
    /// The cost grows with the number of ranges and the records they meet, not with their
    /// width: `1..=4294967295` over ten records is ten removals (plus one op for a hole at
    /// the end of the mailbox). A hole inside the mailbox shrinks one op per position, at
    /// most [`crate::MAX_HOLE_REMOVALS`] per call
    /// ([`InvalidOp::TooManyHoleRemovals`] beyond).
    ///
    /// Every UID is decided against the state before the set (FORMAT.md 6.2, "A set of
    /// UIDs"): a UID between two records of a slice is absent even once they are removed,
    /// so the order of the ranges does not matter. Use it, not a loop of
    /// [`Transaction::remove_uid`], for a `VANISHED` response: a removal changes what the
    /// next single removal can prove. A large set is applied in one pass over the slices,
    /// its blocks read once each, by a few threads when there are many.
    ///
    /// An error leaves part of the ranges removed, so it breaks the transaction: drop it.
    pub fn remove_uids(&mut self, ranges: &[RangeInclusive<u32>]) -> Result<Removed> {
        self.check_open()?;
        let result = crate::remove::remove_uids(self, ranges);
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Where `uid` stands in the state this transaction has built so far: what
    /// `self.view().position_of_uid(uid)` says, without building the read index that the
    /// next change drops (so that a loop of lookups and removals stays O(log n) each).
    pub fn position_of_uid(&self, uid: u32) -> Result<UidPosition> {
        self.view().position_of_uid_unindexed(uid)
    }

    /// The lowest placed UID above `uid`, in the state this transaction has built so far.
    pub fn placed_uid_above(&self, uid: u32) -> Result<Option<u32>> {
        let v = self.view();
        v.state.placed_uid_above(uid, &v.src)
    }

    /// Forgets the record with `uid` without changing the count: a placed record's
    /// position becomes unknown. Returns whether there was such a record.
    pub fn forget_uid(&mut self, uid: u32) -> Result<bool> {
        self.check_open()?;
        let present = self.knows_uid(uid)?;
        if present {
            self.push(Op::ForgetUid { uid })?;
        }
        Ok(present)
    }

    /// Moves the records of `first..=last` to the unplaced set: UID, flags and MODSEQ stay
    /// known, the positions become unknown. They are placed again when a later
    /// [`Transaction::learn`] names their UID, and dropped when placed knowledge rules them out.
    pub fn unplace(&mut self, first: u32, last: u32) -> Result<()> {
        self.push(Op::Unplace {
            first_seq: first,
            last_seq: last,
        })
    }

    /// Commits with the handle's durability (durable unless opened otherwise).
    pub fn commit(self) -> Result<()> {
        let durability = self.cache.options.durability;
        self.commit_with(durability)
    }

    /// Commits: publishes new blocks, appends one journal frame, and with
    /// [`Durability::Durable`] returns after both are on stable storage.
    pub fn commit_with(mut self, durability: Durability) -> Result<()> {
        self.check_open()?;
        self.done = true;
        let durable = durability == Durability::Durable;
        if self.ops.is_empty() {
            // Nothing new, but a durable commit still promises that all before it is durable.
            return if durable { self.cache.sync() } else { Ok(()) };
        }
        // What the commit changed, which sets what compaction it pays for.
        // Flag, header and flag-table ops fragment nothing (the overlay is not a step's
        // business, FORMAT.md 11.5), so they earn no compaction credit; a one-record
        // removal earns less than the others (see `STEP_CREDIT_PER_REMOVAL`).
        let mut change = crate::compact::Change {
            records: self.pending.records() as u64,
            ..Default::default()
        };
        for op in &self.ops {
            match op {
                Op::SetMeta { .. }
                | Op::SetHeader { .. }
                | Op::DefineAtom { .. }
                | Op::DefineFlagSet { .. } => {}
                Op::Expunge { .. } | Op::RemoveUid { .. } | Op::ForgetUid { .. } => {
                    change.removals += 1;
                }
                _ => change.ops += 1,
            }
        }
        let checkpoint = match self.publish(durable) {
            Ok(checkpoint) => checkpoint,
            Err(e) => return Err(self.cache.poison(e)),
        };
        self.cache.stats.commits += 1;
        match self.cache.after_commit(change, checkpoint, durable) {
            Ok(()) => Ok(()),
            // A durable commit followed by a checkpoint relies on its index, not on an
            // fsync of its own frame: without the checkpoint it may not be durable.
            Err(e) if checkpoint && durable => Err(self.cache.poison(e)),
            Err(e) => Err(self.cache.poison(ErrorKind::AfterCommit(e).into())),
        }
    }

    /// Writes the commit's blocks and frame; returns whether a checkpoint must follow
    /// ([`Cache::checkpoint_follows`]). A durable commit that a checkpoint follows writes
    /// them without fsync (its blocks go to the syncer, which the checkpoint waits for):
    /// the checkpoint's index makes it durable, for 3 fsyncs in all (FORMAT.md 7.1).
    fn publish(&mut self, durable: bool) -> Result<bool> {
        let cache = &mut *self.cache;
        // A small commit carries its new records in its frame: one fsync instead of three
        // (block, directory, journal). The syncer writes them out as a block file.
        let inline = self.pending.all_in_memory() && self.pending.records() <= INLINE_RECORDS;
        let mut payload = Vec::new();
        if inline {
            for (id, records) in &self.pending.blocks {
                Op::InlineBlock {
                    id: *id,
                    records: records.clone(),
                }
                .encode(&mut payload);
            }
        }
        for op in &self.ops {
            op.encode(&mut payload);
        }
        if payload.len() > uidcache_format::MAX_FRAME_PAYLOAD as usize {
            return Err(InvalidOp::TransactionTooLarge {
                bytes: payload.len(),
                limit: uidcache_format::MAX_FRAME_PAYLOAD,
            }
            .into());
        }
        let checkpoint = cache.checkpoint_follows(payload.len());
        let sync_now = durable && !checkpoint;
        if sync_now {
            // A durable frame makes every earlier frame durable too, so the blocks of
            // earlier no-sync commits must reach the disk first.
            cache.sync_unsynced_blocks()?;
        }
        if !inline {
            let spilled = self.pending.publish_spilled(cache, sync_now)?;
            for (id, records) in &self.pending.blocks {
                cache.write_block_file(*id, records, sync_now)?;
                if !sync_now {
                    cache.defer_block_sync(*id)?;
                }
            }
            if sync_now && (spilled || !self.pending.blocks.is_empty()) {
                cache
                    .fs
                    .sync_dir(&cache.dir.join(crate::dirfs::BLOCKS_DIR))?;
            }
        }
        let writer = cache
            .writer
            .as_mut()
            .ok_or_else(|| Error::from(ErrorKind::ReadOnly))?;
        writer.journal.append(&cache.fs, &payload, sync_now)?;
        if inline {
            for (id, records) in self.pending.blocks.drain(..) {
                let records = cache.store.register_inline(id, records);
                cache.write_inline_later(id, records);
            }
        }
        Ok(checkpoint)
    }
}
