//! One pass over a cache directory: every file checked, the checkpoint checked, the journal
//! replayed with the engine and the replayed state checked. `check` reports it; `repair`
//! builds on it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use uidcache_engine::{Error as EngineError, Replay, INDEX_FILE, JOURNAL_FILE};
use uidcache_format::{IndexImage, Op};

use crate::blocks::{self, Blocks};
use crate::error::Result;
use crate::index::{self, IndexFile};
use crate::journal::{self, Frame, JournalFile};
use crate::layout::{self, Layout};
use crate::report::{Problem, Severity};
use crate::rules::{check_image, Finding, Origin};

/// Everything learned about a cache directory.
#[derive(Debug)]
pub(crate) struct Survey {
    pub(crate) layout: Layout,
    pub(crate) blocks: Blocks,
    /// `None`: no index file.
    pub(crate) index: Option<IndexFile>,
    /// The index image, if it decodes and the engine accepts it.
    pub(crate) accepted: Option<IndexImage>,
    pub(crate) journal: JournalFile,
    /// Findings on the checkpoint.
    pub(crate) findings: Vec<Finding>,
    pub(crate) problems: Vec<Problem>,
}

impl Survey {
    /// Whether the directory holds nothing of a cache.
    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_none()
            && matches!(self.journal, JournalFile::Missing)
            && self.layout.blocks.is_empty()
    }

    /// The journal, if it continues the accepted index.
    pub(crate) fn continuing_journal(&self) -> Option<&journal::Journal> {
        match (&self.journal, &self.accepted) {
            (JournalFile::Sound(j), Some(image)) if j.generation == image.generation => Some(j),
            _ => None,
        }
    }
}

/// A problem from an engine error met while loading or replaying.
pub(crate) fn engine_problem(dir: &Path, at: (&str, u64), e: &EngineError) -> Problem {
    let rel = |p: &Path| {
        p.strip_prefix(dir)
            .map_or_else(|_| p.to_path_buf(), Path::to_path_buf)
    };
    match e {
        EngineError::Corrupt { path, detail }
            if at.0 != JOURNAL_FILE || path.ends_with(JOURNAL_FILE) =>
        {
            Problem::from_format(Severity::Error, rel(path), detail)
        }
        other => Problem::new(
            Severity::Error,
            PathBuf::from(at.0),
            at.1,
            "JournalFrame",
            "ops",
            "ops that fit the state and name sound blocks",
            other,
        ),
    }
}

/// Blocks the `Learn` ops of `frames` name.
pub(crate) fn learned_blocks(frames: &[Frame]) -> impl Iterator<Item = u64> + '_ {
    frames
        .iter()
        .flat_map(|f| &f.ops)
        .filter_map(|op| match op {
            Op::Learn { block_id, .. } => Some(*block_id),
            _ => None,
        })
}

fn missing_files(s: &mut Survey) {
    let has_journal = !matches!(s.journal, JournalFile::Missing);
    if s.index.is_none() {
        let (sev, found) = if has_journal || !s.layout.blocks.is_empty() {
            (
                Severity::Error,
                "no index file beside the journal or block files",
            )
        } else {
            (
                Severity::Warning,
                "no index file: not a uidcache directory (yet)",
            )
        };
        s.problems.push(Problem::new(
            sev,
            INDEX_FILE,
            0,
            "IndexHeader",
            "file",
            "an index file",
            found,
        ));
    } else if !has_journal {
        s.problems.push(Problem::new(
            Severity::Warning,
            JOURNAL_FILE,
            0,
            "JournalHeader",
            "file",
            "a journal file",
            "none: commits after the checkpoint, if any, are lost; a writer starts a new journal",
        ));
    }
    for tmp in &s.layout.temp_files {
        s.problems.push(Problem::new(
            Severity::Warning,
            tmp,
            0,
            "TemporaryFile",
            "file",
            "no temporary file once no writer runs",
            "a leftover of an interrupted write (the next writer removes it)",
        ));
    }
}

/// The checkpoint: rules, then the engine's own verdict.
fn checkpoint(s: &mut Survey, dir: &Path) {
    let Some(image) = s.index.as_ref().and_then(|i| i.image.clone()) else {
        return;
    };
    s.findings = check_image(&image, Origin::Index, &s.blocks);
    let index_damage = s
        .findings
        .iter()
        .any(|f| f.problem.severity == Severity::Error);
    s.problems
        .extend(s.findings.iter().map(|f| f.problem.clone()));
    match Replay::from_index(dir, image.clone()) {
        Ok(_) => s.accepted = Some(image),
        Err(e) => {
            if !index_damage {
                s.problems.push(engine_problem(dir, (INDEX_FILE, 0), &e));
            }
        }
    }
}

/// Generations, then replay frame by frame; then the replayed state's rules.
fn replay(s: &mut Survey, dir: &Path) {
    let (JournalFile::Sound(j), Some(image)) = (&s.journal, &s.accepted) else {
        return;
    };
    if j.generation > image.generation {
        s.problems.push(Problem::new(
            Severity::Error,
            JOURNAL_FILE,
            16,
            "JournalHeader",
            "generation",
            format_args!("at most {} (the index's)", image.generation),
            j.generation,
        ));
        return;
    }
    if j.generation < image.generation {
        s.problems.push(Problem::new(
            Severity::Warning,
            JOURNAL_FILE,
            16,
            "JournalHeader",
            "generation",
            format_args!("{} (the index's)", image.generation),
            format_args!(
                "{}: a stale journal of an interrupted checkpoint, ignored",
                j.generation
            ),
        ));
        return;
    }
    let Ok(mut state) = Replay::from_index(dir, image.clone()) else {
        return;
    };
    let mut last = None;
    for frame in &j.frames {
        if let Err(e) = state.apply_frame(&frame.ops) {
            s.problems
                .push(engine_problem(dir, (JOURNAL_FILE, frame.offset), &e));
            break;
        }
        last = Some(frame.offset);
    }
    let Some(frame_offset) = last else {
        return;
    };
    let replayed = state.image(image.generation);
    for f in check_image(&replayed, Origin::Replayed { frame_offset }, &s.blocks) {
        if !s
            .findings
            .iter()
            .any(|c| c.problem.same_finding(&f.problem))
        {
            s.problems.push(f.problem);
        }
    }
}

/// Block files that neither the index nor the journal names.
fn orphans(s: &mut Survey) {
    let Some(image) = s.index.as_ref().and_then(|i| i.image.as_ref()) else {
        return;
    };
    let mut live: BTreeSet<u64> = image
        .placed
        .iter()
        .chain(&image.unplaced)
        .map(|e| e.block_id.get())
        .collect();
    if let Some(j) = s.continuing_journal() {
        live.extend(learned_blocks(&j.frames));
    }
    for (id, rel) in &s.layout.blocks {
        if !live.contains(id) {
            s.problems.push(Problem::new(
                Severity::Warning,
                rel,
                0,
                "BlockFile",
                "file",
                "a block that the index or the journal names",
                "an orphan block file (left by a crash; repair removes it)",
            ));
        }
    }
}

/// Surveys `dir`. Fails only when the directory itself cannot be listed.
pub(crate) fn survey(dir: &Path) -> Result<Survey> {
    let layout = layout::scan(dir)?;
    let mut problems = Vec::new();
    let blocks = blocks::load(dir, &layout, &mut problems);
    let index = if layout.has_index {
        index::load(dir, &mut problems)
    } else {
        None
    };
    let journal = if layout.has_journal {
        journal::load(dir, &mut problems)
    } else {
        JournalFile::Missing
    };
    let mut blocks = blocks;
    if let JournalFile::Sound(j) = &journal {
        // Records of small commits live in their frames (InlineBlock, FORMAT.md 5.3) until a
        // checkpoint writes them out: they are sound blocks without a file yet.
        for frame in &j.frames {
            for op in &frame.ops {
                if let uidcache_format::Op::InlineBlock { id, records } = op {
                    if !blocks.bad.contains_key(id) {
                        blocks.good.entry(*id).or_insert_with(|| records.clone());
                    }
                }
            }
        }
    }
    let mut s = Survey {
        layout,
        blocks,
        index,
        accepted: None,
        journal,
        findings: Vec::new(),
        problems,
    };
    missing_files(&mut s);
    checkpoint(&mut s, dir);
    replay(&mut s, dir);
    orphans(&mut s);
    Ok(s)
}
