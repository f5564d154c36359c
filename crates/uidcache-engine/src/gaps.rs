//! What a sync still has to learn, read as streams: the holes (sequence numbers with no
//! record) straight from the index's slices, and the placed messages whose flags were
//! never learned.

use crate::error::Result;
use crate::slice::{Slice, SliceView};
use crate::view::View;

/// The holes of `1..=exists`, ascending, as inclusive `(first, last)` ranges: from the
/// index alone, O(1) per placed slice and no block read. Made by [`View::holes`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
#[derive(Debug)]
pub struct Holes<'v> {
    slices: std::slice::Iter<'v, Slice>,
    /// The first sequence number not yet accounted for.
    next: u32,
    exists: u32,
}

impl Iterator for Holes<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        for s in self.slices.by_ref() {
            let hole = (s.seq > self.next).then(|| (self.next, s.seq - 1));
            self.next = s.seq_end().saturating_add(1);
            if hole.is_some() {
                return hole;
            }
        }
        if self.next <= self.exists {
            let hole = (self.next, self.exists);
            self.next = self.exists.saturating_add(1);
            return Some(hole);
        }
        None
    }
}

/// The placed messages whose FLAGS are unknown, as ascending, maximal inclusive runs of
/// sequence numbers. Made by [`View::unknown_flags`]. A failed read of a block ends the
/// iteration after its `Err`.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct UnknownFlags<'v> {
    view: &'v View<'v>,
    slices: std::slice::Iter<'v, Slice>,
    current: Option<(Slice, SliceView<'v>, u32)>,
    failed: bool,
}

impl std::fmt::Debug for UnknownFlags<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownFlags").finish_non_exhaustive()
    }
}

impl UnknownFlags<'_> {
    /// The next placed sequence number with unknown flags.
    fn next_seq(&mut self) -> Option<Result<u32>> {
        loop {
            if let Some((slice, records, k)) = &mut self.current {
                while let Some(r) = records.records().get(*k as usize) {
                    let seq = slice.seq + *k;
                    *k += 1;
                    if self.view.message(r).flags.is_none() {
                        return Some(Ok(seq));
                    }
                }
            }
            let slice = *self.slices.next()?;
            if let Err(e) = self.open(slice) {
                return Some(Err(e));
            }
        }
    }

    /// Makes `slice` the one being read.
    fn open(&mut self, slice: Slice) -> Result<()> {
        match slice.view(&self.view.src) {
            Ok(records) => {
                crate::walked::add(records.records().len());
                self.current = Some((slice, records, 0));
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

impl Iterator for UnknownFlags<'_> {
    type Item = Result<(u32, u32)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let first = match self.next_seq()? {
            Ok(seq) => seq,
            Err(e) => return Some(Err(e)),
        };
        let mut last = first;
        // Extend the run while the next unknown one is adjacent; peek by looking at the
        // record right after without consuming a non-adjacent one.
        while let Some((slice, records, k)) = &mut self.current {
            match records.records().get(*k as usize) {
                Some(r) if slice.seq + *k == last + 1 && self.view.message(r).flags.is_none() => {
                    last += 1;
                    *k += 1;
                }
                Some(_) => break,
                None => {
                    // The run may go on in the next slice if it starts right after.
                    let Some(next) = self.slices.as_slice().first().copied() else {
                        break;
                    };
                    if next.seq != last + 1 {
                        break;
                    }
                    self.slices.next();
                    if let Err(e) = self.open(next) {
                        return Some(Err(e));
                    }
                }
            }
        }
        Some(Ok((first, last)))
    }
}

impl<'a> View<'a> {
    /// The holes of the sequence space, ascending: what a client must fetch to learn every
    /// position. Reads only the index.
    pub fn holes(&self) -> Holes<'_> {
        Holes {
            slices: self.state.placed.iter(),
            next: 1,
            exists: self.state.exists(),
        }
    }

    /// The placed messages whose FLAGS were never learned, as runs of sequence numbers.
    /// Reads every placed record (the index does not say which records lack flags), in
    /// place: nothing is allocated per record.
    pub fn unknown_flags(&self) -> UnknownFlags<'_> {
        UnknownFlags {
            view: self,
            slices: self.state.placed.iter(),
            current: None,
            failed: false,
        }
    }
}
