//! The rules of an index image (FORMAT.md 4.3–4.8 and 6.1), checked against the block files,
//! for the checkpoint in `index` and for the state after replaying the journal alike.
//!
//! Unlike the engine, which refuses an index at its first violation, these checks report
//! every violation, each tied to the entry (or table) it condemns so that repair can drop it.

mod entries;
mod header;
mod slices;
mod tables;

use std::path::PathBuf;

use uidcache_engine::tools::{INDEX_FILE, JOURNAL_FILE};
use uidcache_format::{IndexImage, INDEX_ENTRY_SIZE, INDEX_HEADER_SIZE, RECORD_SIZE};

use crate::blocks::Blocks;
use crate::report::{Problem, Severity};

/// Which state an image describes, and so where its problems point.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    /// The checkpoint in `index`: problems point at the field's file offset.
    Index,
    /// The state after replaying the journal up to the frame at this offset: problems point
    /// at that frame.
    Replayed {
        /// File offset of the last replayed frame.
        frame_offset: u64,
    },
}

/// What a finding condemns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Placed entry `i`.
    Placed(usize),
    /// Unplaced entry `j`.
    Unplaced(usize),
    /// The flags-known bit of placed entry `i` (repair clears it, the entry stays).
    PlacedFlagsKnown(usize),
    /// The flags-known bit of unplaced entry `j`.
    UnplacedFlagsKnown(usize),
    /// Overlay record `k`.
    Overlay(usize),
    /// The atom or flag-set table.
    FlagTables,
    /// The UIDNEXT header value.
    UidNext,
    /// The HIGHESTMODSEQ header value.
    HighestModseq,
}

/// One violated rule.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    /// What it condemns.
    pub(crate) target: Target,
    /// The problem to report.
    pub(crate) problem: Problem,
}

/// Builds findings with the right file and offsets for an image of a given origin.
pub(crate) struct Locator<'a> {
    origin: Origin,
    image: &'a IndexImage,
    out: Vec<Finding>,
}

impl<'a> Locator<'a> {
    fn new(origin: Origin, image: &'a IndexImage) -> Self {
        Locator {
            origin,
            image,
            out: Vec::new(),
        }
    }

    /// File offset of placed entry `i`.
    fn placed_at(&self, i: usize) -> u64 {
        (INDEX_HEADER_SIZE + i * INDEX_ENTRY_SIZE) as u64
    }

    /// File offset of unplaced entry `j`.
    fn unplaced_at(&self, j: usize) -> u64 {
        self.placed_at(self.image.placed.len() + j)
    }

    /// File offset of overlay record `k`.
    fn overlay_at(&self, k: usize) -> u64 {
        self.unplaced_at(self.image.unplaced.len()) + (k * RECORD_SIZE) as u64
    }

    /// File offset of the atom table.
    fn atoms_at(&self) -> u64 {
        self.overlay_at(self.image.overlay.len())
    }

    /// Offset of `target` (+ `field_offset` inside it) in the index.
    fn entry_at(&self, target: Target) -> u64 {
        match target {
            Target::Placed(i) | Target::PlacedFlagsKnown(i) => self.placed_at(i),
            Target::Unplaced(j) | Target::UnplacedFlagsKnown(j) => self.unplaced_at(j),
            Target::Overlay(k) => self.overlay_at(k),
            Target::FlagTables => self.atoms_at(),
            Target::UidNext => 36,
            Target::HighestModseq => 40,
        }
    }

    /// Records a finding about `target` at `field_offset` bytes into its structure.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        severity: Severity,
        target: Target,
        field_offset: u64,
        structure: &str,
        field: &str,
        expected: impl std::fmt::Display,
        found: impl std::fmt::Display,
    ) {
        let (file, offset) = match self.origin {
            Origin::Index => (
                PathBuf::from(INDEX_FILE),
                self.entry_at(target) + field_offset,
            ),
            Origin::Replayed { frame_offset } => (PathBuf::from(JOURNAL_FILE), frame_offset),
        };
        self.push_at(
            target,
            Problem::new(severity, file, offset, structure, field, expected, found),
        );
    }

    /// Records a finding whose problem already carries its own file and offset (a record in
    /// a block file).
    fn push_at(&mut self, target: Target, problem: Problem) {
        self.out.push(Finding { target, problem });
    }
}

/// Every rule violation of `image`, read against `blocks`.
pub(crate) fn check_image(image: &IndexImage, origin: Origin, blocks: &Blocks) -> Vec<Finding> {
    let mut loc = Locator::new(origin, image);
    entries::check(&mut loc);
    tables::check(&mut loc);
    let defined: Vec<bool> = image.flagsets.iter().map(Option::is_some).collect();
    slices::check(&mut loc, blocks, &defined);
    header::check(&mut loc, blocks);
    loc.out
}
