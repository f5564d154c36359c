//! One pass over a cache directory: every file checked, the checkpoint checked, the journal
//! replayed with the engine and the replayed state checked. `check` reports it; `repair`
//! builds on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uidcache_engine::tools::{Replay, Vfs, BLOCKS_DIR, INDEX_FILE, JOURNAL_FILE};
use uidcache_engine::{Error as EngineError, ErrorKind as EngineErrorKind};
use uidcache_format::{IndexImage, Op, Record, NO_IDENTITY};

use crate::blocks::{self, Blocks};
use crate::error::Result;
use crate::index::{self, IndexFile};
use crate::journal::{self, Frame, Journal, JournalFile};
use crate::layout::{self, Layout};
use crate::read::{finding, read, Read};
use crate::report::{Problem, Severity};
use crate::rules::{check_image, Finding, Origin};

/// Everything learned about a cache directory.
#[derive(Debug)]
pub(crate) struct Survey {
    /// The cache identity the files were checked against (the index's, or recovered).
    pub(crate) identity: u64,
    /// What every file was read through.
    pub(crate) vfs: Arc<dyn Vfs>,
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
    match e.kind() {
        EngineErrorKind::Corrupt { path, detail }
            if at.0 != JOURNAL_FILE || path.ends_with(JOURNAL_FILE) =>
        {
            Problem::from_format(Severity::Damage, rel(path), detail)
        }
        _ => Problem::new(
            Severity::Damage,
            PathBuf::from(at.0),
            at.1,
            "JournalFrame",
            "ops",
            "ops that fit the state and name sound blocks",
            e,
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

/// The index or journal file missing, and leftover temporary files.
///
/// The only crash that leaves a file of the pair missing is one inside a writer's first
/// open, which publishes an empty index of generation 0 and then its journal before any
/// block file (FORMAT.md 8.1): a lock file alone, or such an index without a journal, is a
/// cache with nothing committed (a note). A missing index beside a journal or block files
/// is damage: something outside the protocol removed it, and no reader can open the rest.
fn missing_files(s: &mut Survey) {
    let has_journal = !matches!(s.journal, JournalFile::Missing);
    if s.index.is_none() {
        let (sev, found) = if has_journal || !s.layout.blocks.is_empty() {
            (
                Severity::Damage,
                format!(
                    "no index file, but {}: the cache cannot be opened (repair rebuilds what the journal proves)",
                    remains(has_journal, s.layout.blocks.len())
                ),
            )
        } else if s.layout.has_lock {
            (
                Severity::Note,
                "no index file yet: an empty cache, nothing committed (a writer stopped before its first open completed; the next writer initializes it)".to_string(),
            )
        } else {
            (
                Severity::Note,
                "no index file: not a uidcache directory (yet)".to_string(),
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
        s.problems.push(missing_journal(s));
    }
    for tmp in &s.layout.temp_files {
        s.problems.push(Problem::new(
            Severity::Note,
            tmp,
            0,
            "TemporaryFile",
            "file",
            "no temporary file once no writer runs",
            "a leftover of an interrupted write (the next writer removes it)",
        ));
    }
}

/// "the journal and 3 block files remain", for messages.
fn remains(journal: bool, blocks: usize) -> String {
    let blocks = match blocks {
        0 => None,
        1 => Some("1 block file".to_string()),
        n => Some(format!("{n} block files")),
    };
    match (journal, blocks) {
        (true, Some(b)) => format!("the journal and {b} remain"),
        (true, None) => "the journal remains".to_string(),
        (false, Some(b)) if b.starts_with("1 ") => format!("{b} remains"),
        (false, Some(b)) => format!("{b} remain"),
        (false, None) => "no other file remains".to_string(),
    }
}

/// The finding for an index without a journal (FORMAT.md 8.3, 8.7).
///
/// A journal exists from a writer's first open on (checkpoints replace it by rename), so a
/// missing one was removed outside the protocol, or the first open was interrupted between
/// publishing the index (generation 0) and the journal. From generation 1 on (format v2)
/// only the former is possible: damage, since the commits made after that checkpoint, if
/// any, are gone. At generation 0 (and in format v1, which the engine still reads as
/// before) whether the removed journal held commits can be known only when a writer left
/// block files after the checkpoint (IDs at or above the index's `next_block_id`): a writer
/// allocates those only inside a transaction, whose frame goes to the journal, so commits
/// after the checkpoint are presumed lost (damage; a writer's open would delete those
/// blocks). Otherwise nothing shows a lost commit (frames without a block file leave no
/// trace), and the index is a consistent state: a note.
fn missing_journal(s: &Survey) -> Problem {
    let image = s.index.as_ref().and_then(|i| i.image.as_ref());
    let next = image.map(|m| m.next_block_id);
    if let Some(m) = image.filter(|m| m.generation > 0 && m.cache_id != NO_IDENTITY) {
        return Problem::new(
            Severity::Damage,
            JOURNAL_FILE,
            0,
            "JournalHeader",
            "file",
            format_args!("the journal of generation {}", m.generation),
            "none: every checkpoint renames a journal into place, so it was removed; the commits made since the last checkpoint, if any, are lost",
        );
    }
    let later: Vec<u64> = next.map_or_else(Vec::new, |next| {
        s.layout.blocks.range(next..).map(|(id, _)| *id).collect()
    });
    let (sev, found) = match later.first() {
        Some(first) => (
            Severity::Damage,
            format!(
                "none, but {} block files from {first:016x} on were written after the checkpoint: the commits that named them are lost with the journal",
                later.len()
            ),
        ),
        None => (
            Severity::Note,
            "none: the index alone is the state (an interrupted first open leaves this; a writer starts a new journal)".to_string(),
        ),
    };
    Problem::new(
        sev,
        JOURNAL_FILE,
        0,
        "JournalHeader",
        "file",
        "a journal file",
        found,
    )
}

/// The checkpoint: rules, then the engine's own verdict.
fn checkpoint(s: &mut Survey, dir: &Path) -> Result<()> {
    let Some(image) = s.index.as_ref().and_then(|i| i.image.clone()) else {
        return Ok(());
    };
    s.findings = check_image(&image, Origin::Index, &s.blocks);
    let index_damage = s
        .findings
        .iter()
        .any(|f| f.problem.severity == Severity::Damage);
    s.problems
        .extend(s.findings.iter().map(|f| f.problem.clone()));
    match Replay::from_index_with(dir, image.clone(), Arc::clone(&s.vfs)) {
        Ok(_) => s.accepted = Some(image),
        Err(e) => {
            let e = finding(e)?;
            if !index_damage {
                s.problems.push(engine_problem(dir, (INDEX_FILE, 0), &e));
            }
        }
    }
    Ok(())
}

/// Generations, then replay frame by frame; then the replayed state's rules.
fn replay(s: &mut Survey, dir: &Path) -> Result<()> {
    let (JournalFile::Sound(j), Some(image)) = (&s.journal, &s.accepted) else {
        return Ok(());
    };
    if j.generation > image.generation {
        s.problems.push(Problem::new(
            Severity::Damage,
            JOURNAL_FILE,
            16,
            "JournalHeader",
            "generation",
            format_args!("at most {} (the index's)", image.generation),
            j.generation,
        ));
        return Ok(());
    }
    if j.generation.saturating_add(1) < image.generation {
        s.problems.push(Problem::new(
            Severity::Damage,
            JOURNAL_FILE,
            16,
            "JournalHeader",
            "generation",
            format_args!(
                "{} (the index's) or {} (an interrupted checkpoint's)",
                image.generation,
                image.generation - 1
            ),
            format_args!(
                "{}: an older journal (restored or copied), not one a checkpoint left; commits since the last checkpoint may be lost",
                j.generation
            ),
        ));
        return Ok(());
    }
    if j.generation < image.generation {
        s.problems.push(Problem::new(
            Severity::Note,
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
        return Ok(());
    }
    let Ok(mut state) = Replay::from_index_with(dir, image.clone(), Arc::clone(&s.vfs)) else {
        return Ok(());
    };
    let mut last = None;
    for frame in &j.frames {
        if let Err(e) = state.apply_frame(&frame.ops) {
            let e = finding(e)?;
            s.problems
                .push(engine_problem(dir, (JOURNAL_FILE, frame.offset), &e));
            break;
        }
        last = Some(frame.offset);
    }
    let Some(frame_offset) = last else {
        return Ok(());
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
    Ok(())
}

/// Block files that neither the index nor the journal names.
///
/// Such a file is a crash leftover (FORMAT.md 8.5) that the next writer's open unlinks
/// unread, so its content does not matter: a damaged orphan (the block of a non-durable
/// commit lost in a power failure) is a note too, not damage.
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
        if live.contains(id) {
            continue;
        }
        let mut damaged = false;
        for p in s.problems.iter_mut().filter(|p| p.file == *rel) {
            p.severity = Severity::Note;
            p.found
                .push_str("; in an orphan block file, which the next writer removes unread");
            damaged = true;
        }
        if !damaged {
            s.problems.push(Problem::new(
                Severity::Note,
                rel,
                0,
                "BlockFile",
                "file",
                "a block that the index or the journal names",
                "an orphan block file (left by a crash; the next writer removes it)",
            ));
        }
    }
}

/// Whether the records of block `id`, as the journal so far or the block file gives them,
/// hold `first_uid` and `last_uid` at the named records (the engine's `blocks_intact`).
fn learn_intact(op: &Op, inline: &BTreeMap<u64, &[Record]>, blocks: &Blocks) -> bool {
    let Op::Learn {
        block_id,
        first_record,
        len,
        first_uid,
        last_uid,
        ..
    } = op
    else {
        return true;
    };
    let Some(records) = inline
        .get(block_id)
        .copied()
        .or_else(|| blocks.records(*block_id))
    else {
        return false;
    };
    let at = |k: Option<usize>| k.and_then(|k| records.get(k)).map(|r| r.uid.get());
    let first = *first_record as usize;
    let last = first
        .checked_add(*len as usize)
        .and_then(|e| e.checked_sub(1));
    at(Some(first)) == Some(*first_uid) && at(last) == Some(*last_uid)
}

/// Frames after the last durable one were never fsynced: after a power failure such a frame
/// can survive while a block it names did not. The engine then drops that frame and every
/// later one like a torn tail (FORMAT.md 8.2, last paragraph), and so does fsck: a note, and
/// the frames leave `j`, so their blocks count as orphans.
fn unsynced_tail(j: &mut Journal, blocks: &Blocks, problems: &mut Vec<Problem>) {
    let durable_upto = j
        .frames
        .iter()
        .rposition(|f| f.durable)
        .map_or(0, |i| i + 1);
    let mut inline: BTreeMap<u64, &[Record]> = BTreeMap::new();
    let mut cut = None;
    for (i, frame) in j.frames.iter().enumerate() {
        for op in &frame.ops {
            if let Op::InlineBlock { id, records } = op {
                inline.insert(*id, records);
            }
        }
        if i >= durable_upto && !frame.ops.iter().all(|op| learn_intact(op, &inline, blocks)) {
            cut = Some(i);
            break;
        }
    }
    let Some(i) = cut else {
        return;
    };
    let (offset, seq, dropped) = match j.frames.get(i) {
        Some(f) => (f.offset, f.seq, j.frames.len() - i),
        None => return,
    };
    problems.push(Problem::new(
        Severity::Note,
        JOURNAL_FILE,
        offset,
        "JournalFrame",
        "tail",
        "frames whose blocks survived (frames after the last durable one were not fsynced)",
        format_args!(
            "frame {seq} names a block that is missing or does not hold its UIDs: a commit without fsync lost in a power failure; it and {} later frames are dropped like a torn tail",
            dropped - 1
        ),
    ));
    j.frames.truncate(i);
}

/// The identity of a cache whose index is lost or unreadable, from its journal's first frame
/// or, failing that, from a block file (FORMAT.md 8.7); `NO_IDENTITY` (format v1) when no
/// v2 file yields one. Files are read through `vfs`; a read that fails is an I/O error (it
/// proves nothing), a missing file or one that is not a regular file yields nothing.
fn recovered_identity(vfs: &dyn Vfs, dir: &Path, layout: &Layout) -> Result<u64> {
    let bytes_of = |rel: &Path| -> Result<Option<Vec<u8>>> {
        Ok(match read(vfs, dir, rel)? {
            Read::Bytes(bytes) => Some(bytes),
            Read::Missing | Read::NotAFile(_) => None,
        })
    };
    if let Some(id) = bytes_of(Path::new(JOURNAL_FILE))?
        .as_deref()
        .and_then(uidcache_format::journal_identity)
    {
        return Ok(id);
    }
    for (id, rel) in &layout.blocks {
        if let Some(found) = bytes_of(rel)?
            .as_deref()
            .and_then(|bytes| uidcache_format::block_identity(bytes, *id))
        {
            return Ok(found);
        }
    }
    Ok(NO_IDENTITY)
}

/// Surveys `dir`, reading every file through `vfs`. Fails when a directory cannot be
/// listed or a file cannot be read: a failed read is an I/O error, never damage.
pub(crate) fn survey(dir: &Path, vfs: Arc<dyn Vfs>) -> Result<Survey> {
    let layout = layout::scan(vfs.as_ref(), dir)?;
    let mut problems = Vec::new();
    if let Some(found) = layout.blocks_not_dir {
        problems.push(Problem::new(
            Severity::Damage,
            BLOCKS_DIR,
            0,
            "Directory",
            "type",
            "the directory of the block files",
            format_args!(
                "a {}: not read (a link may lead into another cache)",
                found.kind
            ),
        ));
    }
    let index = if layout.has_index {
        index::load(vfs.as_ref(), dir, &mut problems)?
    } else {
        None
    };
    // Blocks and journal must carry the index's identity (FORMAT.md 1.5). Without a
    // readable index header it is recovered from the files that bind it (8.7).
    let from_index = index.as_ref().and_then(|i| {
        i.image
            .as_ref()
            .map(|m| (m.cache_id, m.generation))
            .or(i.header.map(|h| (h.cache_id, h.generation)))
    });
    let identity = match from_index {
        Some(identity) => identity,
        None => (recovered_identity(vfs.as_ref(), dir, &layout)?, 0),
    };
    let blocks = blocks::load(vfs.as_ref(), dir, &layout, identity.0, &mut problems)?;
    let journal = if layout.has_journal {
        journal::load(vfs.as_ref(), dir, identity, &mut problems)?
    } else {
        JournalFile::Missing
    };
    let mut blocks = blocks;
    let mut journal = journal;
    if let JournalFile::Sound(j) = &mut journal {
        unsynced_tail(j, &blocks, &mut problems);
    }
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
        identity: identity.0,
        vfs,
        layout,
        blocks,
        index,
        accepted: None,
        journal,
        findings: Vec::new(),
        problems,
    };
    missing_files(&mut s);
    checkpoint(&mut s, dir)?;
    replay(&mut s, dir)?;
    orphans(&mut s);
    Ok(s)
}
