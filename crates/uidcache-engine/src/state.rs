//! The mailbox state as the index describes it, and `apply`, the one function that changes
//! it. A transaction and journal replay both go through `apply`, so what a commit did and
//! what recovery redoes cannot differ.

use uidcache_format::{HeaderField, Op, Record, FLAGS_UNKNOWN, MODSEQ_UNKNOWN};

use crate::blocks::{BlockStore, IdSet, RecordSource};
use crate::error::{ErrorKind, InvalidOp, Invariant, Result};
use crate::flags::FlagTable;
use crate::overlay::Overlay;
use crate::placed::Placed;
use crate::slice::{uids_leave_room, Slice};
use crate::uid_search::position_within;

/// Header values; `None` is "not known".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) uidvalidity: Option<u32>,
    pub(crate) uidnext: Option<u32>,
    pub(crate) highestmodseq: Option<u64>,
    pub(crate) exists: Option<u32>,
}

/// Flags and MODSEQ that override a record's block copy; sentinel fields keep the block's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) flags: u32,
    pub(crate) modseq: u64,
}

impl Meta {
    /// `self` on top of `base`.
    pub(crate) fn over(self, base: Meta) -> Meta {
        Meta {
            flags: if self.flags == FLAGS_UNKNOWN {
                base.flags
            } else {
                self.flags
            },
            modseq: if self.modseq == MODSEQ_UNKNOWN {
                base.modseq
            } else {
                self.modseq
            },
        }
    }

    pub(crate) fn of(record: &Record) -> Meta {
        Meta {
            flags: record.flags.get(),
            modseq: record.modseq.get(),
        }
    }
}

/// The whole mailbox state except record bodies, which stay in block files.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub(crate) header: Header,
    /// Ascending, disjoint sequence ranges inside `1..=exists`; UIDs increase across them.
    /// Owns the read index of the slices, which any change to them drops.
    pub(crate) placed: Placed,
    /// Ascending, disjoint UID ranges.
    pub(crate) unplaced: Vec<Slice>,
    pub(crate) overlay: Overlay,
    pub(crate) flags: FlagTable,
    pub(crate) next_block_id: u64,
    /// The cache identity (`uidcache_format::NO_IDENTITY` for a format-v1 cache).
    pub(crate) cache_id: u64,
}

fn out_of_range(seq: u64, exists: u32) -> InvalidOp {
    InvalidOp::SeqOutOfRange { seq, exists }
}

impl State {
    pub(crate) fn exists(&self) -> u32 {
        self.header.exists.unwrap_or(0)
    }

    /// The blocks that placed or unplaced slices use.
    pub(crate) fn live_blocks(&self) -> IdSet {
        let mut live = IdSet::default();
        let mut last = None;
        // Neighbouring slices mostly share a block: one set insert per run of them.
        for s in self.placed.iter().chain(&self.unplaced) {
            if last != Some(s.block) {
                live.insert(s.block);
                last = Some(s.block);
            }
        }
        live
    }

    /// Number of records, placed and unplaced.
    pub(crate) fn record_count(&self) -> u64 {
        self.placed
            .iter()
            .chain(&self.unplaced)
            .map(|s| u64::from(s.len))
            .sum()
    }

    /// `Ok(i)`: placed slice `i` holds `seq`; `Err(i)`: `seq` is in a hole before slice `i`.
    pub(crate) fn placed_find(&self, seq: u32) -> std::result::Result<usize, usize> {
        let i = self.placed.partition_point(|s| s.seq_end() < seq);
        match self.placed.get(i) {
            Some(s) if s.seq <= seq => Ok(i),
            _ => Err(i),
        }
    }

    /// The record at `seq` as stored in its block (no overlay), for reads the read index
    /// cannot answer alone (`View::message_at` asks it first): builds the index, remembers
    /// the slice's records in it, and reads through `src` (which reports damage).
    pub(crate) fn block_record_at(
        &self,
        seq: u32,
        src: &dyn RecordSource,
    ) -> Result<Option<Record>> {
        let index = self.placed.index();
        let Ok(i) = index.find(seq) else {
            return Ok(None);
        };
        let Some(s) = self.placed.get(i) else {
            return Ok(None);
        };
        let records = src.records(s.block)?;
        if index.remember(i, &s, &records) {
            src.map_at_next_read(s.block);
        }
        let view = s.view_of(records, src)?;
        Ok(view.records().get((seq - s.seq) as usize).copied())
    }

    /// The UID at `seq`, if known.
    pub(crate) fn uid_at(&self, seq: u32, src: &dyn RecordSource) -> Result<Option<u32>> {
        let Ok(i) = self.placed_find(seq) else {
            return Ok(None);
        };
        match self.placed.get(i) {
            Some(s) if s.seq == seq => Ok(Some(s.first_uid)),
            Some(s) if s.seq_end() == seq => Ok(Some(s.last_uid)),
            Some(s) => Ok(Some(s.uids(src)?.uid(seq - s.seq))),
            None => Ok(None),
        }
    }

    /// The placed slice whose UID extent holds `uid` (`Ok`), or the first one above it
    /// (`Err`, the slice count when there is none): through the read index when a read built
    /// it, else a binary search of the slices.
    #[inline]
    pub(crate) fn placed_slice_of_uid(&self, uid: u32) -> std::result::Result<usize, usize> {
        if let Some(index) = self.placed.built_index() {
            return index.find_uid(uid);
        }
        let i = self.placed.partition_point(|s| s.last_uid < uid);
        match self.placed.get(i) {
            Some(s) if s.first_uid <= uid => Ok(i),
            _ => Err(i),
        }
    }

    /// The sequence number of placed `uid`.
    pub(crate) fn seq_of_uid(&self, uid: u32, src: &dyn RecordSource) -> Result<Option<u32>> {
        match self.placed_slice_of_uid(uid) {
            Ok(i) => self.seq_of_uid_in(i, uid, src),
            Err(_) => Ok(None),
        }
    }

    /// The sequence number of `uid` if placed slice `i` holds it.
    #[inline]
    pub(crate) fn seq_of_uid_in(
        &self,
        i: usize,
        uid: u32,
        src: &dyn RecordSource,
    ) -> Result<Option<u32>> {
        let Some(s) = self.placed.get(i) else {
            return Ok(None);
        };
        // A dense slice answers from its extent: no read, not even of the read index.
        if let Some(found) = s.dense_position(uid) {
            return Ok(found.ok().map(|k| s.seq + k));
        }
        let seq_of =
            |found: std::result::Result<usize, usize>| found.ok().map(|k| s.seq + k as u32);
        // Only a read index that exists already: within `apply` and a transaction's own
        // checks, building one per call would cost O(slices) each time.
        let index = self.placed.built_index();
        if let Some(found) = index.and_then(|x| x.uid_position(i, uid)) {
            return Ok(seq_of(found));
        }
        let records = src.records(s.block)?;
        if index.is_some_and(|index| index.remember(i, &s, &records)) {
            src.map_at_next_read(s.block);
        }
        let records = s.view_of(records, src)?;
        Ok(seq_of(position_within(
            records.records(),
            uid,
            (s.first_uid, s.last_uid),
        )))
    }

    /// The lowest placed UID above `uid`, found by the slices' UID extents and one binary
    /// search in one block (no read index).
    pub(crate) fn placed_uid_above(&self, uid: u32, src: &dyn RecordSource) -> Result<Option<u32>> {
        let Some(above) = uid.checked_add(1) else {
            return Ok(None);
        };
        Ok(self.first_placed_at_least(above, src)?.map(|(_, uid)| uid))
    }

    /// The sequence number of the first placed record whose UID is at least `uid`, found by
    /// the slices' UID extents and one search in one block (no read index); `None` when
    /// every placed UID is below it.
    pub(crate) fn placed_seq_at_least(
        &self,
        uid: u32,
        src: &dyn RecordSource,
    ) -> Result<Option<u32>> {
        Ok(self.first_placed_at_least(uid, src)?.map(|(seq, _)| seq))
    }

    /// The sequence number and UID of the first placed record whose UID is at least `uid`.
    /// Placed UIDs ascend with their positions, so the slices' UID extents name the one
    /// slice to search.
    fn first_placed_at_least(
        &self,
        uid: u32,
        src: &dyn RecordSource,
    ) -> Result<Option<(u32, u32)>> {
        let i = self.placed.partition_point(|s| s.last_uid < uid);
        let Some(s) = self.placed.get(i) else {
            return Ok(None);
        };
        if s.first_uid >= uid {
            return Ok(Some((s.seq, s.first_uid)));
        }
        let uids = s.uids(src)?;
        let k = uids.count_below(uid);
        Ok(Some((s.seq + k, uids.uid(k))))
    }

    /// Where an unknown `uid` must lie: the hole between its placed neighbours, if any.
    /// `None` when placed knowledge proves there is no room for it.
    pub(crate) fn hole_for_uid(&self, uid: u32) -> Option<(u32, u32)> {
        self.hole_below(self.placed_slice_of_uid(uid))
    }

    /// [`State::hole_for_uid`] from where [`State::placed_slice_of_uid`] put the UID: no hole
    /// within a slice's extent, else the one between slices `i - 1` and `i`.
    pub(crate) fn hole_below(&self, at: std::result::Result<usize, usize>) -> Option<(u32, u32)> {
        let i = at.err()?;
        let lo = match i.checked_sub(1).and_then(|p| self.placed.get(p)) {
            Some(prev) => prev.seq_end() + 1,
            None => 1,
        };
        let hi = self.placed.get(i).map_or(self.exists(), |s| s.seq - 1);
        (lo <= hi).then_some((lo, hi))
    }

    /// The unplaced record with `uid`.
    pub(crate) fn unplaced_record(
        &self,
        uid: u32,
        src: &dyn RecordSource,
    ) -> Result<Option<Record>> {
        let i = self.unplaced.partition_point(|s| s.last_uid < uid);
        match self.unplaced.get(i) {
            Some(s) if s.first_uid <= uid => {
                let view = s.view(src)?;
                Ok(view
                    .position(uid)
                    .ok()
                    .and_then(|k| view.records().get(k as usize).copied()))
            }
            _ => Ok(None),
        }
    }

    /// Applies one op. On `Err` the op is refused; ops check before they change anything,
    /// except for I/O errors while reading blocks, after which the caller discards the state.
    pub(crate) fn apply(&mut self, op: &Op, src: &dyn RecordSource) -> Result<()> {
        match op {
            Op::SetHeader { field, value } => {
                let narrow = |v: u64| {
                    u32::try_from(v).map_err(|_| InvalidOp::HeaderValueTooLarge {
                        field: match field {
                            HeaderField::UidValidity => "uidvalidity",
                            _ => "uidnext",
                        },
                        value: v,
                    })
                };
                match field {
                    HeaderField::UidValidity => {
                        self.header.uidvalidity = value.map(narrow).transpose()?
                    }
                    HeaderField::UidNext => self.header.uidnext = value.map(narrow).transpose()?,
                    HeaderField::HighestModseq => self.header.highestmodseq = *value,
                }
                Ok(())
            }
            Op::SetExists { count } => self.set_exists(*count, src),
            Op::Clear => {
                self.header = Header::default();
                self.placed.clear();
                self.unplaced.clear();
                self.overlay.clear();
                Ok(())
            }
            Op::Learn {
                seq,
                block_id,
                first_record,
                len,
                first_uid,
                last_uid,
            } => {
                let slice = Slice {
                    block: *block_id,
                    first_record: *first_record,
                    len: *len,
                    seq: *seq,
                    first_uid: *first_uid,
                    last_uid: *last_uid,
                    flags_known: false,
                };
                self.learn(slice, src)
            }
            Op::Expunge { seq } => self.expunge(*seq, src),
            Op::RemoveUid { uid } => self.remove_uid(*uid, src),
            Op::ForgetUid { uid } => self.forget_uid(*uid, src),
            Op::Unplace {
                first_seq,
                last_seq,
            } => self.unplace(*first_seq, *last_seq, src),
            Op::SetMeta { uid, flags, modseq } => {
                if *flags != FLAGS_UNKNOWN && !self.flags.is_defined(*flags) {
                    return Err(InvalidOp::UnknownFlagSet { id: *flags }.into());
                }
                // Flags once in the overlay stay there (writers merge): a checkpoint's flag
                // collection relies on it to free the set a block record holds underneath.
                if *flags == FLAGS_UNKNOWN
                    && self
                        .overlay
                        .get(uid)
                        .is_some_and(|m| m.flags != FLAGS_UNKNOWN)
                {
                    return Err(InvalidOp::ForgetsOverlayFlags { uid: *uid }.into());
                }
                self.overlay.insert(
                    *uid,
                    Meta {
                        flags: *flags,
                        modseq: *modseq,
                    },
                );
                Ok(())
            }
            // Its records were registered with the block store by whoever holds it
            // (`State::replay`, or the commit that wrote the frame).
            Op::InlineBlock { id, .. } => {
                self.next_block_id = self.next_block_id.max(id.saturating_add(1));
                Ok(())
            }
            Op::DefineAtom { id, name } => self
                .flags
                .define_atom(*id, name.clone())
                .map_err(|e| InvalidOp::FlagTable(e).into()),
            Op::DefineFlagSet { id, atoms } => self
                .flags
                .define_set(*id, atoms.clone())
                .map_err(|e| InvalidOp::FlagTable(e).into()),
        }
    }

    /// [`State::apply`] for an op read back from a journal frame: an `InlineBlock` op's
    /// records first become readable as its block, for the frame's later `Learn` ops.
    pub(crate) fn replay(&mut self, op: &Op, store: &BlockStore) -> Result<()> {
        if let Op::InlineBlock { id, records } = op {
            store.register_inline(*id, records.clone());
        }
        self.apply(op, store)
    }

    fn set_exists(&mut self, count: u32, src: &dyn RecordSource) -> Result<()> {
        if let Some(last) = self.placed.last() {
            if last.seq_end() > count {
                return Err(InvalidOp::ShrinkOverRecords {
                    count,
                    seq: last.seq_end(),
                }
                .into());
            }
        }
        let grew = self.header.exists.is_some_and(|e| count > e);
        self.header.exists = Some(count);
        if !grew {
            self.prune_gap(count, src)?;
        }
        Ok(())
    }

    fn learn(&mut self, mut new: Slice, src: &dyn RecordSource) -> Result<()> {
        let exists = self.exists();
        let end = u64::from(new.seq) + u64::from(new.len) - 1;
        if new.len == 0 || new.seq == 0 || end > u64::from(exists) {
            return Err(out_of_range(end.max(u64::from(new.seq)), exists).into());
        }
        let end = end as u32;
        if new.first_uid == 0
            || new.last_uid < new.first_uid
            || new.last_uid - new.first_uid < new.len - 1
        {
            return Err(InvalidOp::SliceMismatch {
                block: new.block,
                first_uid: new.first_uid,
                last_uid: new.last_uid,
                len: new.len,
            }
            .into());
        }
        let i = self.placed.partition_point(|s| s.seq_end() < new.seq);
        if let Some(next) = self.placed.get(i) {
            if next.seq <= end {
                return Err(InvalidOp::Conflict {
                    seq: next.seq.max(new.seq),
                    known: next.first_uid,
                    given: new.first_uid,
                }
                .into());
            }
            if !uids_leave_room((end, new.last_uid), (next.seq, next.first_uid)) {
                return Err(InvalidOp::UidOrder {
                    seq: end,
                    uid: new.last_uid,
                    neighbour_seq: next.seq,
                    neighbour_uid: next.first_uid,
                }
                .into());
            }
        }
        if let Some(prev) = i.checked_sub(1).and_then(|p| self.placed.get(p)) {
            if !uids_leave_room((prev.seq_end(), prev.last_uid), (new.seq, new.first_uid)) {
                return Err(InvalidOp::UidOrder {
                    seq: new.seq,
                    uid: new.first_uid,
                    neighbour_seq: prev.seq_end(),
                    neighbour_uid: prev.last_uid,
                }
                .into());
            }
        }
        {
            let view = new.view_bounds(src)?;
            if view.uid(0) != new.first_uid || view.uid(new.len - 1) != new.last_uid {
                return Err(InvalidOp::SliceMismatch {
                    block: new.block,
                    first_uid: new.first_uid,
                    last_uid: new.last_uid,
                    len: new.len,
                }
                .into());
            }
            // The overlay entries of these UIDs are dropped below: the records alone say.
            // O(len), records the commit has just written.
            new.flags_known = view
                .records()
                .iter()
                .all(|r| r.flags.get() != FLAGS_UNKNOWN);
        }
        self.drop_unplaced(new.first_uid, new.last_uid, src)?;
        let stale: Vec<u32> = self
            .overlay
            .range(new.first_uid..=new.last_uid)
            .map(|(u, _)| *u)
            .collect();
        for uid in stale {
            self.overlay.remove(&uid);
        }
        self.next_block_id = self.next_block_id.max(new.block + 1);
        // The gaps to prune are those around the learned run itself, whatever it merges with.
        let (seq, end) = (new.seq, new.seq_end());
        let mut at = i;
        if let Some(mut prev) = i.checked_sub(1).and_then(|p| self.placed.get(p)) {
            if prev.block == new.block
                && prev.first_record + prev.len == new.first_record
                && prev.seq_end() + 1 == new.seq
            {
                prev.len += new.len;
                prev.last_uid = new.last_uid;
                prev.flags_known &= new.flags_known;
                new = prev;
                at = i - 1;
                self.placed.remove(at);
            }
        }
        if let Some(next) = self.placed.get(at) {
            if next.block == new.block
                && new.first_record + new.len == next.first_record
                && new.seq_end() + 1 == next.seq
            {
                new.len += next.len;
                new.last_uid = next.last_uid;
                new.flags_known &= next.flags_known;
                self.placed.remove(at);
            }
        }
        self.placed.insert(at, new);
        self.prune_gap(seq - 1, src)?;
        self.prune_gap(end, src)
    }

    fn check_seq(&self, seq: u32) -> Result<()> {
        if seq == 0 || seq > self.exists() {
            return Err(out_of_range(u64::from(seq), self.exists()).into());
        }
        Ok(())
    }

    pub(crate) fn expunge(&mut self, seq: u32, src: &dyn RecordSource) -> Result<()> {
        self.check_seq(seq)?;
        if let Ok(i) = self.placed_find(seq) {
            return self.expunge_placed(i, seq, src);
        }
        for gone in self.cut_placed(seq, seq, src)? {
            self.overlay.remove(&gone.first_uid);
        }
        let from = self.placed.partition_point(|s| s.seq < seq);
        self.placed.lower_seqs_from(from);
        self.header.exists = Some(self.exists() - 1);
        self.prune_gap(seq - 1, src)
    }

    /// `expunge` of `seq`, a record of placed slice `i`: the slice's records before and after
    /// it (none, one or two slices) replace the slice in its run of [`Placed`], then the
    /// later slices shift down lazily (placed.rs). The general path (split twice, cut)
    /// would change the run three times and read the block twice.
    fn expunge_placed(&mut self, i: usize, seq: u32, src: &dyn RecordSource) -> Result<()> {
        let Some(s) = self.placed.get(i) else {
            return Err(
                ErrorKind::Invariant(Invariant::PlacedSliceMissing { slice: i, seq }).into(),
            );
        };
        let k = seq - s.seq;
        let (gone, left, right) = {
            let uids = s.uids(src)?;
            let left = (k > 0).then(|| s.sub(&uids, 0, k));
            let right = (k + 1 < s.len).then(|| Slice {
                seq,
                ..s.sub(&uids, k + 1, s.len)
            });
            (uids.uid(k), left, right)
        };
        let kept = usize::from(left.is_some()) + usize::from(right.is_some());
        self.placed.replace(i, left.into_iter().chain(right));
        self.placed.lower_seqs_from(i + kept);
        self.overlay.remove(&gone);
        self.header.exists = Some(self.exists() - 1);
        self.prune_gap(seq - 1, src)
    }

    fn remove_uid(&mut self, uid: u32, src: &dyn RecordSource) -> Result<()> {
        if let Some(seq) = self.seq_of_uid(uid, src)? {
            return self.expunge(seq, src);
        }
        self.drop_unplaced(uid, uid, src)?;
        self.overlay.remove(&uid);
        if let Some((hole, _)) = self.hole_for_uid(uid) {
            self.expunge(hole, src)?;
        }
        Ok(())
    }

    fn forget_uid(&mut self, uid: u32, src: &dyn RecordSource) -> Result<()> {
        if let Some(seq) = self.seq_of_uid(uid, src)? {
            self.cut_placed(seq, seq, src)?;
        } else {
            self.drop_unplaced(uid, uid, src)?;
        }
        self.overlay.remove(&uid);
        Ok(())
    }

    fn unplace(&mut self, first: u32, last: u32, src: &dyn RecordSource) -> Result<()> {
        let last = last.min(self.exists());
        if first == 0 || first > last {
            return Ok(());
        }
        for mut s in self.cut_placed(first, last, src)? {
            s.seq = 0;
            self.insert_unplaced(s, src)?;
        }
        Ok(())
    }

    /// Adds a slice to the unplaced set. An unplaced slice's UID range may straddle the new
    /// one (compaction packs unplaced records whose UIDs interleave with placed ones), but
    /// holds no UID inside it: those lay between adjacent placed messages and were pruned.
    fn insert_unplaced(&mut self, s: Slice, src: &dyn RecordSource) -> Result<()> {
        let at = self.unplaced.partition_point(|u| u.last_uid < s.first_uid);
        let Some(u) = self.unplaced.get(at).copied() else {
            self.unplaced.push(s);
            return Ok(());
        };
        if u.first_uid > s.last_uid {
            self.unplaced.insert(at, s);
            return Ok(());
        }
        let uids = u.uids(src)?;
        let split = uids.position(s.first_uid);
        match split {
            Err(p) if u.first_uid < s.first_uid && uids.uid(p) > s.last_uid => {
                let (left, right) = (u.sub(&uids, 0, p), u.sub(&uids, p, u.len));
                self.unplaced.splice(at..=at, [left, s, right]);
                Ok(())
            }
            _ => Err(ErrorKind::Invariant(Invariant::UnplacedInterleave {
                first_uid: s.first_uid,
                last_uid: s.last_uid,
                other_first_uid: u.first_uid,
                other_last_uid: u.last_uid,
            })
            .into()),
        }
    }

    /// Splits the placed slice holding `seq` so that one starts at `seq`.
    fn split_placed_at(&mut self, seq: u32, src: &dyn RecordSource) -> Result<()> {
        let Ok(i) = self.placed_find(seq) else {
            return Ok(());
        };
        let Some(s) = self.placed.get(i) else {
            return Ok(());
        };
        if s.seq < seq {
            let uids = s.uids(src)?;
            let k = seq - s.seq;
            let (left, right) = (s.sub(&uids, 0, k), s.sub(&uids, k, s.len));
            self.placed.replace(i, [left, right]);
        }
        Ok(())
    }

    /// Removes the placed records of `lo..=hi` (their positions become holes) and returns them.
    fn cut_placed(&mut self, lo: u32, hi: u32, src: &dyn RecordSource) -> Result<Vec<Slice>> {
        self.split_placed_at(lo, src)?;
        if let Some(after) = hi.checked_add(1) {
            self.split_placed_at(after, src)?;
        }
        let a = self.placed.partition_point(|s| s.seq < lo);
        let b = self.placed.partition_point(|s| s.seq <= hi);
        Ok(self.placed.drain(a..b))
    }

    /// Drops unplaced records with UIDs in `lo..=hi`.
    pub(crate) fn drop_unplaced(&mut self, lo: u32, hi: u32, src: &dyn RecordSource) -> Result<()> {
        let mut i = self.unplaced.partition_point(|s| s.last_uid < lo);
        while let Some(s) = self.unplaced.get(i).copied() {
            if s.first_uid > hi {
                break;
            }
            let uids = s.uids(src)?;
            let a = uids.count_below(lo);
            let b = hi
                .checked_add(1)
                .map_or(s.len, |above| uids.count_below(above));
            let mut keep = Vec::with_capacity(2);
            if a > 0 {
                keep.push(s.sub(&uids, 0, a));
            }
            if b < s.len {
                keep.push(s.sub(&uids, b, s.len));
            }
            let kept = keep.len();
            self.unplaced.splice(i..=i, keep);
            i += kept;
        }
        Ok(())
    }

    /// Drops unplaced records that placed knowledge rules out between sequence numbers `g`
    /// and `g + 1` (0 is "before the first", `exists` is "after the last").
    fn prune_gap(&mut self, g: u32, src: &dyn RecordSource) -> Result<()> {
        if self.unplaced.is_empty() || self.header.exists.is_none() || g > self.exists() {
            return Ok(());
        }
        let lower = if g == 0 {
            Some(0)
        } else {
            self.uid_at(g, src)?.map(u64::from)
        };
        let upper = if g >= self.exists() {
            Some(u64::from(u32::MAX) + 1)
        } else {
            self.uid_at(g + 1, src)?.map(u64::from)
        };
        if let (Some(lower), Some(upper)) = (lower, upper) {
            if lower + 1 < upper {
                self.drop_unplaced((lower + 1) as u32, (upper - 1) as u32, src)?;
            }
        }
        Ok(())
    }
}
