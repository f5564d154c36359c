//! Streaming reads of many messages: a sequence range (a message-list page), the whole
//! mailbox, the changes since a MODSEQ. They walk the index's slices and read each slice's
//! records in place, so a row costs no allocation and no lookup.

use std::ops::{Bound, RangeBounds};

use crate::error::Result;
use crate::slice::{Slice, SliceView};
use crate::view::{Message, View};

/// The known messages of a sequence range, ascending: `(seq, message)`. Made by
/// [`View::range`] and [`View::messages`]. Unknown positions are skipped (see
/// [`View::fetch_plan`] to learn them). A failed read of a block ends the iteration after
/// its `Err`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Messages<'v> {
    view: &'v View<'v>,
    slices: std::slice::Iter<'v, Slice>,
    /// The slice being read, the next record to yield and the end of the records to yield.
    current: Option<(Slice, SliceView<'v>, u32, u32)>,
    lo: u32,
    hi: u32,
}

impl<'v> Messages<'v> {
    pub(crate) fn new(view: &'v View<'v>, range: impl RangeBounds<u32>) -> Self {
        let lo = match range.start_bound() {
            Bound::Included(&a) => a,
            Bound::Excluded(&a) => a.saturating_add(1),
            Bound::Unbounded => 1,
        }
        .max(1);
        let hi = match range.end_bound() {
            Bound::Included(&b) => b,
            // `..0` is empty: 0 is below every sequence number.
            Bound::Excluded(&b) => b.saturating_sub(1),
            Bound::Unbounded => u32::MAX,
        };
        let placed: &'v [Slice] = &view.state.placed;
        let first = placed.partition_point(|s| s.seq_end() < lo);
        let slices = if lo <= hi {
            placed.get(first..).unwrap_or_default()
        } else {
            &[]
        };
        Messages {
            view,
            slices: slices.iter(),
            current: None,
            lo,
            hi,
        }
    }
}

impl Iterator for Messages<'_> {
    type Item = Result<(u32, Message)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((slice, records, k, end)) = &mut self.current {
                if *k < *end {
                    let record = records.records().get(*k as usize)?;
                    let seq = slice.seq + *k;
                    *k += 1;
                    return Some(Ok((seq, self.view.message(record))));
                }
            }
            let slice = *self.slices.next()?;
            if slice.seq > self.hi {
                self.slices = [].iter();
                return None;
            }
            let records = match slice.view(&self.view.src) {
                Ok(records) => records,
                Err(e) => {
                    self.slices = [].iter();
                    self.current = None;
                    return Some(Err(e));
                }
            };
            let k = self.lo.saturating_sub(slice.seq);
            let end = slice.len.min(self.hi - slice.seq + 1);
            crate::walked::add(end.saturating_sub(k) as usize);
            self.current = Some((slice, records, k, end));
        }
    }
}

impl std::fmt::Debug for Messages<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages")
            .field("lo", &self.lo)
            .field("hi", &self.hi)
            .finish_non_exhaustive()
    }
}

/// The messages whose MODSEQ is known and above a value: placed ones first, ascending by
/// sequence number, as `(Some(seq), message)`, then unplaced ones ascending by UID, as
/// `(None, message)`. Made by [`View::changed_since`]. A failed read of a block ends the
/// iteration after its `Err`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct ChangedSince<'v> {
    modseq: u64,
    placed: Messages<'v>,
    view: &'v View<'v>,
    unplaced: std::slice::Iter<'v, Slice>,
    current: Option<(SliceView<'v>, usize)>,
    failed: bool,
}

impl<'v> ChangedSince<'v> {
    pub(crate) fn new(view: &'v View<'v>, modseq: u64) -> Self {
        ChangedSince {
            modseq,
            placed: Messages::new(view, ..),
            view,
            unplaced: view.state.unplaced.iter(),
            current: None,
            failed: false,
        }
    }
}

impl Iterator for ChangedSince<'_> {
    type Item = Result<(Option<u32>, Message)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let modseq = self.modseq;
        for item in self.placed.by_ref() {
            match item {
                Ok((seq, m)) if m.modseq.is_some_and(|v| v > modseq) => {
                    return Some(Ok((Some(seq), m)))
                }
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        loop {
            if let Some((records, k)) = &mut self.current {
                while let Some(record) = records.records().get(*k) {
                    *k += 1;
                    let m = self.view.message(record);
                    if m.modseq.is_some_and(|v| v > self.modseq) {
                        return Some(Ok((None, m)));
                    }
                }
            }
            let slice = self.unplaced.next()?;
            match slice.view(&self.view.src) {
                Ok(records) => {
                    crate::walked::add(records.records().len());
                    self.current = Some((records, 0));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl std::fmt::Debug for ChangedSince<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangedSince")
            .field("modseq", &self.modseq)
            .finish_non_exhaustive()
    }
}
