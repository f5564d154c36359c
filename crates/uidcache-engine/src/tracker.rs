//! Counting what a series of transactions changed, in work proportional to the change.
//!
//! A sync reports how many messages it added, removed and changed. Comparing the whole
//! mailbox before and after costs two passes over every record (and, at a million
//! messages, a hundred megabytes); the tracker instead remembers, at the first op that can
//! touch a UID, how that UID stood when tracking began. At the end only those UIDs are
//! looked up again. Ops that cannot change what a UID holds (header values, `Unplace`, flag
//! table definitions) cost nothing.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use uidcache_format::{Op, Record};

use crate::blocks::RecordSource;
use crate::cache::Cache;
use crate::error::Result;
use crate::slice::Slice;
use crate::state::State;
use crate::view::message_of;

/// What a UID held: a digest of its flag names (flag-set IDs may be freed and defined
/// again between checkpoints; names may not change meaning) and its MODSEQ. `None`: no
/// record.
type Held = Option<(u64, Option<u64>)>;

/// Counts of what changed since [`Cache::track_changes`], comparing each message as it
/// stood then with how it stands now (a message added and removed in between counts as
/// neither).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackedChanges {
    /// Records that did not exist when tracking began.
    pub new: u64,
    /// Records that existed when tracking began and no longer do.
    pub gone: u64,
    /// Records whose flags or MODSEQ differ.
    pub changed: u64,
    /// The cache was cleared (a new UIDVALIDITY) at least once; `gone` then counts every
    /// record from before and `new` every record now.
    pub cleared: bool,
}

/// The first-seen state of every UID an op touched since tracking began.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Records when tracking began: with none, every record now is new and no map is kept.
    records_at_start: u64,
    cleared: bool,
    before: HashMap<u32, Held>,
}

fn digest(state: &State, record: &Record) -> Held {
    let overlay = (!state.overlay.is_empty())
        .then(|| state.overlay.get(&record.uid.get()))
        .flatten();
    let m = message_of(record, overlay);
    let mut h = DefaultHasher::new();
    m.flags.map(|id| state.flags.names(id)).hash(&mut h);
    Some((h.finish(), m.modseq))
}

/// What `uid` holds in `state`: one binary search over the slices' UID extents and one in
/// a block (no read index: inside a transaction the next change would drop it again).
fn held(state: &State, uid: u32, src: &dyn RecordSource) -> Result<Held> {
    let i = state.placed.partition_point(|s| s.last_uid < uid);
    if let Some(s) = state.placed.get(i).filter(|s| s.first_uid <= uid) {
        let view = s.view(src)?;
        if let Ok(k) = view.position(uid) {
            if let Some(r) = view.records().get(k as usize) {
                return Ok(digest(state, r));
            }
        }
    }
    Ok(match state.unplaced_record(uid, src)? {
        Some(r) => digest(state, &r),
        None => None,
    })
}

impl Tracker {
    fn new(state: &State) -> Tracker {
        Tracker {
            records_at_start: state.record_count(),
            ..Tracker::default()
        }
    }

    /// Whether every change is a new record (nothing to remember).
    fn all_new(&self) -> bool {
        self.records_at_start == 0 || self.cleared
    }

    /// What `record` holds, remembered as its UID's first-seen state (unless one is): for a
    /// caller that has just read the record, where [`Tracker::before`] would look it up
    /// again. Called before the change, like `before`.
    pub(crate) fn remember_record(&mut self, state: &State, record: &Record) {
        if self.all_new() {
            return;
        }
        if let Entry::Vacant(e) = self.before.entry(record.uid.get()) {
            e.insert(digest(state, record));
        }
    }

    fn remember(&mut self, state: &State, uid: u32, src: &dyn RecordSource) -> Result<()> {
        if let Entry::Vacant(e) = self.before.entry(uid) {
            e.insert(held(state, uid, src)?);
        }
        Ok(())
    }

    /// Called before `op` is applied to `state`: remembers the UIDs it may change. Returns
    /// the unplaced slices as they were when `op` may prune some (see [`Tracker::after`]).
    pub(crate) fn before(
        &mut self,
        state: &State,
        op: &Op,
        src: &dyn RecordSource,
    ) -> Result<Option<Vec<Slice>>> {
        if self.all_new() {
            return Ok(None);
        }
        match op {
            Op::Clear => self.cleared = true,
            Op::SetMeta { uid, .. } | Op::RemoveUid { uid } | Op::ForgetUid { uid } => {
                self.remember(state, *uid, src)?
            }
            Op::Expunge { seq } => {
                if let Some(uid) = state.uid_at(*seq, src)? {
                    self.remember(state, uid, src)?;
                }
            }
            Op::Learn {
                block_id,
                first_record,
                len,
                ..
            } => {
                let records = src.records(*block_id)?;
                let start = *first_record as usize;
                let uids: Vec<u32> = records
                    .get(start..start.saturating_add(*len as usize))
                    .unwrap_or_default()
                    .iter()
                    .map(|r| r.uid.get())
                    .collect();
                for uid in uids {
                    self.remember(state, uid, src)?;
                }
            }
            _ => {}
        }
        // `Learn`, `Expunge`, `RemoveUid` and `SetExists` may prune unplaced records
        // (FORMAT.md 6.3).
        let prunes = matches!(
            op,
            Op::Learn { .. } | Op::Expunge { .. } | Op::RemoveUid { .. } | Op::SetExists { .. }
        );
        Ok((prunes && !state.unplaced.is_empty()).then(|| state.unplaced.clone()))
    }

    /// Called after an op that [`Tracker::before`] returned unplaced slices for: remembers
    /// the records that left them (their overlay entries stay, FORMAT.md 6.3, so they read
    /// as they did).
    pub(crate) fn after(
        &mut self,
        state: &State,
        unplaced_before: &[Slice],
        src: &dyn RecordSource,
    ) -> Result<()> {
        if state.unplaced == unplaced_before {
            return Ok(());
        }
        for s in unplaced_before
            .iter()
            .filter(|s| !state.unplaced.contains(s))
        {
            let view = s.view(src)?;
            for r in view.records() {
                let uid = r.uid.get();
                if !self.before.contains_key(&uid) && state.unplaced_record(uid, src)?.is_none() {
                    let was = digest(state, r);
                    self.before.insert(uid, was);
                }
            }
        }
        Ok(())
    }

    fn count(&self, state: &State, src: &dyn RecordSource) -> Result<TrackedChanges> {
        if self.all_new() {
            return Ok(TrackedChanges {
                new: state.record_count(),
                gone: self.records_at_start,
                changed: 0,
                cleared: self.cleared,
            });
        }
        let mut c = TrackedChanges::default();
        for (&uid, was) in &self.before {
            match (was, held(state, uid, src)?) {
                (None, Some(_)) => c.new += 1,
                (Some(_), None) => c.gone += 1,
                (Some(a), Some(b)) if *a != b => c.changed += 1,
                _ => {}
            }
        }
        Ok(c)
    }
}

impl Cache {
    /// Starts counting what later transactions change (again from zero if it was counting).
    /// Costs memory proportional to the messages that changes touch, none while nothing
    /// changes; see [`Cache::tracked_changes`].
    pub fn track_changes(&mut self) {
        self.tracker = Some(Tracker::new(&self.state));
    }

    /// What committed transactions changed since [`Cache::track_changes`], in work
    /// proportional to the messages they touched. `None` when this handle is not tracking.
    pub fn tracked_changes(&self) -> Result<Option<TrackedChanges>> {
        let view = self.view();
        self.tracker
            .as_ref()
            .map(|t| t.count(&self.state, &view.src))
            .transpose()
    }

    /// Stops counting and forgets what was remembered.
    pub fn stop_tracking(&mut self) {
        self.tracker = None;
    }
}
