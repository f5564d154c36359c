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
    /// Placed slices not yet looked at, with their positions.
    slices: std::iter::Enumerate<std::slice::Iter<'v, Slice>>,
    current: Option<Current<'v>>,
    failed: bool,
}

/// The slice being read: its position, itself, its records, the next record to look at,
/// and whether every record so far had known flags.
struct Current<'v> {
    i: usize,
    slice: Slice,
    records: SliceView<'v>,
    k: u32,
    clean: bool,
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
            if let Some(c) = &mut self.current {
                while let Some(r) = c.records.records().get(c.k as usize) {
                    let seq = c.slice.seq + c.k;
                    c.k += 1;
                    if self.view.message(r).flags.is_none() {
                        c.clean = false;
                        return Some(Ok(seq));
                    }
                }
                if c.clean {
                    // Read to the end and all known: the next scan skips it.
                    self.view.state.placed.index().prove_flags_known(c.i);
                }
                self.current = None;
            }
            let placed = &self.view.state.placed;
            let (i, slice) = self.slices.find(|(i, _)| !placed.flags_known(*i))?;
            if let Err(e) = self.open(i, *slice) {
                return Some(Err(e));
            }
        }
    }

    /// Makes `slice`, placed slice `i`, the one being read.
    fn open(&mut self, i: usize, slice: Slice) -> Result<()> {
        match slice.view(&self.view.src) {
            Ok(records) => {
                crate::walked::add(records.records().len());
                self.current = Some(Current {
                    i,
                    slice,
                    records,
                    k: 0,
                    clean: true,
                });
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
        while let Some(c) = &mut self.current {
            match c.records.records().get(c.k as usize) {
                Some(r)
                    if c.slice.seq + c.k == last + 1 && self.view.message(r).flags.is_none() =>
                {
                    last += 1;
                    c.k += 1;
                    c.clean = false;
                }
                Some(_) => break,
                None => {
                    // The run may go on in the next slice if it starts right after (and
                    // is not known to have every flag, so its first message may lack them).
                    let Some(&(i, next)) = self.slices.clone().next().as_ref() else {
                        break;
                    };
                    if next.seq != last + 1 || self.view.state.placed.flags_known(i) {
                        break;
                    }
                    self.slices.next();
                    if let Err(e) = self.open(i, *next) {
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
    /// Reads only the records of slices not known to have every flag (the index's
    /// per-slice bit, FORMAT.md 4.2), in place: nothing is allocated per record. A slice
    /// read to its end with every flag known is remembered, so the next call skips it: on
    /// a mailbox whose flags are all known, this costs O(slices) and reads no record.
    pub fn unknown_flags(&self) -> UnknownFlags<'_> {
        UnknownFlags {
            view: self,
            slices: self.state.placed.iter().enumerate(),
            current: None,
            failed: false,
        }
    }
}
